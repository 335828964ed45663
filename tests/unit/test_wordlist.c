/* test_wordlist.c - whole-word phrase matching, prefixes, validation, and
 * agreement with a brute-force search on large lists. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "text.h"
#include "wordlist.h"

/* Normalise 'text' as the service does, then search it. Returns the match
 * in a static buffer, or NULL when nothing matches. */
static const char *find(const wordlist *wl, const char *text)
{
    static char match[256];
    size_t len;
    char *norm = text_normalize(text, strlen(text), &len);
    int hit = wordlist_find(wl, norm, len, match, sizeof match);

    free(norm);
    return hit ? match : NULL;
}

#define FINDS(wl, text, want) CHECK_EQ_STR(find((wl), (text)), (want))
#define MISSES(wl, text) CHECK(find((wl), (text)) == NULL)

static wordlist *list_of(const char *const *phrases, size_t n)
{
    wordlist *wl = wordlist_new();
    char err[128];
    size_t i;

    for (i = 0; i < n; i++)
        if (wordlist_add(wl, phrases[i], err, sizeof err) != 0)
            fprintf(stderr, "  add \"%s\": %s\n", phrases[i], err);
    return wl;
}

TEST(test_whole_words_only)
{
    static const char *const p[] = {"ass", "casino"};
    wordlist *wl = list_of(p, 2);

    MISSES(wl, "a first-class pass, classic assassin");
    FINDS(wl, "you ass!", "ass");
    FINDS(wl, "ASS", "ass");
    FINDS(wl, "(ass)", "ass");
    MISSES(wl, "casinos and online-casinoes");
    FINDS(wl, "best online-casino here", "casino");
    MISSES(wl, "");
    wordlist_free(wl);
}

TEST(test_disguised_words)
{
    static const char *const p[] = {"casino"};
    wordlist *wl = list_of(p, 1);

    FINDS(wl, "\xEF\xBC\xA3\xEF\xBC\xA1\xEF\xBC\xB3\xEF\xBC\xA9\xEF\xBC\xAE\xEF\xBC\xAF", "casino");
    FINDS(wl, "play at our ca\xE2\x80\x8Bsino", "casino");
    FINDS(wl, "CAS\xC3\x8DNO royale", "casino");
    wordlist_free(wl);

    /* The phrase is normalised too: a full-width entry matches plain text. */
    {
        static const char *const q[] = {"\xEF\xBC\xA3\xEF\xBC\xA1\xEF\xBC\xB3\xEF\xBC\xA9\xEF\xBC\xAE\xEF\xBC\xAF"};
        wl = list_of(q, 1);
        FINDS(wl, "casino", "casino");
        wordlist_free(wl);
    }
}

TEST(test_phrases)
{
    static const char *const p[] = {"buy followers", "Don't miss", "cheap pills online"};
    wordlist *wl = list_of(p, 3);

    FINDS(wl, "BUY   followers!!", "buy followers");
    FINDS(wl, "want to buy-followers?", "buy followers");
    MISSES(wl, "buy more followers");
    MISSES(wl, "buy");
    MISSES(wl, "followers");
    FINDS(wl, "don\xE2\x80\x99t MISS this", "don t miss");
    FINDS(wl, "buy cheap pills, cheap pills online!", "cheap pills online");
    MISSES(wl, "cheap pills offline");
    FINDS(wl, "the end: buy followers", "buy followers");
    wordlist_free(wl);
}

TEST(test_prefix_wildcard)
{
    static const char *const p[] = {"viagr*", "cheap cialis*"};
    wordlist *wl = list_of(p, 2);

    FINDS(wl, "get VIAGRA here", "viagr*");
    FINDS(wl, "viagr", "viagr*");
    FINDS(wl, "viagrasales", "viagr*");
    MISSES(wl, "aviagra");
    MISSES(wl, "via gra");
    MISSES(wl, "viag");
    FINDS(wl, "cheap cialisonline", "cheap cialis*");
    FINDS(wl, "so cheap cialis", "cheap cialis*");
    MISSES(wl, "cheap and cialis");
    MISSES(wl, "cialis");
    wordlist_free(wl);
}

TEST(test_earliest_then_longest)
{
    static const char *const p[] = {"casino", "buy followers", "buy", "followers now"};
    wordlist *wl = list_of(p, 4);

    /* Earliest in text order wins, whatever the list order. */
    FINDS(wl, "visit the casino to buy followers", "casino");
    /* At the same start the longest phrase wins. */
    FINDS(wl, "buy followers now at the casino", "buy followers");
    FINDS(wl, "just buy stuff", "buy");
    wordlist_free(wl);

    {
        static const char *const q[] = {"viagra*", "viagra", "viag*"};
        wl = list_of(q, 3);
        /* Same length: the exact phrase is preferred over the prefix one. */
        FINDS(wl, "viagra", "viagra");
        /* A longer word: only prefixes match; the longer prefix wins. */
        FINDS(wl, "viagras", "viagra*");
        FINDS(wl, "viagxx", "viag*");
        wordlist_free(wl);
    }
}

TEST(test_validation)
{
    wordlist *wl = wordlist_new();
    char err[128], long_phrase[260];

    err[0] = '\0';
    CHECK_EQ_INT(wordlist_add(wl, "\xC3\x28", err, sizeof err), -1);
    CHECK(err[0] != '\0');
    err[0] = '\0';
    CHECK_EQ_INT(wordlist_add(wl, "", err, sizeof err), -1);
    CHECK(strstr(err, "empty") != NULL);
    CHECK_EQ_INT(wordlist_add(wl, "!!! ...", err, sizeof err), -1);
    CHECK_EQ_INT(wordlist_add(wl, "\xE2\x80\x8B", err, sizeof err), -1); /* only a ZWSP */
    CHECK_EQ_INT(wordlist_add(wl, "one two three four five six seven eight nine", err, sizeof err), -1);
    CHECK(strstr(err, "8 words") != NULL);
    CHECK_EQ_INT(wordlist_add(wl, "one two three four five six seven eight", err, sizeof err), 0);
    memset(long_phrase, 'a', 201);
    long_phrase[201] = '\0';
    CHECK_EQ_INT(wordlist_add(wl, long_phrase, err, sizeof err), -1);
    CHECK(strstr(err, "200 bytes") != NULL);
    long_phrase[200] = '\0';
    CHECK_EQ_INT(wordlist_add(wl, long_phrase, err, sizeof err), 0);
    CHECK_EQ_INT(wordlist_add(wl, "vi*gra", err, sizeof err), -1);
    CHECK(strstr(err, "'*'") != NULL);
    CHECK_EQ_INT(wordlist_add(wl, "*gra", err, sizeof err), -1);
    CHECK_EQ_INT(wordlist_add(wl, "viagr**", err, sizeof err), -1);
    CHECK_EQ_INT(wordlist_add(wl, "*", err, sizeof err), -1);
    CHECK_EQ_INT(wordlist_add(wl, "viagr *", err, sizeof err), -1);
    CHECK_EQ_INT(wordlist_add(wl, NULL, err, sizeof err), -1);
    /* err may be NULL. */
    CHECK_EQ_INT(wordlist_add(wl, "", NULL, 0), -1);
    CHECK_EQ_INT(wordlist_size(wl), 2);
    /* Trailing whitespace is forgiven, including after '*'. */
    CHECK_EQ_INT(wordlist_add(wl, "viagr*  ", err, sizeof err), 0);
    CHECK_EQ_INT(wordlist_size(wl), 3);
    FINDS(wl, "viagra", "viagr*");
    wordlist_free(wl);
}

TEST(test_dedupe)
{
    wordlist *wl = wordlist_new();
    char err[128];

    CHECK_EQ_INT(wordlist_add(wl, "casino", err, sizeof err), 0);
    CHECK_EQ_INT(wordlist_add(wl, "CASINO", err, sizeof err), 0);
    CHECK_EQ_INT(wordlist_add(wl, " casino! ", err, sizeof err), 0);
    CHECK_EQ_INT(wordlist_size(wl), 1);
    CHECK_EQ_INT(wordlist_add(wl, "casino*", err, sizeof err), 0);
    CHECK_EQ_INT(wordlist_size(wl), 2);
    CHECK_EQ_INT(wordlist_add(wl, "Casino*", err, sizeof err), 0);
    CHECK_EQ_INT(wordlist_size(wl), 2);
    CHECK_EQ_INT(wordlist_add(wl, "casino royale", err, sizeof err), 0);
    CHECK_EQ_INT(wordlist_size(wl), 3);
    wordlist_free(wl);
}

TEST(test_empty_and_null)
{
    wordlist *wl = wordlist_new();
    char m[8] = "x";

    CHECK_EQ_INT(wordlist_size(wl), 0);
    CHECK_EQ_INT(wordlist_find(wl, "casino", 6, m, sizeof m), 0);
    CHECK_EQ_INT(wordlist_find(NULL, "casino", 6, m, sizeof m), 0);
    CHECK_EQ_INT(wordlist_size(NULL), 0);
    wordlist_free(wl);
    wordlist_free(NULL);
}

TEST(test_match_truncation)
{
    static const char *const p[] = {"\xD0\xBA\xD0\xB0\xD0\xB7\xD0\xB8\xD0\xBD\xD0\xBE"}; /* казино */
    wordlist *wl = list_of(p, 1);
    char m[6];
    size_t len;
    char *norm = text_normalize("\xD0\x9A\xD0\x90\xD0\x97\xD0\x98\xD0\x9D\xD0\x9E", 12, &len);

    /* Room for 5 bytes: two 2-byte letters fit, the third would be cut. */
    CHECK_EQ_INT(wordlist_find(wl, norm, len, m, sizeof m), 1);
    CHECK_EQ_STR(m, "\xD0\xBA\xD0\xB0");
    /* A NULL buffer just reports the hit. */
    CHECK_EQ_INT(wordlist_find(wl, norm, len, NULL, 0), 1);
    free(norm);
    wordlist_free(wl);
}

static uint64_t rng_state = 7;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* A small vocabulary, already normalised, so random texts hit random
 * phrases often. */
static const char *const vocab[] = {
    "buy", "cheap", "pills", "casino", "online", "free", "money", "win", "now",
    "click", "here", "best", "price", "viagra", "loan", "fast", "the", "a", "of",
    "\xD0\xBA\xD0\xB0\xD0\xB7\xD0\xB8\xD0\xBD\xD0\xBE", "cafe", "win2", "ab", "\xE6\x97\xA5\xE6\x9C\xAC",
};
#define NVOCAB (sizeof vocab / sizeof vocab[0])

struct ref_phrase {
    char text[256];
    int prefix;
};

/* Brute force: at each word start, try every phrase word by word. */
static int ref_find(const struct ref_phrase *ph, size_t np, const char *norm, char *out)
{
    size_t len = strlen(norm), st = 0;

    while (st <= len && len > 0) {
        size_t best_len = 0, i;
        int best = -1, best_exact = 0;
        for (i = 0; i < np; i++) {
            const char *t = ph[i].text;
            size_t tl = strlen(t) - (size_t)ph[i].prefix, mlen;
            if (st + tl > len || memcmp(norm + st, t, tl) != 0)
                continue;
            if (ph[i].prefix) {
                /* Extend over the rest of the word. */
                mlen = tl;
                if (tl > 0 && norm[st + tl - 1] == ' ')
                    continue;
            } else {
                if (st + tl < len && norm[st + tl] != ' ')
                    continue;
                mlen = tl;
            }
            if (best < 0 || mlen > best_len || (mlen == best_len && !ph[i].prefix && !best_exact)) {
                best = (int)i;
                best_len = mlen;
                best_exact = !ph[i].prefix;
            }
        }
        if (best >= 0) {
            memcpy(out, ph[best].text, strlen(ph[best].text) + 1);
            return 1;
        }
        while (st < len && norm[st] != ' ')
            st++;
        st++;
    }
    return 0;
}

/* Thousands of random phrases (some with '*') against random texts: the
 * hash walk must find exactly what brute force finds. */
TEST(test_large_list_matches_brute_force)
{
    enum { NPHRASES = 3000, NTEXTS = 3000 };
    struct ref_phrase *ph = calloc(NPHRASES, sizeof *ph);
    wordlist *wl = wordlist_new();
    size_t np = 0, i;
    char err[128];
    int t, mismatches = 0, hits = 0;

    for (i = 0; i < NPHRASES; i++) {
        char buf[256];
        size_t bl = 0, k, nw = 1 + rng() % 4;
        int prefix = rng() % 5 == 0, dup = 0;
        for (k = 0; k < nw; k++) {
            const char *w = vocab[rng() % NVOCAB];
            if (k)
                buf[bl++] = ' ';
            memcpy(buf + bl, w, strlen(w));
            bl += strlen(w);
        }
        /* Prefix phrases: drop the last byte or two of a word sometimes. */
        if (prefix && bl > 2 && buf[bl - 2] != ' ' && (unsigned char)buf[bl - 1] < 0x80 &&
            rng() % 2)
            bl--;
        if (prefix)
            buf[bl++] = '*';
        buf[bl] = '\0';
        CHECK_EQ_INT(wordlist_add(wl, buf, err, sizeof err), 0);
        for (k = 0; k < np; k++)
            if (strcmp(ph[k].text, buf) == 0)
                dup = 1;
        if (!dup) {
            memcpy(ph[np].text, buf, bl + 1);
            ph[np].prefix = prefix;
            np++;
        }
    }
    CHECK_EQ_INT(wordlist_size(wl), np);

    for (t = 0; t < NTEXTS; t++) {
        char text[512], got[256], want[256];
        size_t tl = 0, k, nw = rng() % 12;
        int g, w;
        for (k = 0; k < nw; k++) {
            const char *word = vocab[rng() % NVOCAB];
            if (k)
                text[tl++] = ' ';
            memcpy(text + tl, word, strlen(word));
            tl += strlen(word);
            if (rng() % 4 == 0)
                text[tl++] = (char)('a' + rng() % 3); /* make some words longer */
        }
        text[tl] = '\0';
        g = wordlist_find(wl, text, tl, got, sizeof got);
        w = ref_find(ph, np, text, want);
        hits += w;
        if (g != w || (g && strcmp(got, want) != 0)) {
            if (mismatches++ < 3)
                fprintf(stderr, "  text \"%s\": got %s want %s\n", text, g ? got : "-", w ? want : "-");
        }
    }
    CHECK_EQ_INT(mismatches, 0);
    CHECK(hits > NTEXTS / 4); /* the test really exercised matches */
    free(ph);
    wordlist_free(wl);
}

int main(void)
{
    RUN(test_whole_words_only);
    RUN(test_disguised_words);
    RUN(test_phrases);
    RUN(test_prefix_wildcard);
    RUN(test_earliest_then_longest);
    RUN(test_validation);
    RUN(test_dedupe);
    RUN(test_empty_and_null);
    RUN(test_match_truncation);
    RUN(test_large_list_matches_brute_force);
    return TEST_REPORT();
}
