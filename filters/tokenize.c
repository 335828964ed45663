/* tokenize.c - comment text into Bayes tokens (see tokenize.h for the set).
 *
 * The passes, each bounded by the input cap:
 *   1. cut the body at TOK_MAX_INPUT bytes (on a character boundary) and
 *      replace invalid UTF-8 by spaces (the fact itself is a token);
 *   2. find links with links.c, the same rules the link heuristic uses,
 *      and turn each into host, registered-domain and path tokens;
 *   3. build the plain text: HTML tags dropped (their names are tokens),
 *      entities decoded, e-mail addresses taken out as tokens; symbols,
 *      emoji, phone shapes and capitals noted on the way (links stay in
 *      it: their text is words too);
 *   4. normalise that text (text.c) and emit words, word pairs and the
 *      character n-grams of the whole text.
 * Tokens are deduplicated per comment (the model counts comments, not
 * occurrences) in a small hash set, and hashed with FNV-1a and a 64-bit
 * finaliser, so that equal texts give equal hashes on every machine. */
#include "tokenize.h"

#include "xalloc.h"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "links.h"
#include "text.h"

/* The dedup set: open addressing over token hashes, at most half full. */
#define SET_SLOTS 1024

/* Words longer than this (bytes, normalised) are not words people write
 * but run-together junk or base64; they become "m:longword" (their
 * characters still give n-grams). */
#define WORD_MAX 40

/* Character n-grams of the whole normalised text, across the spaces
 * between words ("e_fr" in "free free"): 2 to 5 characters. They carry
 * what transfers between kinds of text (spellings, digits, fragments of
 * links) where whole words do not. Chosen by cross-validation on the
 * training halves of the seed-1337 split (docs/benchmarks.md, "Bernoulli
 * scoring and whole-text n-grams"): 2-5 against 2-4, 3-4, 3-5, per-word
 * 3-grams and none, with the classifier of bayes.c; 2-5 was best or
 * within noise of the best on every measure (5-fold AUC sms / youtube
 * 0.9959 / 0.9941, youtube -> sms 0.941, the youtube stream from an sms
 * starter 0.987), while per-word n-grams added nothing beside them. */
#define NGRAM_MIN 2
#define NGRAM_MAX 4

/* N-grams come from at most this many bytes of the normalised text: the
 * token budget (TOK_MAX) is spent long before, and it bounds the copy. */
#define NGRAM_TEXT_MAX 2048

/* Links turned into tokens; more still count in "m:links". */
#define MAX_LINKS 16

/* Path words taken per link: "youtube.com/watch?v=x" gives "watch" and
 * "v"; a tracking URL's twentieth segment says nothing new. */
#define PATH_WORDS 6

struct span {
    size_t start, end;
    char host[LINKS_HOST_MAX];
};

/* Longest token text: a bigram of two WORD_MAX words, a host with its
 * prefix; longer ones are cut. */
#define TOKEN_TEXT_MAX 255

/* Payload arena: room for TOK_MAX payloads of TOKEN_TEXT_MAX bytes,
 * copied, and as much again for the words whose n-grams are hashed where
 * they lie (see ngrams); + 8 so that a padded hash may read past the end. */
#define TEXT_CAP (2 * (size_t)TOK_MAX * TOKEN_TEXT_MAX + 8)

struct tok_list {
    size_t n;
    uint64_t h[TOK_MAX];
    const char *pre[TOK_MAX];     /* the token's prefix (a string literal) */
    uint8_t plen[TOK_MAX];
    uint32_t off[TOK_MAX];        /* its payload: text[off..off+len) */
    uint16_t len[TOK_MAX];
    uint32_t set[SET_SLOTS];      /* index + 1 into h[] in the low 16 bits (0 =
                                     empty), the hash's top 16 in the high ones:
                                     most probes are settled without reading h[] */
    char *text;                   /* payloads, back to back (TEXT_CAP bytes) */
    size_t text_len;
    size_t goff, glen;            /* ngram_text's copy: text[goff..goff+glen) */
    size_t lead;                  /* tokens before the first n-gram (tok_lead) */
    char *buf;                    /* the body, cut and made valid UTF-8 */
    char *plain;                  /* plain text for words */
    size_t buf_cap;
    struct span spans[MAX_LINKS];
    int nspans;
};

tok_list *tok_list_new(void)
{
    tok_list *tl = xrealloc(NULL, sizeof *tl);
    memset(tl, 0, sizeof *tl);
    tl->text = xrealloc(NULL, TEXT_CAP);
    return tl;
}

void tok_list_free(tok_list *tl)
{
    if (!tl)
        return;
    free(tl->text);
    free(tl->buf);
    free(tl->plain);
    free(tl);
}

size_t tok_count(const tok_list *tl)
{
    return tl->n;
}

size_t tok_lead(const tok_list *tl)
{
    return tl->lead;
}

const uint64_t *tok_hashes(const tok_list *tl)
{
    return tl->h;
}

size_t tok_text(const tok_list *tl, size_t i, char *buf, size_t buflen)
{
    size_t pl = tl->plen[i], n = tl->len[i];
    if (buflen) {
        size_t a = pl < buflen - 1 ? pl : buflen - 1;
        memcpy(buf, tl->pre[i], a);
        size_t b = n < buflen - 1 - a ? n : buflen - 1 - a;
        memcpy(buf + a, tl->text + tl->off[i], b);
        buf[a + b] = 0;
    }
    return pl + n;
}

/* Eight bytes at a time, read little-endian (so that a model means the
 * same on every machine), each word mixed in with a multiply, then the
 * 64-bit finaliser of MurmurHash3 so that the low bits (which index hash
 * tables) depend on every byte. Not cryptographic: a token's hash only
 * has to spread well; nobody gains from two tokens sharing one. */
static uint64_t le64(const unsigned char *p, size_t n)
{
    uint64_t w = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n == 8) {
        memcpy(&w, p, 8); /* the same value, one load */
        return w;
    }
#endif
    for (size_t i = 0; i < n; i++) /* a tail: no call to memcpy for it */
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

/* The hash of s[0..n) from 'seed', where 'padded' says whether 8 bytes
 * may be read at s + (n & ~7) whatever n is: then the last partial word
 * is one load, masked, instead of a copy. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE uint64_t hash_words(uint64_t seed, const unsigned char *s, size_t n, int padded)
{
    uint64_t h = seed ^ (n * UINT64_C(0xff51afd7ed558ccd));
    while (n >= 8) {
        h = (h ^ le64(s, 8)) * UINT64_C(0xc4ceb9fe1a85ec53);
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t tail;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (padded)
        tail = n ? le64(s, 8) & (~UINT64_C(0) >> (64 - 8 * n)) : 0;
    else
#endif
        tail = le64(s, n);
    (void)padded;
    h = (h ^ tail) * UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

/* A token's hash is its payload's hash seeded with its prefix's ("c:",
 * "u:host:", "" for words), so that the tokenizer hashes the payload
 * where it lies, never a copy just written (reading a word that a few
 * byte stores just wrote stalls the CPU: it cost a quarter of the
 * tokenizer's time). */
#define HASH_BASE UINT64_C(0x9e3779b97f4a7c15)

ALWAYS_INLINE uint64_t prefix_seed(const char *prefix, size_t plen)
{
    return plen ? hash_words(HASH_BASE, (const unsigned char *)prefix, plen, 0) : HASH_BASE;
}

static uint64_t token_hash(const char *prefix, size_t plen, const char *s, size_t n, int padded)
{
    return hash_words(prefix_seed(prefix, plen), (const unsigned char *)s, n, padded);
}

/* Token texts are "prefix:payload" with a prefix of lowercase letters and
 * colons ("c:", "u:host:"), or a bare word, which never holds a ':'
 * (punctuation separates words). */
uint64_t tok_hash(const char *s, size_t n)
{
    size_t plen = 0;
    if (n >= 2 && s[1] == ':') {
        for (size_t i = 0; i < n && ((s[i] >= 'a' && s[i] <= 'z') || s[i] == ':'); i++)
            if (s[i] == ':')
                plen = i + 1;
    }
    return token_hash(s, plen, s + plen, n - plen, 0);
}

void tok_fingerprint(const tok_list *tl, char hex[33])
{
    unsigned char out[16];
    tok_fingerprint_raw(tl, out);
    sodium_bin2hex(hex, 33, out, sizeof out);
}

void tok_fingerprint_raw(const tok_list *tl, unsigned char out[16])
{
    /* Words, pairs and n-grams are all read from one copy of the
     * normalised text (ngram_text): the part of that copy they cover
     * stands for them, and is a tenth of their hashes' bytes (BLAKE2b of
     * every hash took a third of a learn's time). Only the covered part:
     * a long comment spends its token budget before the copy ends, and
     * what lies beyond changes no token. Every other token by its hash,
     * in the order the tokenizer found them (the same text always gives
     * the same sequence), their count first so that the two parts cannot
     * run into each other. So the same tokens give the same fingerprint;
     * two texts whose tokens agree though the texts differ where tokens
     * reach (a rare repetition) may fingerprint apart. */
    unsigned char le[8 * TOK_MAX + 8];
    size_t k = 8, end = tl->goff;
    for (size_t i = 0; i < tl->n; i++) {
        size_t o = tl->off[i];
        if (tl->glen && o >= tl->goff && o < tl->goff + tl->glen) {
            if (o + tl->len[i] > end)
                end = o + tl->len[i];
            continue;
        }
        for (int b = 0; b < 8; b++)
            le[k++] = (unsigned char)(tl->h[i] >> (8 * b));
    }
    uint64_t nh = (k - 8) / 8;
    for (int b = 0; b < 8; b++)
        le[b] = (unsigned char)(nh >> (8 * b));
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 16);
    crypto_generichash_update(&st, le, k);
    crypto_generichash_update(&st, (const unsigned char *)tl->text + tl->goff, end - tl->goff);
    crypto_generichash_final(&st, out, 16);
}

/* c is one of the characters of 'set' (never NUL, which strchr would
 * find at the end of every set). */
static int in_set(char c, const char *set)
{
    return c && strchr(set, c);
}

static int is_alnum_ascii(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static char lower_ascii(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* ---------- emitting ---------- */

/* Add the token prefix + s[0..n) unless it is already in the list or the
 * list is full. 'padded': 8 bytes may be read past s[n] (see hash_words).
 * 'inplace': s already lies in the payload arena (no copy). */
static void emit_seeded(tok_list *tl, uint64_t seed, const char *prefix, size_t plen, const char *s,
                        size_t n, int padded, int inplace)
{
    if (plen + n > TOKEN_TEXT_MAX) {
        n = TOKEN_TEXT_MAX - plen;
        padded = 1; /* the cut leaves the rest of s readable */
    }
    uint64_t h = hash_words(seed, (const unsigned char *)s, n, padded);
    size_t i = (size_t)h & (SET_SLOTS - 1);
    uint32_t tag = (uint32_t)(h >> 48) << 16;
    while (tl->set[i]) {
        if ((tl->set[i] & 0xffff0000u) == tag && tl->h[(tl->set[i] & 0xffff) - 1] == h)
            return; /* seen */
        i = (i + 1) & (SET_SLOTS - 1);
    }
    size_t off;
    if (inplace) {
        off = (size_t)(s - tl->text);
    } else {
        off = tl->text_len; /* TEXT_CAP leaves room: see ngrams */
        memcpy(tl->text + off, s, n);
        tl->text_len += n;
    }
    tl->set[i] = tag | (uint32_t)(tl->n + 1);
    tl->h[tl->n] = h;
    tl->pre[tl->n] = prefix;
    tl->plen[tl->n] = (uint8_t)plen;
    tl->off[tl->n] = (uint32_t)off;
    tl->len[tl->n] = (uint16_t)n;
    tl->n++;
}

/* The prefixes are string literals: inlined here, their seeds are
 * computed by the compiler, not once per token. */
ALWAYS_INLINE void emit4(tok_list *tl, const char *prefix, size_t plen, const char *s, size_t n, int padded,
                         int inplace)
{
    if (tl->n < TOK_MAX)
        emit_seeded(tl, prefix_seed(prefix, plen), prefix, plen, s, n, padded, inplace);
}

/* prefix + s[0..n), copied into the arena. */
ALWAYS_INLINE void emit(tok_list *tl, const char *prefix, const char *s, size_t n)
{
    emit4(tl, prefix, strlen(prefix), s, n, 0, 0);
}

ALWAYS_INLINE void emits(tok_list *tl, const char *prefix, const char *s)
{
    emit(tl, prefix, s, strlen(s));
}

/* "d" and v in decimal into d (room for 22 bytes); returns the length.
 * Not snprintf: digit runs are common and this runs for each. */
static size_t count_token(char *d, size_t v)
{
    char tmp[21], *w = tmp + sizeof tmp;
    do {
        *--w = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t l = (size_t)(tmp + sizeof tmp - w);
    d[0] = 'd';
    memcpy(d + 1, w, l);
    return l + 1;
}

/* prefix + the bucket of v as a letter: a = 0, b = 1, c = 2, d = 3-4,
 * e = 5-8, f = 9-16, ... (log2, up to 'n'). */
static void emit_bucket(tok_list *tl, const char *prefix, size_t v)
{
    char d[4];
    int b = v ? 1 : 0;
    while (v > 1 && b < 13) {
        v = (v + 1) / 2;
        b++;
    }
    d[0] = (char)('a' + b);
    emit(tl, prefix, d, 1);
}

/* ---------- step 1: a bounded, valid copy ---------- */

/* Length of the UTF-8 sequence starting with byte c, 0 if c cannot start one. */
static size_t seq_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
}

/* Copy s[0..n) into tl->buf with every invalid sequence replaced by a
 * space. Returns the number of replacements. */
static size_t make_valid(tok_list *tl, const char *s, size_t n)
{
    size_t bad = 0, i = 0, o = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            tl->buf[o++] = (char)c;
            i++;
            continue;
        }
        size_t l = seq_len(c);
        if (l && i + l <= n && text_utf8_valid(s + i, l)) {
            memcpy(tl->buf + o, s + i, l);
            o += l;
            i += l;
        } else {
            tl->buf[o++] = ' ';
            i++;
            bad++;
        }
    }
    tl->buf[o] = 0;
    return bad;
}

/* ---------- step 2: links ---------- */

/* Copy the host name at the start of 'src' into out (size 'outlen'):
 * letters, digits, '.' and '-', lowercased, and non-ASCII characters
 * (an internationalised name) when 'utf8' says src is valid UTF-8; it
 * ends at the first other byte. A name cut by the buffer loses its last,
 * partial character. Returns its length. */
static size_t host_name(const char *src, int utf8, char *out, size_t outlen)
{
    size_t k = 0;
    for (; src[k] && k + 1 < outlen; k++) {
        unsigned char c = (unsigned char)src[k];
        if (!(is_alnum_ascii(c) || c == '.' || c == '-' || (c >= 0x80 && utf8)))
            break;
        out[k] = lower_ascii((char)c);
    }
    size_t j = k;
    while (j > 0 && ((unsigned char)out[j - 1] & 0xC0) == 0x80)
        j--;
    if (j > 0 && j - 1 + seq_len((unsigned char)out[j - 1]) > k)
        k = j - 1;
    out[k] = 0;
    return k;
}

static void on_link(void *arg, size_t start, size_t end, const char *host)
{
    tok_list *tl = arg;
    if (tl->nspans >= MAX_LINKS)
        return;
    struct span *sp = &tl->spans[tl->nspans++];
    sp->start = start;
    sp->end = end;
    /* links.c reports what the text says ("[x.)ly:" from a broken
     * href); a token wants a name. The body is valid UTF-8 here. */
    host_name(host, 1, sp->host, sizeof sp->host);
}

/* Second-level labels under which a ccTLD sells names ("bbc.co.uk"): the
 * registered domain is then three labels. */
static int is_second_level(const char *l, size_t n)
{
    static const char *const sl[] = { "co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "gob" };
    for (size_t i = 0; i < sizeof sl / sizeof *sl; i++)
        if (strlen(sl[i]) == n && memcmp(sl[i], l, n) == 0)
            return 1;
    return 0;
}

/* URL shorteners: the real target is hidden, which is why spam likes them. */
static int is_shortener(const char *dom)
{
    static const char *const sh[] = { "bit.ly", "goo.gl", "tinyurl.com", "t.co", "ow.ly", "is.gd",
                                      "buff.ly", "adf.ly", "bitly.com", "cutt.ly", "rebrand.ly",
                                      "tiny.cc", "shorturl.at", "rb.gy", "tr.im", "v.gd", "shorte.st",
                                      "bc.vc", "x.co", "lnkd.in" };
    for (size_t i = 0; i < sizeof sh / sizeof *sh; i++)
        if (strcmp(sh[i], dom) == 0)
            return 1;
    return 0;
}

/* The registered domain of a lowercased host: its last two labels, or
 * three under a ccTLD's second level. Written to 'out'. */
static void registered_domain(const char *host, char *out, size_t outlen)
{
    size_t n = strlen(host);
    const char *dots[3] = { NULL, NULL, NULL }; /* last, second last, third last '.' */
    for (size_t i = n; i-- > 0;)
        if (host[i] == '.') {
            if (!dots[0])
                dots[0] = host + i;
            else if (!dots[1])
                dots[1] = host + i;
            else if (!dots[2]) {
                dots[2] = host + i;
                break;
            }
        }
    const char *start = host;
    if (dots[1]) {
        start = dots[1] + 1;
        size_t tld_len = (size_t)(host + n - dots[0] - 1);
        if (tld_len == 2 && is_second_level(start, (size_t)(dots[0] - start)))
            start = dots[2] ? dots[2] + 1 : host;
    }
    size_t l = strnlen(start, outlen - 1);
    memcpy(out, start, l);
    out[l] = '\0';
}


/* Find 'host' in s[0..n) ignoring ASCII case; returns its end or 0. */
static size_t find_host_end(const char *s, size_t n, const char *host)
{
    size_t hl = strlen(host);
    for (size_t i = 0; hl && i + hl <= n; i++) {
        size_t k = 0;
        while (k < hl && lower_ascii(s[i + k]) == host[k])
            k++;
        if (k == hl)
            return i + hl;
    }
    return 0;
}

static void link_tokens(tok_list *tl, const struct span *sp)
{
    const char *s = tl->buf + sp->start;
    size_t n = sp->end - sp->start;
    if (n && s[0] == '<')
        emits(tl, "h:", "a");
    for (size_t i = 0; i + 3 <= n && i < 12; i++)
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            char scheme[8];
            size_t b = i;
            while (b > 0 && is_alnum_ascii((unsigned char)s[b - 1]) && i - b < sizeof scheme - 1)
                b--;
            for (size_t k = b; k < i; k++)
                scheme[k - b] = lower_ascii(s[k]);
            scheme[i - b] = 0;
            if (scheme[0])
                emits(tl, "u:scheme:", scheme);
            break;
        }
    if (!sp->host[0]) {
        emits(tl, "u:", "nohost");
        return;
    }
    const char *host = sp->host;
    if (strncmp(host, "www.", 4) == 0)
        host += 4;
    emits(tl, "u:host:", host);
    char dom[LINKS_HOST_MAX];
    registered_domain(host, dom, sizeof dom);
    emits(tl, "u:dom:", dom);
    const char *tld = strrchr(dom, '.');
    if (tld)
        emits(tl, "u:tld:", tld + 1);
    if (is_shortener(dom))
        emits(tl, "u:", "short");
    /* Path words: after the host, up to a quote, space or '>'. */
    size_t p = find_host_end(s, n, sp->host);
    int words = 0;
    while (p < n && words < PATH_WORDS) {
        unsigned char c = (unsigned char)s[p];
        if (c == '"' || c == '\'' || c == '>' || c == ' ' || c == '<')
            break;
        if (!is_alnum_ascii(c)) {
            p++;
            continue;
        }
        size_t b = p;
        while (p < n && is_alnum_ascii((unsigned char)s[p]))
            p++;
        size_t l = p - b;
        if (l >= 2 && l <= 20) {
            char w[21];
            for (size_t k = 0; k < l; k++)
                w[k] = lower_ascii(s[b + k]);
            emit(tl, "u:path:", w, l);
            words++;
        }
    }
}

/* ---------- step 3: plain text ---------- */

/* Decode a UTF-8 code point; s is valid UTF-8. Returns its length. */
static size_t decode(const char *s, int32_t *cp)
{
    utf8proc_ssize_t l = utf8proc_iterate((const utf8proc_uint8_t *)s, 4, cp);
    if (l <= 0) {
        *cp = (unsigned char)*s;
        return 1;
    }
    return (size_t)l;
}

/* An entity at s[0..n) (s[0] == '&'). Returns its length and writes the
 * decoded UTF-8 into out (*outlen bytes), or 0 when it is none. */
static size_t entity(const char *s, size_t n, char out[4], size_t *outlen)
{
    static const struct { const char *name; int32_t cp; } named[] = {
        { "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
        { "nbsp", ' ' }, { "hellip", 0x2026 }, { "mdash", 0x2014 }, { "ndash", 0x2013 },
        { "laquo", 0xab }, { "raquo", 0xbb }, { "copy", 0xa9 }, { "reg", 0xae },
        { "euro", 0x20ac }, { "pound", 0xa3 }, { "rsquo", 0x2019 }, { "lsquo", 0x2018 },
        { "ldquo", 0x201c }, { "rdquo", 0x201d }, { "trade", 0x2122 },
    };
    size_t e = 1;
    while (e < n && e < 12 && s[e] != ';')
        e++;
    if (e >= n || s[e] != ';' || e < 2)
        return 0;
    int32_t cp = -1;
    if (s[1] == '#') {
        int hex = e > 2 && (s[2] == 'x' || s[2] == 'X');
        long v = 0;
        size_t k = hex ? 3 : 2;
        if (k >= e)
            return 0;
        for (; k < e; k++) {
            char c = s[k];
            int d = c >= '0' && c <= '9' ? c - '0'
                  : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0 || v > 0x10FFFF)
                return 0;
            v = v * (hex ? 16 : 10) + d;
        }
        cp = (int32_t)v;
    } else {
        for (size_t i = 0; i < sizeof named / sizeof *named; i++)
            if (strlen(named[i].name) == e - 1 && memcmp(named[i].name, s + 1, e - 1) == 0)
                cp = named[i].cp;
    }
    if (cp <= 0 || !utf8proc_codepoint_valid(cp))
        return 0;
    *outlen = (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)out);
    return e + 1;
}

/* An HTML tag at s[0..n) (s[0] == '<'): its length, with its name
 * lowercased into name[] (at most 10 letters), or 0 when it is none. */
static size_t tag(const char *s, size_t n, char name[12])
{
    size_t i = 1;
    if (i < n && (s[i] == '/' || s[i] == '!'))
        i++;
    if (i >= n || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
        return 0;
    size_t k = 0;
    while (i < n && k < 10 && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                               (s[i] >= '0' && s[i] <= '9')))
        name[k++] = lower_ascii(s[i++]);
    name[k] = 0;
    /* A tag ends at '>' within 512 bytes with no '<' before it: "a < b"
     * and "<3" in prose are not tags. */
    for (size_t e = i; e < n && e < 512; e++) {
        if (s[e] == '>')
            return e + 1;
        if (s[e] == '<')
            return 0;
    }
    return 0;
}

/* An e-mail address around the '@' at s[at]: its start and end in the
 * plain text, or 0 when there is none. */
static int email_at(const char *s, size_t n, size_t at, size_t *start, size_t *end, size_t *dom)
{
    size_t b = at;
    while (b > 0 && (is_alnum_ascii((unsigned char)s[b - 1]) || in_set(s[b - 1], "._%+-")))
        b--;
    size_t e = at + 1, dots = 0;
    while (e < n && (is_alnum_ascii((unsigned char)s[e]) || s[e] == '.' || s[e] == '-')) {
        dots += s[e] == '.';
        e++;
    }
    while (e > at + 1 && s[e - 1] == '.') {
        e--;
        dots--;
    }
    if (b == at || !dots || e - at < 4)
        return 0;
    *start = b;
    *end = e;
    *dom = at + 1;
    return 1;
}

/* ASCII punctuation that is a token of its own ("s:$", "s:!", and "s:!!"
 * for a run): money, shouting, hashtags, censored words ("f**k"). */
static const char punct_token[128] = {
    ['$'] = 1, ['%'] = 1, ['!'] = 1, ['?'] = 1, ['*'] = 1, ['#'] = 1, ['='] = 1,
    ['^'] = 1, ['~'] = 1, ['|'] = 1,
};

/* What step 3 notices on the way. */
struct plain_stats {
    size_t upper, letters;  /* ASCII letters, for shouting */
};

static void symbol_token(tok_list *tl, const char *s, size_t l, int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);
    if (c == UTF8PROC_CATEGORY_SC || c == UTF8PROC_CATEGORY_SO || c == UTF8PROC_CATEGORY_SM ||
        c == UTF8PROC_CATEGORY_SK)
        emit(tl, "s:", s, l);
}

/* Phone shapes: a run of digits and the separators people put in phone
 * numbers, with 7 to 15 digits (E.164's maximum), is "p:d<digits>". */
static size_t phone_at(tok_list *tl, const char *s, size_t n, size_t i)
{
    size_t e = i, digits = 0;
    while (e < n && ((s[e] >= '0' && s[e] <= '9') || in_set(s[e], " -.()/+"))) {
        if (s[e] >= '0' && s[e] <= '9')
            digits++;
        else if (s[e] == ' ' && e + 1 < n && !(s[e + 1] >= '0' && s[e + 1] <= '9') && s[e + 1] != '(')
            break;
        e++;
    }
    if (digits >= 7 && digits <= 15) {
        char d[24];
        emit(tl, "p:", d, count_token(d, digits));
    }
    while (e > i && !(s[e - 1] >= '0' && s[e - 1] <= '9'))
        e--;
    return e > i ? e : i + 1;
}

/* Build tl->plain from tl->buf[0..n): tags dropped, entities decoded,
 * e-mail addresses out. Links stay in it: their text ("www", "com",
 * "watch", a video id's digits) is words and n-grams like any other, on
 * top of the u: tokens step 2 made. Blanking them cost most of the
 * filter's transfer between kinds of text: trained on the youtube
 * training half and tested on the sms one, AUC 0.762 blanked against
 * 0.867 kept, with 5-fold cross-validation of each training half
 * unchanged within noise (docs/benchmarks.md, "what separates us from
 * the study"). Returns its length, at most n (nothing here lengthens
 * the text). */
static size_t make_plain(tok_list *tl, size_t n, struct plain_stats *st)
{
    const char *s = tl->buf;
    char *o = tl->plain;
    size_t len = 0, i = 0;
    char prev_punct = 0;
    size_t phone_end = 0; /* the phone shape found last ends here */
    memset(st, 0, sizeof *st);
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        /* Most of a comment is lower-case letters and spaces: copied with
         * no further test. */
        if ((unsigned)(c - 'a') < 26 || c == ' ') {
            st->letters += c != ' ';
            prev_punct = (char)c;
            o[len++] = (char)c;
            i++;
            continue;
        }
        if (c == '<') {
            char name[12];
            size_t l = tag(s + i, n - i, name);
            if (l) {
                if (name[0])
                    emits(tl, "h:", name);
                o[len++] = ' ';
                i += l;
                continue;
            }
        }
        if (c == '&') {
            char dec[4];
            size_t dl, l = entity(s + i, n - i, dec, &dl);
            if (l) {
                /* An entity may hide a symbol (&#9733;) or a letter. */
                int32_t cp;
                decode(dec, &cp);
                if (cp >= 0x80)
                    symbol_token(tl, dec, dl, cp);
                memcpy(o + len, dec, dl);
                len += dl;
                i += l;
                continue;
            }
        }
        if (c >= 0x80) {
            int32_t cp;
            size_t l = decode(s + i, &cp);
            symbol_token(tl, s + i, l, cp);
            memcpy(o + len, s + i, l);
            len += l;
            i += l;
            prev_punct = 0;
            continue;
        }
        if (c >= 'A' && c <= 'Z')
            st->upper++, st->letters++;
        else if (c >= 'a' && c <= 'z')
            st->letters++;
        else if ((c >= '0' && c <= '9') || c == '+' || c == '(') {
            /* One token per number: its later digit groups start no
             * other. The digits stay in the text as words too. */
            if (i >= phone_end && (i == 0 || !is_alnum_ascii((unsigned char)s[i - 1])))
                phone_end = phone_at(tl, s, n, i);
        } else if (punct_token[c]) {
            char t[2] = { (char)c, (char)c };
            emit(tl, "s:", t, 1);
            if (prev_punct == (char)c)
                emit(tl, "s:", t, 2);
        } else if (c == '@') {
            size_t b, e, d;
            if (email_at(s, n, i, &b, &e, &d)) {
                char dom[64];
                size_t l = e - d < sizeof dom ? e - d : sizeof dom - 1;
                for (size_t k = 0; k < l; k++)
                    dom[k] = lower_ascii(s[d + k]);
                emit(tl, "e:dom:", dom, l);
                emits(tl, "e:", "addr");
                /* Take back the local part already copied. */
                len -= i - b < len ? i - b : len;
                o[len++] = ' ';
                i = e;
                continue;
            }
        }
        prev_punct = (char)c;
        o[len++] = (char)c;
        i++;
    }
    o[len] = 0;
    return len;
}

/* ---------- step 4: words, pairs, n-grams ---------- */

/* Squash runs of 3 or more equal letters to 2 ("sooooo" -> "soo"):
 * w[0..n) in place, returns the new length. Digits are left alone:
 * "1000" and "100" are different amounts. */
static size_t squash(char *w, size_t n)
{
    /* Most words have no run to squash: an ASCII word without three equal
     * bytes in a row is left as it is after one pass. */
    int slow = 0;
    for (size_t k = 0; k < n && !slow; k++)
        slow = (unsigned char)w[k] >= 0x80 || (k >= 2 && w[k] == w[k - 1] && w[k] == w[k - 2]);
    if (!slow)
        return n;
    size_t o = 0, i = 0;
    const char *prev = NULL;
    size_t prevl = 0;
    int run = 0;
    while (i < n) {
        size_t l = seq_len((unsigned char)w[i]);
        if (!l || i + l > n)
            l = 1;
        if (prev && l == prevl && (l == 1 ? w[i] == *prev : memcmp(w + i, prev, l) == 0))
            run++;
        else
            run = 1;
        if (run <= 2 || (l == 1 && w[i] >= '0' && w[i] <= '9')) {
            if (o != i)
                memmove(w + o, w + i, l);
            prev = w + o;
            prevl = l;
            o += l;
        }
        i += l;
    }
    return o;
}

/* The normalised text as n-grams read it, copied into the payload arena
 * (their payloads are hashed and kept where they lie, never copied one
 * by one): "_" + the text with '_' for each space, runs of 3 or more
 * equal letters squashed to 2 + "_", cut to NGRAM_TEXT_MAX bytes at a
 * space (or a character start). Words and pairs are read from it too
 * (words()). pos[] gets the
 * start of each character and one past the end; returns the number of
 * characters (0: nothing to do). The arena keeps room for every copied
 * payload still to come; past that there are no n-grams (only a comment
 * of hundreds of distinct long words gets there, long after its token
 * budget). */
static size_t ngram_text(tok_list *tl, const char *norm, size_t n, uint16_t *pos)
{
    if (n > NGRAM_TEXT_MAX) { /* at the last space before the cap: whole words */
        size_t k = NGRAM_TEXT_MAX;
        while (k > 0 && norm[k] != ' ')
            k--;
        n = k ? k : NGRAM_TEXT_MAX;
        while (n > 0 && ((unsigned char)norm[n] & 0xC0) == 0x80)
            n--;
    }
    size_t need = n + 2 + 8;
    if (!n || tl->text_len + need + (size_t)TOK_MAX * TOKEN_TEXT_MAX + 8 > TEXT_CAP)
        return 0;
    char *g = tl->text + tl->text_len;
    g[0] = '_';
    for (size_t i = 0; i < n; i++)
        g[1 + i] = norm[i] == ' ' ? '_' : norm[i];
    size_t gl = 1 + squash(g + 1, n);
    g[gl++] = '_';
    tl->text_len += gl;
    size_t nc = 0;
    for (size_t i = 0; i < gl;) {
        pos[nc++] = (uint16_t)i;
        size_t l = (unsigned char)g[i] < 0x80 ? 1 : seq_len((unsigned char)g[i]);
        i += l && i + l <= gl ? l : 1;
    }
    pos[nc] = (uint16_t)gl; /* end sentinel */
    return nc;
}

/* The n-grams of ngram_text's copy, shortest first: when the budget runs
 * out, the short ones (the most often shared) of the whole text are in. */
static void ngrams(tok_list *tl, const char *g, const uint16_t *pos, size_t nc)
{
    for (size_t len = NGRAM_MIN; len <= NGRAM_MAX; len++)
        for (size_t a = 0; a + len <= nc && tl->n < TOK_MAX; a++)
            emit4(tl, "c:", 2, g + pos[a], (size_t)(pos[a + len] - pos[a]), 1, 1);
}

/* A token as a moderator reads it: the word or word pair itself, in
 * quotes, and what the other kinds stand for in words ("u:host:bit.ly" is
 * "a link to bit.ly"). The vocabulary is this file's: see tokenize.h. */
size_t tok_describe(const tok_list *tl, size_t i, char *out, size_t outlen)
{
    static const struct { const char *prefix, *before, *after; int payload; } kinds[] = {
        { "b:", "\"", "\"", 1 },                      { "c:", "\"", "\" (part of the text)", 1 },
        { "u:host:", "a link to ", "", 1 },            { "u:dom:", "a link to ", "", 1 },
        { "u:tld:", "a .", " link", 1 },               { "u:path:", "\"", "\" in a link", 1 },
        { "u:scheme:", "a link (", ")", 1 },             { "u:short", "a link shortener", "", 0 },
        { "u:nohost", "a relative link", "", 0 },      { "e:dom:", "an e-mail address at ", "", 1 },
        { "e:addr", "an e-mail address", "", 0 },      { "p:d", "a phone number", "", 0 },
        { "n:d", "a ", "-digit number", 1 },           { "s:", "", "", 1 },
        { "h:", "<", "> markup", 1 },                  { "m:links:", "the number of links", "", 0 },
        { "m:words:", "the comment's length", "", 0 }, { "m:caps:", "its capital letters", "", 0 },
        { "m:badutf8", "invalid UTF-8", "", 0 },       { "m:truncated", "its length", "", 0 },
        { "m:longword", "a very long word", "", 0 },   { "a:dom:", "the author's site ", "", 1 },
        { "a:url", "an author URL", "", 0 },
    };
    char t[TOKEN_TEXT_MAX + 1];
    tok_text(tl, i, t, sizeof t);
    size_t k = 0;
#define PUT(ch) do { if (k + 1 < outlen) out[k++] = (ch); } while (0)
    const char *before = "\"", *after = "\"", *rest = t;
    int payload = 1, ngram = 0, pair = 0;
    for (size_t j = 0; j < sizeof kinds / sizeof *kinds; j++) {
        size_t pl = strlen(kinds[j].prefix);
        if (strncmp(t, kinds[j].prefix, pl) == 0) {
            before = kinds[j].before;
            after = kinds[j].after;
            payload = kinds[j].payload;
            ngram = kinds[j].prefix[0] == 'c';
            pair = kinds[j].prefix[0] == 'b';
            rest = t + pl;
            break;
        }
    }
    for (const char *r = before; *r; r++)
        PUT(*r);
    /* "e_fr" -> "e fr"; an n-gram's '_' at its ends marks the text's
     * start or end: "_ca" -> "ca" */
    size_t rl = strlen(rest);
    if (ngram && rl && rest[rl - 1] == '_')
        rl--;
    if (ngram && rl && rest[0] == '_')
        rest++, rl--;
    for (size_t j = 0; payload && j < rl; j++)
        PUT(rest[j] == '_' && (ngram || pair) ? ' ' : rest[j]);
    for (const char *r = after; *r; r++)
        PUT(*r);
#undef PUT
    if (outlen)
        out[k] = 0;
    return k;
}

/* Words and word pairs, from ngram_text's copy g[0..gl) ("_call_now_"):
 * each word and each pair ("call_now") is hashed and kept where it lies
 * in the arena, like the n-grams. 'nwords' is the word count of the
 * whole text (the copy may be cut). */
static void words(tok_list *tl, const char *g, size_t gl, size_t nwords)
{
    const char *prev = NULL;
    for (size_t i = 1; i < gl && tl->n < TOK_MAX;) {
        size_t b = i;
        while (i < gl && g[i] != '_')
            i++;
        const char *w = g + b;
        size_t l = i - b;
        i++;
        if (!l)
            continue;
        if (l > WORD_MAX) {
            emits(tl, "m:", "longword");
            prev = NULL;
            continue;
        }
        emit4(tl, "", 0, w, l, 1, 1);
        int digits = 1;
        for (size_t k = 0; k < l; k++)
            if (w[k] < '0' || w[k] > '9')
                digits = 0;
        if (digits) {
            char d[24];
            emit(tl, "n:", d, count_token(d, l));
        }
        if (prev)
            emit4(tl, "b:", 2, prev, (size_t)(w + l - prev), 1, 1);
        prev = w;
    }
    emit_bucket(tl, "m:words:", nwords);
}

/* ---------- the whole ---------- */

/* The host of an author's URL, lowercased, or "" */
static void author_host(const char *url, char *out, size_t outlen)
{
    out[0] = 0;
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    /* Skip user info ("user:pw@host"): the host comes after the last '@'
     * before the path. */
    for (const char *q = p; *q && *q != '/' && *q != '?' && *q != '#'; q++)
        if (*q == '@')
            p = q + 1;
    if (strncmp(p, "www.", 4) == 0)
        p += 4;
    /* Non-ASCII (an internationalised host) only from valid UTF-8: the
     * service validated the request, but the tokenizer trusts nothing. */
    host_name(p, text_utf8_valid(p, strlen(p)), out, outlen);
}

void tok_run(tok_list *tl, const struct tok_input *in)
{
    tl->n = 0;
    tl->text_len = 0;
    tl->nspans = 0;
    memset(tl->set, 0, sizeof tl->set);

    size_t n = in->body_len;
    int truncated = 0;
    if (n > TOK_MAX_INPUT) {
        n = TOK_MAX_INPUT;
        /* Back up to a character start so that the cut itself is not
         * mistaken for invalid UTF-8. */
        size_t k = n;
        while (k > 0 && n - k < 4 && ((unsigned char)in->body[k] & 0xC0) == 0x80)
            k--;
        n = k;
        truncated = 1;
    }
    /* Entities decode to at most 4 bytes from at least 4 ("&lt;"), and
     * everything else to at most itself, so n + 1 bytes are enough. */
    if (tl->buf_cap < n + 1) {
        tl->buf = xrealloc(tl->buf, n + 1);
        tl->plain = xrealloc(tl->plain, n + 1);
        tl->buf_cap = n + 1;
    }
    size_t bad = 0;
    if (text_utf8_valid(in->body, n)) { /* the service's case: validated already */
        memcpy(tl->buf, in->body, n);
        tl->buf[n] = 0;
    } else {
        bad = make_valid(tl, in->body, n);
    }

    /* Metadata first: it must survive the token budget. */
    if (bad)
        emits(tl, "m:", "badutf8");
    if (truncated)
        emits(tl, "m:", "truncated");
    if (in->author_url && *in->author_url) {
        char host[LINKS_HOST_MAX], dom[LINKS_HOST_MAX];
        author_host(in->author_url, host, sizeof host);
        emits(tl, "a:", "url");
        if (host[0]) {
            registered_domain(host, dom, sizeof dom);
            emits(tl, "a:dom:", dom);
        }
    }

    struct links_info li;
    links_scan_spans(tl->buf, n, &li, on_link, tl);
    emit_bucket(tl, "m:links:", (size_t)li.count);
    for (int i = 0; i < tl->nspans; i++)
        link_tokens(tl, &tl->spans[i]);

    struct plain_stats st;
    size_t plen = make_plain(tl, n, &st);
    if (st.letters >= 8) {
        /* Shouting: the share of capitals among ASCII letters, in fifths. */
        char b = (char)('0' + (st.upper * 5) / (st.letters + 1));
        emit(tl, "m:caps:", &b, 1);
    }
    size_t norm_len;
    char *norm = text_normalize(tl->plain, plen, &norm_len);
    uint16_t pos[NGRAM_TEXT_MAX + 3];
    size_t goff = tl->text_len, nc = ngram_text(tl, norm, norm_len, pos);
    tl->goff = goff;
    tl->glen = nc ? pos[nc] : 0;
    words(tl, tl->text + goff, nc ? pos[nc] : 0, text_word_count(norm, norm_len));
    tl->lead = tl->n;
    ngrams(tl, tl->text + goff, pos, nc);
    free(norm);
}
