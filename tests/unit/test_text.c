/* test_text.c - UTF-8 validation and normalisation.
 *
 * Besides examples, text_normalize is checked against a reference: one
 * utf8proc_map call over the whole string with the same options, then
 * segmentation by category. That is the "general path" in its plainest
 * form, so agreement shows the ASCII and per-code-point fast paths in
 * text.c change nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "test.h"
#include "text.h"

#define REF_OPTIONS (UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD | \
                     UTF8PROC_IGNORE | UTF8PROC_STRIPMARK)

/* The reference normaliser described above. */
static char *reference(const char *s, size_t n)
{
    utf8proc_uint8_t *m = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &m,
                                      REF_OPTIONS);
    char *out;
    size_t o = 0;
    int sep = 0;
    utf8proc_ssize_t i = 0;

    if (r < 0)
        return NULL;
    out = malloc((size_t)r * 2 + 2);
    while (i < r) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate(m + i, r - i, &cp);
        utf8proc_category_t cat = utf8proc_category(cp);
        if (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO) {
            if (sep && o > 0)
                out[o++] = ' ';
            sep = 0;
            memcpy(out + o, m + i, (size_t)l);
            o += (size_t)l;
        } else {
            sep = 1;
        }
        i += l;
    }
    out[o] = '\0';
    free(m);
    return out;
}

/* Normalise and compare with an expected string. */
static int norm_is(const char *in, size_t n, const char *want)
{
    size_t len = 12345;
    char *got = text_normalize(in, n, &len);
    int ok = strcmp(got, want) == 0 && len == strlen(want);

    if (!ok)
        fprintf(stderr, "  normalize(\"%s\") = \"%s\", want \"%s\"\n", in, got, want);
    free(got);
    return ok;
}

#define NORM_IS(in, want) CHECK(norm_is((in), strlen(in), (want)))

/* Does text_normalize agree with the reference on s[0..n)? */
static int same_as_reference(const char *s, size_t n)
{
    size_t len;
    char *got = text_normalize(s, n, &len);
    char *ref = reference(s, n);
    int ok = ref && strcmp(got, ref) == 0 && len == strlen(ref);

    free(got);
    free(ref);
    return ok;
}

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* splitmix64: deterministic and good enough to vary test inputs. */
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

TEST(test_disguises)
{
    NORM_IS("\xEF\xBC\xA3\xEF\xBC\xA1\xEF\xBC\xB3\xEF\xBC\xA9\xEF\xBC\xAE\xEF\xBC\xAF", "casino"); /* ＣＡＳＩＮＯ */
    NORM_IS("ca\xE2\x80\x8Bsino", "casino");        /* zero-width space */
    NORM_IS("CAS\xC3\x8DNO", "casino");             /* CASÍNO */
    NORM_IS("CASI\xCC\x81NO", "casino");            /* I + combining acute */
    NORM_IS("\xEF\xBB\xBF" "casino", "casino");     /* U+FEFF */
    NORM_IS("ca\xC2\xADsino", "casino");            /* soft hyphen */
    NORM_IS("ca\xE2\x80\x8Csi\xE2\x80\x8Dno", "casino"); /* ZWNJ, ZWJ */
    NORM_IS("\xEF\xAC\x81nance", "finance");        /* ﬁ ligature */
    NORM_IS("Stra\xC3\x9F" "e", "strasse");         /* ß case-folds to ss */
    NORM_IS("\xF0\x9D\x90\x82\xF0\x9D\x90\x80\xF0\x9D\x90\x92\xF0\x9D\x90\x88\xF0\x9D\x90\x8D\xF0\x9D\x90\x8E",
            "casino"); /* mathematical bold CASINO */
    NORM_IS("\xE2\x91\xA0", "1");                   /* circled digit one */
}

TEST(test_separators)
{
    NORM_IS("", "");
    NORM_IS("   ", "");
    NORM_IS("!!!", "");
    NORM_IS("  Hello,   World!! ", "hello world");
    NORM_IS("BUY   followers!!", "buy followers");
    NORM_IS("line one\nline\ttwo\r\n", "line one line two");
    NORM_IS("don't", "don t");                      /* apostrophes separate */
    NORM_IS("don\xE2\x80\x99t", "don t");           /* typographic one too */
    NORM_IS("snake_case-and.dots", "snake case and dots");
    NORM_IS("a\xF0\x9F\x98\x80" "b", "a b");        /* emoji separate */
    NORM_IS("\xE2\x80\x9Cquoted\xE2\x80\x9D \xE2\x80\x94 dash", "quoted dash");
    NORM_IS("x\xC2\xA0y", "x y");                   /* no-break space */
    NORM_IS("\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82, \xD0\xBC\xD0\xB8\xD1\x80!",
            "\xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xD0\xBC\xD0\xB8\xD1\x80"); /* Привет, мир! */
    NORM_IS("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"); /* 日本語 kept */
    /* NUL is valid UTF-8 and a separator. */
    CHECK(norm_is("ab\0cd", 5, "ab cd"));
    CHECK(norm_is("\0", 1, ""));
}

TEST(test_out_len_and_nul)
{
    size_t len = 99;
    char *s = text_normalize("Hi there", 8, &len);

    CHECK_EQ_INT(len, 8);
    CHECK_EQ_STR(s, "hi there");
    free(s);
    s = text_normalize("", 0, &len);
    CHECK_EQ_INT(len, 0);
    CHECK_EQ_STR(s, "");
    free(s);
    /* Expansion: one code point can normalise to many (U+FDFA is 18). */
    s = text_normalize("\xEF\xB7\xBA", 3, &len);
    CHECK(len > 3);
    CHECK_EQ_INT(strlen(s), len);
    CHECK(text_utf8_valid(s, len));
    free(s);
}

TEST(test_valid_utf8)
{
    static const struct {
        const char *s;
        size_t n;
        int ok;
    } cases[] = {
        {"", 0, 1},
        {"plain ascii", 11, 1},
        {"\0", 1, 1},
        {"\xC3\xA9", 2, 1},                     /* é */
        {"\xE2\x82\xAC", 3, 1},                 /* € */
        {"\xF0\x9F\x98\x80", 4, 1},             /* 😀 */
        {"\xED\x9F\xBF", 3, 1},                 /* U+D7FF, just below surrogates */
        {"\xEE\x80\x80", 3, 1},                 /* U+E000, just above */
        {"\xF4\x8F\xBF\xBF", 4, 1},             /* U+10FFFF */
        {"\xEF\xBF\xBF", 3, 1},                 /* U+FFFF */
        {"\xC0\x80", 2, 0},                     /* overlong NUL */
        {"\xC1\xBF", 2, 0},                     /* overlong */
        {"\xE0\x80\x80", 3, 0},                 /* overlong 3-byte */
        {"\xE0\x9F\xBF", 3, 0},                 /* overlong U+07FF */
        {"\xF0\x80\x80\x80", 4, 0},             /* overlong 4-byte */
        {"\xF0\x8F\xBF\xBF", 4, 0},             /* overlong U+FFFF */
        {"\xED\xA0\x80", 3, 0},                 /* surrogate D800 */
        {"\xED\xBF\xBF", 3, 0},                 /* surrogate DFFF */
        {"\xF4\x90\x80\x80", 4, 0},             /* U+110000 */
        {"\xF5\x80\x80\x80", 4, 0},
        {"\xFF", 1, 0},
        {"\xE2\x82", 2, 0},                     /* truncated € */
        {"\xF0\x9F\x98", 3, 0},                 /* truncated emoji */
        {"\xC3", 1, 0},
        {"\x80", 1, 0},                         /* lone continuation */
        {"\xC3\xA9\xA9", 3, 0},                 /* extra continuation */
        {"\xE2\x28\xA1", 3, 0},                 /* bad second byte */
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (text_utf8_valid(cases[i].s, cases[i].n) != cases[i].ok)
            fprintf(stderr, "  case %zu\n", i);
        CHECK_EQ_INT(text_utf8_valid(cases[i].s, cases[i].n), cases[i].ok);
    }
}

/* The 8-bytes-at-a-time loop must not skip a bad byte at any offset. */
TEST(test_valid_utf8_offsets)
{
    char buf[64];
    size_t len, at;

    for (len = 1; len <= 40; len++) {
        for (at = 0; at < len; at++) {
            memset(buf, 'a', len);
            buf[at] = (char)0x80;
            CHECK_EQ_INT(text_utf8_valid(buf, len), 0);
            buf[at] = (char)0xE2; /* truncated at the end, bad elsewhere */
            CHECK_EQ_INT(text_utf8_valid(buf, len), 0);
            buf[at] = 'b';
            CHECK_EQ_INT(text_utf8_valid(buf, len), 1);
        }
    }
}

/* Differential check against utf8proc's own strict decoder. */
TEST(test_valid_utf8_random)
{
    unsigned char buf[16];
    int t;

    rng_state = 1;
    for (t = 0; t < 200000; t++) {
        size_t n = 1 + rng() % sizeof buf, i;
        utf8proc_ssize_t pos = 0;
        int ref = 1;

        for (i = 0; i < n; i++) {
            /* Mostly high bytes, to hit the multi-byte rules often. */
            uint64_t r = rng();
            buf[i] = (unsigned char)((r & 3) == 0 ? (r >> 8) % 0x80 : 0x80 + (r >> 8) % 0x80);
        }
        while (pos < (utf8proc_ssize_t)n) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t l = utf8proc_iterate(buf + pos, (utf8proc_ssize_t)n - pos, &cp);
            if (l <= 0 || cp < 0) {
                ref = 0;
                break;
            }
            pos += l;
        }
        if (text_utf8_valid((const char *)buf, n) != ref) {
            CHECK_EQ_INT(text_utf8_valid((const char *)buf, n), ref);
            break;
        }
    }
}

/* ASCII fast path == general path: the plain string must normalise
 * exactly as the reference (one utf8proc_map over it) does. The same
 * string with U+200B after every byte must too, and must give the same
 * result as the plain one: zero-width spaces vanish without splitting
 * words, and switching paths at every byte changes nothing. */
static int ascii_paths_agree(const char *s, size_t n)
{
    char *slow_in = malloc(n * 4 + 1);
    size_t i, k = 0, fast_len, slow_len;
    char *fast, *slow;
    int ok;

    for (i = 0; i < n; i++) {
        slow_in[k++] = s[i];
        memcpy(slow_in + k, "\xE2\x80\x8B", 3);
        k += 3;
    }
    fast = text_normalize(s, n, &fast_len);
    slow = text_normalize(slow_in, k, &slow_len);
    ok = fast_len == slow_len && memcmp(fast, slow, fast_len) == 0 &&
         same_as_reference(s, n) && same_as_reference(slow_in, k);
    if (!ok)
        fprintf(stderr, "  fast \"%s\" slow \"%s\"\n", fast, slow);
    free(fast);
    free(slow);
    free(slow_in);
    return ok;
}

TEST(test_ascii_fast_path_matches_general)
{
    static const char *const samples[] = {
        "Hello, World!", "BUY cheap PILLS now!!!", "don't stop-believing",
        "http://bit.ly/AbC?x=1&y=2#frag", "  leading and trailing  ",
        "tabs\tand\nnewlines\r\n", "MiXeD123CaSe_under_score", "~`!@#$%^&*()_+-={}[]|\\:;\"'<>,.?/",
        "a", "", " ", "9", "Z",
    };
    char s[3];
    size_t i;
    int a, b, t;

    for (i = 0; i < sizeof samples / sizeof samples[0]; i++)
        CHECK(ascii_paths_agree(samples[i], strlen(samples[i])));
    /* Every ASCII byte alone, and every pair. */
    for (a = 0; a < 128; a++) {
        s[0] = (char)a;
        CHECK(ascii_paths_agree(s, 1));
        for (b = 0; b < 128; b++) {
            s[1] = (char)b;
            if (!ascii_paths_agree(s, 2)) {
                CHECK(0);
                return;
            }
        }
    }
    /* Random ASCII strings. */
    rng_state = 2;
    for (t = 0; t < 2000; t++) {
        char buf[80];
        size_t n = rng() % sizeof buf;
        for (i = 0; i < n; i++)
            buf[i] = (char)(rng() % 128);
        if (!ascii_paths_agree(buf, n)) {
            CHECK(0);
            return;
        }
    }
}

/* Every code point between two ASCII letters, and every canonical pair
 * (base + mark, Hangul L + V, ...), agrees with the reference. This is
 * what licenses text.c to copy "stable" code points without utf8proc. */
TEST(test_every_code_point_matches_reference)
{
    utf8proc_int32_t cp;
    long bad = 0, pairs = 0;

    for (cp = 0; cp < 0x110000; cp++) {
        unsigned char s[16];
        size_t l;

        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        s[0] = 'x';
        l = (size_t)utf8proc_encode_char(cp, s + 1);
        s[1 + l] = 'Y';
        if (!same_as_reference((const char *)s, l + 2) && bad++ < 5)
            fprintf(stderr, "  differs at U+%04X\n", (unsigned)cp);
        /* Canonical composites: check the decomposed pair as input too,
         * and that after mark stripping only Hangul composes. */
        {
            utf8proc_int32_t d[4], t[2];
            int last = 0;
            utf8proc_ssize_t k = utf8proc_decompose_char(cp, d, 4, UTF8PROC_DECOMPOSE, &last);
            if (k == 2) {
                t[0] = d[0];
                t[1] = d[1];
                if (utf8proc_normalize_utf32(t, 2, UTF8PROC_COMPOSE) == 1 && t[0] == cp) {
                    utf8proc_category_t c2 = utf8proc_category(d[1]);
                    size_t l1, l2;
                    pairs++;
                    if (!(c2 >= UTF8PROC_CATEGORY_MN && c2 <= UTF8PROC_CATEGORY_ME))
                        CHECK(d[1] >= 0x1161 && d[1] <= 0x11C2); /* Hangul V/T jamo */
                    l1 = (size_t)utf8proc_encode_char(d[0], s);
                    l2 = (size_t)utf8proc_encode_char(d[1], s + l1);
                    if (!same_as_reference((const char *)s, l1 + l2) && bad++ < 5)
                        fprintf(stderr, "  pair for U+%04X differs\n", (unsigned)cp);
                }
            }
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(pairs > 900); /* sanity: the composition table was really walked */
}

/* Random strings mixing ASCII with the kinds of code points that take the
 * different paths: stable letters, case-folded, compatibility, marks,
 * ignorables, Hangul jamo, emoji, unassigned. */
TEST(test_random_mixed_matches_reference)
{
    static const utf8proc_int32_t pool[] = {
        'a', 'Z', '0', ' ', '.', '\'', '\n', 0, 0x7F,
        0xE9, 0xC9, 0xDF, 0x130, 0x131, 0x3A3, 0x3C2, 0x3C3,  /* é É ß İ ı Σ ς σ */
        0x301, 0x308, 0x327, 0x345, 0x20DD,                    /* marks */
        0x200B, 0x200D, 0xFEFF, 0xAD, 0x180E,                  /* ignorables */
        0x416, 0x436, 0x439, 0x419, 0x306,                     /* Ж ж й Й breve */
        0x1100, 0x1161, 0x11A8, 0xAC00, 0xAC01, 0x3131, 0x314F, /* Hangul */
        0xFF21, 0xFF41, 0xFB01, 0x2460, 0xFDFA, 0x2126, 0x212B, /* compat */
        0x1F600, 0x1F3FB, 0xFE0F, 0x2764,                      /* emoji */
        0x4E2D, 0x3042, 0x30AB, 0x3099,                        /* CJK, kana + voicing mark */
        0x0915, 0x093F, 0x094D,                                /* Devanagari */
        0x0378, 0xE000, 0x10FFFF, 0x2028, 0x85, 0xA0,          /* odd ones */
    };
    int t;

    rng_state = 3;
    for (t = 0; t < 20000; t++) {
        unsigned char buf[200];
        size_t n = 0;
        int k, len = (int)(rng() % 24);
        for (k = 0; k < len; k++) {
            utf8proc_int32_t cp = pool[rng() % (sizeof pool / sizeof pool[0])];
            n += (size_t)utf8proc_encode_char(cp, buf + n);
        }
        if (!same_as_reference((const char *)buf, n)) {
            size_t l;
            char *got = text_normalize((const char *)buf, n, &l);
            char *ref = reference((const char *)buf, n);
            fprintf(stderr, "  got \"%s\" ref \"%s\"\n", got, ref);
            free(got);
            free(ref);
            CHECK(0);
            return;
        }
    }
}

/* Long non-ASCII stretches exceed text.c's stack buffer and take the heap
 * fallback; the result must not change. */
TEST(test_long_non_ascii)
{
    char buf[4096];
    size_t n = 0;

    while (n + 4 < sizeof buf) {
        /* "É" decomposed as E + U+0301: neither byte of it is "stable". */
        memcpy(buf + n, "\xC3\x89\xCC\x81", 4);
        n += 4;
    }
    CHECK(same_as_reference(buf, n));
}

/* The header requires valid input, but a caller bug must not crash or
 * spread invalid UTF-8: malformed bytes become separators. */
TEST(test_invalid_input_is_contained)
{
    static const char *const bad[] = {
        "ab\xC0\x80" "cd", "\xE0\x81\xA1", "x\xED\xA0\x80y", "\xF4\x90\x80\x80",
        "\xE2\x82", "\x80\x80\x80", "caf\xC3", "\xFF\xFEz",
    };
    size_t i, len;
    int t;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *s = text_normalize(bad[i], strlen(bad[i]), &len);
        CHECK(text_utf8_valid(s, len));
        free(s);
    }
    rng_state = 4;
    for (t = 0; t < 20000; t++) {
        char buf[32];
        size_t n = rng() % sizeof buf, k;
        char *s;
        for (k = 0; k < n; k++)
            buf[k] = (char)(rng() & 0xFF);
        s = text_normalize(buf, n, &len);
        if (!text_utf8_valid(s, len) || strlen(s) != len) {
            CHECK(0);
            free(s);
            return;
        }
        free(s);
    }
}

TEST(test_word_count)
{
    CHECK_EQ_INT(text_word_count("", 0), 0);
    CHECK_EQ_INT(text_word_count("one", 3), 1);
    CHECK_EQ_INT(text_word_count("one two", 7), 2);
    CHECK_EQ_INT(text_word_count("a b c d", 7), 4);
    /* Only the first len bytes count. */
    CHECK_EQ_INT(text_word_count("a b c d", 3), 2);
}

int main(void)
{
    RUN(test_disguises);
    RUN(test_separators);
    RUN(test_out_len_and_nul);
    RUN(test_valid_utf8);
    RUN(test_valid_utf8_offsets);
    RUN(test_valid_utf8_random);
    RUN(test_ascii_fast_path_matches_general);
    RUN(test_every_code_point_matches_reference);
    RUN(test_random_mixed_matches_reference);
    RUN(test_long_non_ascii);
    RUN(test_invalid_input_is_contained);
    RUN(test_word_count);
    return TEST_REPORT();
}
