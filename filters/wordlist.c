/* wordlist.c - whole-word phrase lists over normalised text.
 *
 * A site may list thousands of phrases, and every comment is checked
 * against two lists, so the search must not try each phrase in turn. All
 * phrases live in one hash table keyed by their normalised bytes. At each
 * word start of the text we extend the key one word at a time, hashing
 * incrementally, and look it up at each word end (exact phrases) and at
 * the byte lengths where some prefix phrase ends (prefix phrases). The
 * table also holds every leading part of a multi-word phrase ("buy" for
 * "buy followers"), so the walk stops as soon as no phrase can continue:
 * for most word starts it costs one word's bytes and one lookup. */
#include "wordlist.h"

#include "xalloc.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* Limits from the header: a phrase is at most 8 words and 200 bytes. */
#define WL_MAX_WORDS 8
#define WL_MAX_BYTES 200

/* What a key is, as bit flags: a key can be several at once ("buy" may be
 * a phrase of its own and the start of "buy followers"). */
#define K_EXACT 1u  /* a whole phrase without '*' */
#define K_PREFIX 2u /* a phrase with '*', without the '*' */
#define K_STEM 4u   /* the first words (plus the space) of a longer phrase */

/* 64-bit FNV-1a: simple, byte-at-a-time so it can be extended as the walk
 * moves along the text, and good enough for keys chosen by site admins. */
#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

/* Start with 64 slots and keep the table at most half full, so linear
 * probing stays short. */
#define TABLE_MIN 64

struct entry {
    uint64_t hash;
    const char *key; /* points into a phrase's text; not owned */
    size_t len;
    unsigned kinds;
    int exact;  /* index into phrases[] when kinds has K_EXACT */
    int prefix; /* index into phrases[] when kinds has K_PREFIX */
};

struct phrase {
    char *text; /* normalised, with the '*' for prefix phrases */
    size_t len; /* of text, including any '*' */
};

struct wordlist {
    struct phrase *phrases;
    size_t nphrases, cap_phrases;
    struct entry *entries;
    size_t nentries, cap_entries;
    uint32_t *slots; /* entry index + 1, 0 = empty */
    size_t nslots;   /* power of two */
    size_t max_key;  /* longest key: the walk never needs to go further */
    /* prefix_at[k][L]: some prefix phrase has k words and its last word is
     * L bytes, so a lookup is due L bytes into the k-th word. */
    unsigned char prefix_at[WL_MAX_WORDS + 1][WL_MAX_BYTES + 1];
    unsigned prefix_words; /* bit k: some prefix phrase has k words */
};

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
    return h;
}

wordlist *wordlist_new(void)
{
    wordlist *wl = xrealloc(NULL, sizeof *wl);

    memset(wl, 0, sizeof *wl);
    wl->nslots = TABLE_MIN;
    wl->slots = xrealloc(NULL, wl->nslots * sizeof *wl->slots);
    memset(wl->slots, 0, wl->nslots * sizeof *wl->slots);
    return wl;
}

void wordlist_free(wordlist *wl)
{
    size_t i;

    if (!wl)
        return;
    for (i = 0; i < wl->nphrases; i++)
        free(wl->phrases[i].text);
    free(wl->phrases);
    free(wl->entries);
    free(wl->slots);
    free(wl);
}

size_t wordlist_size(const wordlist *wl)
{
    return wl ? wl->nphrases : 0;
}

static struct entry *lookup(const wordlist *wl, uint64_t h, const char *key, size_t len)
{
    size_t mask = wl->nslots - 1;
    size_t i = (size_t)h & mask;

    while (wl->slots[i]) {
        struct entry *e = &wl->entries[wl->slots[i] - 1];
        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
            return e;
        i = (i + 1) & mask;
    }
    return NULL;
}

/* Double the slot array and re-insert every entry. */
static void grow_table(wordlist *wl)
{
    size_t n = wl->nslots * 2, i;
    uint32_t *slots = xrealloc(NULL, n * sizeof *slots);

    memset(slots, 0, n * sizeof *slots);
    for (i = 0; i < wl->nentries; i++) {
        size_t j = (size_t)wl->entries[i].hash & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = (uint32_t)(i + 1);
    }
    free(wl->slots);
    wl->slots = slots;
    wl->nslots = n;
}

/* Find or create the entry for key[0..len) and return it. */
static struct entry *intern(wordlist *wl, const char *key, size_t len)
{
    uint64_t h = fnv(FNV_OFFSET, key, len);
    struct entry *e = lookup(wl, h, key, len);
    size_t j;

    if (e)
        return e;
    if ((wl->nentries + 1) * 2 > wl->nslots)
        grow_table(wl);
    if (wl->nentries == wl->cap_entries) {
        wl->cap_entries = wl->cap_entries ? wl->cap_entries * 2 : TABLE_MIN;
        wl->entries = xrealloc(wl->entries, wl->cap_entries * sizeof *wl->entries);
    }
    e = &wl->entries[wl->nentries++];
    e->hash = h;
    e->key = key;
    e->len = len;
    e->kinds = 0;
    e->exact = -1;
    e->prefix = -1;
    j = (size_t)h & (wl->nslots - 1);
    while (wl->slots[j])
        j = (j + 1) & (wl->nslots - 1);
    wl->slots[j] = (uint32_t)wl->nentries;
    if (len > wl->max_key)
        wl->max_key = len;
    return e;
}

static int fail(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
    return -1;
}

/* Validate and normalise a phrase, then enter it and its leading parts in
 * the table. Entries point into the phrase's own text, which never moves
 * (phrases[] holds pointers to it), so the table stays valid as it grows. */
int wordlist_add(wordlist *wl, const char *phrase, char *err, size_t errlen)
{
    size_t n, nlen, words, i, last;
    int prefix = 0;
    char *norm;
    struct entry *e;
    struct phrase *ph;

    if (!phrase)
        return fail(err, errlen, "phrase is missing");
    n = strlen(phrase);
    if (n > WL_MAX_BYTES)
        return fail(err, errlen, "phrase is longer than 200 bytes");
    if (!text_utf8_valid(phrase, n))
        return fail(err, errlen, "phrase is not valid UTF-8");
    /* Trailing whitespace would otherwise hide a final '*'. */
    while (n > 0 && (phrase[n - 1] == ' ' || phrase[n - 1] == '\t' ||
                     phrase[n - 1] == '\n' || phrase[n - 1] == '\r'))
        n--;
    if (n > 0 && phrase[n - 1] == '*') {
        unsigned char before;
        prefix = 1;
        n--;
        /* "foo *" or "foo-*" would silently mean "foo*"; make the admin
         * say what they mean. */
        before = n > 0 ? (unsigned char)phrase[n - 1] : ' ';
        if (before < 0x80 && !((before >= 'a' && before <= 'z') ||
                               (before >= 'A' && before <= 'Z') ||
                               (before >= '0' && before <= '9')))
            return fail(err, errlen, "'*' must directly follow a word");
    }
    if (memchr(phrase, '*', n))
        return fail(err, errlen, "'*' is only allowed at the end of a phrase");

    norm = text_normalize(phrase, n, &nlen);
    if (nlen == 0) {
        free(norm);
        return fail(err, errlen, "phrase is empty after normalisation");
    }
    words = text_word_count(norm, nlen);
    if (words > WL_MAX_WORDS) {
        free(norm);
        return fail(err, errlen, "phrase is longer than 8 words");
    }
    if (nlen > WL_MAX_BYTES) {
        free(norm);
        return fail(err, errlen, "phrase is longer than 200 bytes");
    }

    /* Already listed: adding it again changes nothing. */
    e = lookup(wl, fnv(FNV_OFFSET, norm, nlen), norm, nlen);
    if (e && (prefix ? e->prefix : e->exact) >= 0) {
        free(norm);
        return 0;
    }

    if (prefix) {
        norm = xrealloc(norm, nlen + 2);
        norm[nlen] = '*';
        norm[nlen + 1] = '\0';
    }
    if (wl->nphrases == wl->cap_phrases) {
        wl->cap_phrases = wl->cap_phrases ? wl->cap_phrases * 2 : TABLE_MIN;
        wl->phrases = xrealloc(wl->phrases, wl->cap_phrases * sizeof *wl->phrases);
    }
    ph = &wl->phrases[wl->nphrases];
    ph->text = norm;
    ph->len = nlen + (size_t)prefix;

    /* Leading parts: the text up to each space, for the walk to continue. */
    last = 0;
    for (i = 0; i < nlen; i++) {
        if (norm[i] == ' ') {
            intern(wl, norm, i)->kinds |= K_STEM;
            last = i + 1;
        }
    }
    e = intern(wl, norm, nlen);
    if (prefix) {
        e->kinds |= K_PREFIX;
        e->prefix = (int)wl->nphrases;
        wl->prefix_at[words][nlen - last] = 1;
        wl->prefix_words |= 1u << words;
    } else {
        e->kinds |= K_EXACT;
        e->exact = (int)wl->nphrases;
    }
    wl->nphrases++;
    return 0;
}

/* Keep the better of two candidate matches at one word start: the longer
 * one, and on equal length the exact phrase over the prefix one. */
static void consider(const struct phrase **best, size_t *best_len, int *best_exact,
                     const struct phrase *p, size_t len, int exact)
{
    if (!*best || len > *best_len || (len == *best_len && exact && !*best_exact)) {
        *best = p;
        *best_len = len;
        *best_exact = exact;
    }
}

/* Try every phrase that starts at norm[st]; return the best or NULL. */
static const struct phrase *match_at(const wordlist *wl, const char *norm,
                                     size_t len, size_t st)
{
    const struct phrase *best = NULL;
    size_t best_len = 0;
    int best_exact = 0;
    uint64_t h = FNV_OFFSET;
    size_t p = st;
    unsigned k;

    for (k = 1; k <= WL_MAX_WORDS; k++) {
        size_t e = p;
        int want_prefix = (wl->prefix_words >> k) & 1u;
        const struct entry *ent;

        while (e < len && norm[e] != ' ') {
            h = (h ^ (unsigned char)norm[e]) * FNV_PRIME;
            e++;
            if (e - st > wl->max_key)
                return best;
            if (want_prefix && e - p <= WL_MAX_BYTES && wl->prefix_at[k][e - p]) {
                ent = lookup(wl, h, norm + st, e - st);
                if (ent && (ent->kinds & K_PREFIX))
                    consider(&best, &best_len, &best_exact,
                             &wl->phrases[ent->prefix], e - st, 0);
            }
        }
        ent = lookup(wl, h, norm + st, e - st);
        if (!ent)
            break;
        if (ent->kinds & K_EXACT)
            consider(&best, &best_len, &best_exact, &wl->phrases[ent->exact], e - st, 1);
        if (!(ent->kinds & K_STEM) || e >= len)
            break;
        h = (h ^ (unsigned char)' ') * FNV_PRIME;
        p = e + 1;
    }
    return best;
}

/* Copy a phrase into match[matchlen], cutting a long one before a
 * character rather than in the middle of one. */
static void copy_match(char *match, size_t matchlen, const struct phrase *p)
{
    size_t n = p->len;

    if (n > matchlen - 1) {
        n = matchlen - 1;
        while (n > 0 && ((unsigned char)p->text[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(match, p->text, n);
    match[n] = '\0';
}

int wordlist_find(const wordlist *wl, const char *norm, size_t len,
                  char *match, size_t matchlen)
{
    size_t st = 0;

    if (!wl || wl->nphrases == 0 || !norm)
        return 0;
    while (st < len) {
        const struct phrase *p = match_at(wl, norm, len, st);
        const char *sp;

        if (p) {
            if (match && matchlen)
                copy_match(match, matchlen, p);
            return 1;
        }
        sp = memchr(norm + st, ' ', len - st);
        if (!sp)
            break;
        st = (size_t)(sp - norm) + 1;
    }
    return 0;
}
