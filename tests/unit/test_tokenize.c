/* test_tokenize.c - the tokenizer's contract (tokenize.h): which tokens a
 * comment gives, that the work is bounded whatever the bytes, and the
 * invariants the model relies on (distinct hashes, tok_hash of a token's
 * text is its hash, groups, fingerprints, reuse of a list). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenize.h"
#include "test.h"

/* A token text buffer: longer than any token (TOKEN_TEXT_MAX is 255). */
#define TEXT_BUF 512

static void run_n(tok_list *tl, const char *body, size_t n, const char *author_url)
{
    struct tok_input in;
    in.body = body;
    in.body_len = n;
    in.author_url = author_url;
    tok_run(tl, &in);
}

static void run(tok_list *tl, const char *body)
{
    run_n(tl, body, strlen(body), NULL);
}

/* Index of the token whose text is 'text', or -1. */
static long find(const tok_list *tl, const char *text)
{
    char buf[TEXT_BUF];
    size_t i;
    for (i = 0; i < tok_count(tl); i++) {
        size_t n = tok_text(tl, i, buf, sizeof buf);
        if (n == strlen(text) && memcmp(buf, text, n) == 0)
            return (long)i;
    }
    return -1;
}

static int has(const tok_list *tl, const char *text)
{
    return find(tl, text) >= 0;
}

/* Tokens whose text starts with 'prefix'. */
static size_t count_prefix(const tok_list *tl, const char *prefix)
{
    char buf[TEXT_BUF];
    size_t i, k = 0, pl = strlen(prefix);
    for (i = 0; i < tok_count(tl); i++) {
        tok_text(tl, i, buf, sizeof buf);
        if (strncmp(buf, prefix, pl) == 0)
            k++;
    }
    return k;
}

/* The text of the first token starting with 'prefix' ("" if none). */
static const char *first_prefix(const tok_list *tl, const char *prefix)
{
    static char buf[TEXT_BUF];
    size_t i, pl = strlen(prefix);
    for (i = 0; i < tok_count(tl); i++) {
        tok_text(tl, i, buf, sizeof buf);
        if (strncmp(buf, prefix, pl) == 0)
            return buf;
    }
    return "";
}

/* Words: tokens with no "x:" prefix. */
static size_t count_words(const tok_list *tl)
{
    char buf[TEXT_BUF];
    size_t i, k = 0;
    for (i = 0; i < tok_count(tl); i++) {
        size_t n = tok_text(tl, i, buf, sizeof buf);
        if (!(n >= 2 && buf[1] == ':'))
            k++;
    }
    return k;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The invariants every list must keep, whatever the body: at most
 * TOK_MAX tokens, no hash twice, tok_hash(tok_text) is the hash.
 * Returns 1 when all hold (so a loop can stop). */
static int invariants(const tok_list *tl)
{
    static uint64_t sorted[TOK_MAX];
    char buf[TEXT_BUF];
    size_t n = tok_count(tl), i;
    const uint64_t *h = tok_hashes(tl);
    int ok = 1;

    CHECK(n <= TOK_MAX);
    if (n > TOK_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        size_t len = tok_text(tl, i, buf, sizeof buf);
        CHECK(len < sizeof buf);
        if (len >= sizeof buf)
            return 0;
        if (tok_hash(buf, len) != h[i]) {
            fprintf(stderr, "  token %zu \"%s\": tok_hash differs from tok_hashes\n", i, buf);
            CHECK(tok_hash(buf, len) == h[i]);
            ok = 0;
        }
    }
    memcpy(sorted, h, n * sizeof *h);
    qsort(sorted, n, sizeof *sorted, cmp_u64);
    for (i = 1; i < n; i++)
        if (sorted[i] == sorted[i - 1]) {
            CHECK(sorted[i] != sorted[i - 1]);
            ok = 0;
            break;
        }
    return ok;
}

/* xorshift64*: reproducible pseudo-random bytes. */
static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* ---------- bad input ---------- */

TEST(test_invalid_utf8)
{
    tok_list *tl = tok_list_new();
    static const char *const bad[] = {
        "ok \xff\xfe good",            /* bytes that never appear in UTF-8 */
        "ok \xc0\xaf good",            /* overlong '/' */
        "ok \xed\xa0\x80 good",        /* a surrogate */
        "ok \xf4\x90\x80\x80 good",    /* above U+10FFFF */
        "ok \x80\x80 good",            /* lone continuation bytes */
        "ok good \xe2\x82",            /* cut in the middle of a character */
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof *bad; i++) {
        run(tl, bad[i]);
        CHECK(has(tl, "m:badutf8"));
        CHECK(has(tl, "ok"));
        CHECK(has(tl, "good"));
        invariants(tl);
    }
    run(tl, "ok good");
    CHECK(!has(tl, "m:badutf8"));
    tok_list_free(tl);
}

/* Random bytes, mixed with the fragments the tokenizer looks for, must
 * keep every invariant (and, under ASan, touch no byte out of bounds). */
TEST(test_random_bytes_are_contained)
{
    static const char *const frag[] = {
        "<a href=\"http://x.ru/p?q=1\">", "</a>", "<b>", "<", ">", "&amp;", "&#x1F600;", "&#",
        "&#99999999;", "&", "@", "joe@example.com", "bit.ly/x", "https://", "www.", ".co.uk",
        "0800 123 4567", "+", "(", "\xF0\x9F\x98\x82", "\xC3\xA9", "\xE2\x80\x8B", "\xff",
        "\xc0", "\xe2\x82", "\0", " ", "free", "!!!", "$", "aaaaaaaaaa", "\xd7\xa9\xd7\x9c",
    };
    static char body[4096];
    tok_list *tl = tok_list_new();
    int round;
    for (round = 0; round < 2000; round++) {
        size_t n = 0, target = (size_t)(rng() % sizeof body);
        while (n < target) {
            if (rng() % 3 == 0) {
                body[n++] = (char)(rng() & 0xFF);
            } else {
                const char *f = frag[rng() % (sizeof frag / sizeof *frag)];
                size_t l = f[0] ? strlen(f) : 1;
                if (n + l > target)
                    break;
                memcpy(body + n, f, l);
                n += l;
            }
        }
        run_n(tl, body, n, (round & 1) ? "http://user@Host.Example.co.uk:80/x" : NULL);
        if (!invariants(tl))
            break;
    }
    tok_list_free(tl);
}

TEST(test_nul_bytes)
{
    static const char body[] = "free\0money\0\0now";
    static const char nuls[16] = { 0 };
    tok_list *tl = tok_list_new();
    run_n(tl, body, sizeof body - 1, NULL);
    CHECK(has(tl, "free"));
    CHECK(has(tl, "money"));
    CHECK(has(tl, "now"));
    invariants(tl);
    run_n(tl, nuls, sizeof nuls, NULL);
    CHECK_EQ_INT(count_words(tl), 0);
    invariants(tl);
    run_n(tl, "", 0, NULL);
    CHECK_EQ_INT(count_words(tl), 0);
    invariants(tl);
    tok_list_free(tl);
}

/* A 1 MiB body: cut at TOK_MAX_INPUT, at most TOK_MAX tokens, quickly. */
TEST(test_huge_body_is_bounded)
{
    size_t n = (size_t)1 << 20, i;
    char *b = malloc(n);
    tok_list *tl = tok_list_new();
    clock_t t0;
    double secs;
    CHECK(b != NULL);
    if (!b) {
        tok_list_free(tl);
        return;
    }
    /* Distinct random words: the token budget runs out. */
    for (i = 0; i < n; i++)
        b[i] = i % 7 == 6 ? ' ' : (char)('a' + rng() % 26);
    t0 = clock();
    run_n(tl, b, n, NULL);
    secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(secs < 2.0);
    CHECK(tok_count(tl) <= TOK_MAX);
    CHECK(tok_count(tl) > TOK_MAX / 2);
    CHECK(has(tl, "m:truncated"));
    CHECK(!has(tl, "m:badutf8"));
    invariants(tl);

    /* One word over and over: few tokens, still truncated. */
    for (i = 0; i < n; i++)
        b[i] = "spam "[i % 5];
    run_n(tl, b, n, NULL);
    CHECK(has(tl, "m:truncated"));
    CHECK(has(tl, "spam"));
    invariants(tl);

    /* 4-byte emoji after one ASCII byte: the cut at TOK_MAX_INPUT falls
     * inside a character, which must not count as invalid UTF-8. */
    b[0] = 'x';
    for (i = 1; i + 4 <= n; i += 4)
        memcpy(b + i, "\xF0\x9F\x98\x82", 4);
    run_n(tl, b, i, NULL);
    CHECK(has(tl, "m:truncated"));
    CHECK(!has(tl, "m:badutf8"));
    CHECK(has(tl, "s:\xF0\x9F\x98\x82"));
    invariants(tl);

    /* Exactly TOK_MAX_INPUT bytes is not truncated; one more is. */
    memset(b, 'a', TOK_MAX_INPUT + 1);
    run_n(tl, b, TOK_MAX_INPUT, NULL);
    CHECK(!has(tl, "m:truncated"));
    run_n(tl, b, TOK_MAX_INPUT + 1, NULL);
    CHECK(has(tl, "m:truncated"));
    free(b);
    tok_list_free(tl);
}

/* ---------- what a body gives ---------- */

TEST(test_emoji_only)
{
    tok_list *tl = tok_list_new();
    run(tl, "\xF0\x9F\x98\x82\xF0\x9F\x98\x82\xF0\x9F\x8E\x89"); /* 😂😂🎉 */
    CHECK(has(tl, "s:\xF0\x9F\x98\x82"));
    CHECK(has(tl, "s:\xF0\x9F\x8E\x89"));
    CHECK_EQ_INT(count_words(tl), 0);
    CHECK_EQ_INT(count_prefix(tl, "c:"), 0);
    run(tl, "price \xC2\xA3" "5"); /* £ */
    CHECK(has(tl, "s:\xC2\xA3"));
    tok_list_free(tl);
}

TEST(test_url_only)
{
    tok_list *tl = tok_list_new();
    run(tl, "https://www.example.com/page");
    CHECK(has(tl, "u:host:example.com"));
    CHECK(has(tl, "u:dom:example.com"));
    CHECK(has(tl, "u:tld:com"));
    CHECK(has(tl, "u:scheme:https"));
    CHECK(has(tl, "u:path:page"));
    CHECK(!has(tl, "u:short"));
    /* The link's text is words too: "https", "www", "example", "com",
     * "page" (tokenize.c, make_plain). */
    CHECK_EQ_INT(count_words(tl), 5);
    CHECK(has(tl, "example"));

    run(tl, "http://bit.ly/abc");
    CHECK(has(tl, "u:host:bit.ly"));
    CHECK(has(tl, "u:dom:bit.ly"));
    CHECK(has(tl, "u:tld:ly"));
    CHECK(has(tl, "u:short"));
    CHECK(has(tl, "u:path:abc"));

    run(tl, "https://news.bbc.co.uk/sport");
    CHECK(has(tl, "u:host:news.bbc.co.uk"));
    CHECK(has(tl, "u:dom:bbc.co.uk"));
    CHECK(has(tl, "u:tld:uk"));
    run(tl, "bbc.co.uk/news");
    CHECK(has(tl, "u:dom:bbc.co.uk"));
    invariants(tl);
    tok_list_free(tl);
}

TEST(test_right_to_left)
{
    tok_list *tl = tok_list_new();
    run(tl, "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D \xD7\xA2\xD7\x95\xD7\x9C\xD7\x9D"); /* שלום עולם */
    CHECK(has(tl, "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D"));
    CHECK(has(tl, "\xD7\xA2\xD7\x95\xD7\x9C\xD7\x9D"));
    CHECK(has(tl, "b:\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D_\xD7\xA2\xD7\x95\xD7\x9C\xD7\x9D"));
    /* With niqqud (vowel marks): the same word. */
    run(tl, "\xD7\xA9\xD6\xB8\xD7\x81\xD7\x9C\xD7\x95\xD6\xB9\xD7\x9D");
    CHECK(has(tl, "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D"));
    /* مرحبا بالعالم */
    run(tl, "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 "
            "\xD8\xA8\xD8\xA7\xD9\x84\xD8\xB9\xD8\xA7\xD9\x84\xD9\x85");
    CHECK(has(tl, "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7"));
    CHECK(has(tl, "\xD8\xA8\xD8\xA7\xD9\x84\xD8\xB9\xD8\xA7\xD9\x84\xD9\x85"));
    invariants(tl);
    tok_list_free(tl);
}

TEST(test_disguises_map_to_the_word)
{
    static const char *const forms[] = {
        "\xEF\xBD\x86\xEF\xBD\x92\xEF\xBD\x85\xEF\xBD\x85", /* ｆｒｅｅ full-width */
        "FREE",
        "Free",
        "fr\xE2\x80\x8B" "ee",                                /* zero-width space */
        "f\xC2\xAD" "ree",                                    /* soft hyphen */
        "fr\xEF\xBB\xBF" "ee",                                /* U+FEFF inside */
        "fr\xC3\xA9" "e",                                     /* frée */
        "fre\xCC\x81" "e",                                    /* e + combining acute */
        "freeeeee",
        "&#102;ree",                                          /* an entity letter */
    };
    tok_list *tl = tok_list_new();
    size_t i;
    for (i = 0; i < sizeof forms / sizeof *forms; i++) {
        run(tl, forms[i]);
        if (!has(tl, "free"))
            fprintf(stderr, "  form %zu does not give \"free\"\n", i);
        CHECK(has(tl, "free"));
        CHECK_EQ_INT(count_words(tl), 1);
    }
    tok_list_free(tl);
}

TEST(test_html)
{
    tok_list *tl = tok_list_new();
    run(tl, "<b>free</b>");
    CHECK(has(tl, "free"));
    CHECK(has(tl, "h:b"));
    CHECK(!has(tl, "b")); /* the tag's text is dropped */
    run(tl, "line<br/>break <div class=\"x\">ok</div>");
    CHECK(has(tl, "h:br"));
    CHECK(has(tl, "h:div"));
    CHECK(!has(tl, "class"));
    CHECK(has(tl, "line"));
    CHECK(has(tl, "ok"));
    /* "a < b" and "<3" are prose, not tags. */
    run(tl, "i <3 you");
    CHECK_EQ_INT(count_prefix(tl, "h:"), 0);

    /* Entities are decoded: no "amp", no "39", no "x1f600". */
    run(tl, "fish &amp; chips");
    CHECK(has(tl, "fish"));
    CHECK(has(tl, "chips"));
    CHECK(!has(tl, "amp"));
    run(tl, "it&#39;s");
    CHECK(has(tl, "it"));
    CHECK(!has(tl, "39"));
    CHECK(!has(tl, "n:d2"));
    run(tl, "wow &#x1F600;");
    CHECK(has(tl, "s:\xF0\x9F\x98\x80"));
    CHECK(!has(tl, "x1f600"));
    CHECK(has(tl, "wow"));
    invariants(tl);
    tok_list_free(tl);
}

TEST(test_email)
{
    tok_list *tl = tok_list_new();
    run(tl, "joe@example.com");
    CHECK(has(tl, "e:dom:example.com"));
    CHECK(has(tl, "e:addr"));
    CHECK(!has(tl, "joe"));
    CHECK(!has(tl, "example"));
    CHECK(!has(tl, "u:host:example.com")); /* not a link */
    run(tl, "write to Joe.Bloggs@Example.COM now");
    CHECK(has(tl, "e:dom:example.com"));
    CHECK(!has(tl, "joe"));
    CHECK(!has(tl, "bloggs"));
    CHECK(has(tl, "write"));
    CHECK(has(tl, "now"));
    tok_list_free(tl);
}

TEST(test_phone)
{
    tok_list *tl = tok_list_new();
    run(tl, "0800 123 4567");
    CHECK(has(tl, "p:d11"));
    /* One phone number is one phone shape, not one per digit group
     * ("123 4567" is not a second, 7-digit number). */
    CHECK_EQ_INT(count_prefix(tl, "p:"), 1);
    run(tl, "call +44 20 7946 0958");
    CHECK(has(tl, "p:d12"));
    CHECK_EQ_INT(count_prefix(tl, "p:"), 1);
    run(tl, "call 555-1234");
    CHECK(has(tl, "p:d7"));
    run(tl, "pi is 3.14 and 42");
    CHECK_EQ_INT(count_prefix(tl, "p:"), 0);
    CHECK(has(tl, "n:d2"));
    run(tl, "win 100");
    CHECK(has(tl, "100"));
    CHECK(has(tl, "n:d3"));
    tok_list_free(tl);
}

/* "n:d5" is the shape of a 5-digit number, and only runs of equal
 * letters are squashed: "10000" is neither "100" nor "n:d3". */
TEST(test_numbers_not_squashed)
{
    tok_list *tl = tok_list_new();
    run(tl, "win 10000");
    CHECK(has(tl, "10000"));
    CHECK(has(tl, "n:d5"));
    CHECK(!has(tl, "100"));
    run(tl, "1000 or 100");
    CHECK(has(tl, "1000"));
    CHECK(has(tl, "n:d4"));
    tok_list_free(tl);
}

TEST(test_repeats_pairs_ngrams)
{
    tok_list *tl = tok_list_new();
    run(tl, "freeeeee");
    CHECK(has(tl, "free"));
    CHECK(!has(tl, "freeeeee"));
    run(tl, "soooo good");
    CHECK(has(tl, "soo"));
    run(tl, "call now");
    CHECK(has(tl, "b:call_now"));
    CHECK(!has(tl, "b:now_call"));

    /* 2- to 4-grams of "_free_" (tokenize.h): 5 + 4 + 3, all distinct. */
    run(tl, "free");
    CHECK(has(tl, "c:_f"));
    CHECK(has(tl, "c:_fr"));
    CHECK(has(tl, "c:_fre"));
    CHECK(has(tl, "c:ree_"));
    CHECK(!has(tl, "c:_free")); /* 5 characters: beyond the range */
    CHECK_EQ_INT(count_prefix(tl, "c:"), 12);

    run(tl, "abc");
    CHECK_EQ_INT(count_prefix(tl, "c:"), 9); /* 4 + 3 + 2 of "_abc_" */
    /* Short words have n-grams too, across the spaces. */
    run(tl, "ok a no");
    CHECK(has(tl, "ok"));
    CHECK(has(tl, "a"));
    CHECK(has(tl, "c:k_a_"));
    /* N-grams count characters, not bytes: "_привет_" has 7 + 6 + 5. */
    run(tl, "\xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82"); /* привет */
    CHECK(has(tl, "c:_\xD0\xBF\xD1\x80"));
    CHECK(has(tl, "c:\xD0\xB5\xD1\x82_"));
    CHECK_EQ_INT(count_prefix(tl, "c:"), 18);
    tok_list_free(tl);
}

TEST(test_metadata)
{
    tok_list *tl = tok_list_new();

    run(tl, "hello there");
    CHECK_EQ_INT(count_prefix(tl, "m:links:"), 1);
    CHECK_EQ_INT(count_prefix(tl, "m:words:"), 1);
    CHECK_EQ_INT(count_prefix(tl, "a:"), 0);
    run(tl, "");
    CHECK_EQ_INT(count_prefix(tl, "m:links:"), 1);
    CHECK_EQ_INT(count_prefix(tl, "m:words:"), 1);

    run_n(tl, "hello", 5, "https://www.example.com/x");
    CHECK(has(tl, "a:dom:example.com"));
    CHECK(has(tl, "a:url"));
    run_n(tl, "hello", 5, "http://blog.bbc.co.uk");
    CHECK(has(tl, "a:dom:bbc.co.uk"));
    run_n(tl, "hello", 5, "");
    CHECK_EQ_INT(count_prefix(tl, "a:"), 0);

    run(tl, "FREE MONEY NOW");
    CHECK(has(tl, "m:caps:4"));
    run(tl, "free money now");
    CHECK(has(tl, "m:caps:0"));
    invariants(tl);
    tok_list_free(tl);
}

/* The m:links: and m:words: buckets (tokenize.c emit_bucket: "0, 1, 2,
 * 3-4, 5-8, ..."): no link, one link and two are different facts. */
TEST(test_metadata_buckets)
{
    tok_list *tl = tok_list_new();
    char links0[TEXT_BUF], links1[TEXT_BUF], links2[TEXT_BUF];
    char words0[TEXT_BUF], words1[TEXT_BUF], words2[TEXT_BUF], words20[TEXT_BUF];

    run(tl, "hello there");
    snprintf(links0, sizeof links0, "%s", first_prefix(tl, "m:links:"));
    snprintf(words2, sizeof words2, "%s", first_prefix(tl, "m:words:"));
    run(tl, "see http://a.com");
    snprintf(links1, sizeof links1, "%s", first_prefix(tl, "m:links:"));
    run(tl, "http://a.com http://b.com");
    snprintf(links2, sizeof links2, "%s", first_prefix(tl, "m:links:"));
    /* No link, one link and two links are different facts. */
    CHECK(strcmp(links0, links1) != 0);
    CHECK(strcmp(links1, links2) != 0);
    CHECK(strcmp(links0, links2) != 0);

    run(tl, "");
    snprintf(words0, sizeof words0, "%s", first_prefix(tl, "m:words:"));
    run(tl, "hello");
    snprintf(words1, sizeof words1, "%s", first_prefix(tl, "m:words:"));
    run(tl, "a b c d e f g h i j k l m n o p q r s t");
    snprintf(words20, sizeof words20, "%s", first_prefix(tl, "m:words:"));
    CHECK(strcmp(words0, words1) != 0);
    CHECK(strcmp(words1, words2) != 0);
    CHECK(strcmp(words2, words20) != 0);
    tok_list_free(tl);
}

/* ---------- invariants ---------- */

static const char *const samples[] = {
    "Call now free",
    "FREE entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005. Text FA to 87121",
    "check out my channel www.youtube.com/user/x <a href=\"http://bit.ly/abc\">here</a>",
    "joe@example.com or +44 20 7946 0958 &amp; &#x1F600; \xF0\x9F\x98\x82 \xC2\xA3" "100!!!",
    "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D \xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 \xE8\xA6\x8B\xE3\x81\xA6",
    "free free free free call now call now",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa longword",
    "ok \xff bad \xc0\xaf utf8",
};

TEST(test_distinct_and_hash_matches_text)
{
    tok_list *tl = tok_list_new();
    size_t i;
    for (i = 0; i < sizeof samples / sizeof *samples; i++) {
        run(tl, samples[i]);
        CHECK(tok_count(tl) > 0);
        invariants(tl);
    }
    run_n(tl, samples[0], strlen(samples[0]), "https://www.example.com/x");
    invariants(tl);
    /* tok_text cuts to the buffer and still returns the full length. */
    {
        char small[4];
        long k;
        run(tl, "free");
        k = find(tl, "c:ee_");
        CHECK(k >= 0);
        if (k >= 0) {
            CHECK_EQ_INT(tok_text(tl, (size_t)k, small, sizeof small), 5);
            CHECK_EQ_STR(small, "c:e");
            CHECK_EQ_INT(tok_text(tl, (size_t)k, NULL, 0), 5);
        }
    }
    tok_list_free(tl);
}

/* Character n-grams run over the whole normalised text, across the
 * spaces between words ('_'), 2 to 4 characters, with the text's ends
 * marked; runs of letters are squashed first, as in words. */
TEST(test_text_ngrams)
{
    tok_list *tl = tok_list_new();
    char d[TOK_DESCRIBE_MAX];
    long k;

    run(tl, "Call NOW!!");
    CHECK(has(tl, "c:_c"));
    CHECK(has(tl, "c:ca"));
    CHECK(has(tl, "c:l_"));
    CHECK(has(tl, "c:l_n"));   /* across the space */
    CHECK(has(tl, "c:ll_n"));
    CHECK(has(tl, "c:_now"));
    CHECK(has(tl, "c:now_"));
    CHECK(!has(tl, "c:_call")); /* 5 characters: beyond the range */
    CHECK(!has(tl, "c:a"));     /* 1 character: below it */
    CHECK(has(tl, "b:call_now"));
    k = find(tl, "c:l_n");
    CHECK(k >= 0);
    if (k >= 0) {
        tok_describe(tl, (size_t)k, d, sizeof d);
        CHECK_EQ_STR(d, "\"l n\" (part of the text)");
    }
    k = find(tl, "b:call_now");
    if (k >= 0) {
        tok_describe(tl, (size_t)k, d, sizeof d);
        CHECK_EQ_STR(d, "\"call now\"");
    }
    run(tl, "freeeee");
    CHECK(has(tl, "freee") == 0);
    CHECK(has(tl, "free"));
    CHECK(has(tl, "c:ee_"));
    CHECK(!has(tl, "c:eee"));
    invariants(tl);
    tok_list_free(tl);
}

/* A link's text is words and n-grams too, besides its u: tokens. */
TEST(test_link_text_kept)
{
    tok_list *tl = tok_list_new();
    run(tl, "see http://bit.ly/abc now");
    CHECK(has(tl, "u:host:bit.ly"));
    CHECK(has(tl, "bit"));
    CHECK(has(tl, "ly"));
    CHECK(has(tl, "abc"));
    CHECK(has(tl, "c:_abc"));
    invariants(tl);
    tok_list_free(tl);
}

/* A long body fills the budget with words and pairs first, then the
 * shortest n-grams: never more than TOK_MAX, and the text's first words
 * are in. */
TEST(test_budget_order)
{
    static char body[TOK_MAX_INPUT];
    tok_list *tl = tok_list_new();
    size_t n = 0;
    for (int w = 0; n + 12 < sizeof body; w++)
        n += (size_t)snprintf(body + n, sizeof body - n, "w%d ", w);
    run_n(tl, body, n, NULL);
    CHECK_EQ_INT(tok_count(tl), TOK_MAX);
    CHECK(has(tl, "w0"));
    CHECK(has(tl, "b:w0_w1"));
    invariants(tl);
    tok_list_free(tl);
}

TEST(test_fingerprint)
{
    tok_list *a = tok_list_new(), *b = tok_list_new();
    char fa[33], fb[33], fc[33];
    size_t i;
    run(a, samples[1]);
    run(b, samples[1]);
    tok_fingerprint(a, fa);
    tok_fingerprint(b, fb);
    CHECK_EQ_STR(fa, fb);
    CHECK_EQ_INT(strlen(fa), 32);
    for (i = 0; i < 32; i++)
        CHECK((fa[i] >= '0' && fa[i] <= '9') || (fa[i] >= 'a' && fa[i] <= 'f'));
    run(b, samples[0]);
    tok_fingerprint(b, fc);
    CHECK(strcmp(fa, fc) != 0);
    /* One more word is another comment. */
    run(b, "Call now free money");
    tok_fingerprint(b, fb);
    CHECK(strcmp(fb, fc) != 0);
    /* The same tokens are the same comment: case and disguise do not count. */
    run(a, "FREE now"); /* under 8 letters: no m:caps */
    run(b, "fr\xE2\x80\x8B" "ee n\xC3\xB3w");
    tok_fingerprint(a, fa);
    tok_fingerprint(b, fb);
    CHECK_EQ_STR(fa, fb);
    tok_list_free(a);
    tok_list_free(b);
}

/* Two long comments whose token budget runs out before they differ have
 * the same tokens, hence the same fingerprint (the text beyond the
 * tokens' reach is not part of it); shorter ones differing anywhere do
 * not. */
TEST(test_fingerprint_past_the_budget)
{
    static char a[4096], b[4096];
    tok_list *ta = tok_list_new(), *tb = tok_list_new();
    size_t n = 0;
    for (int w = 0; w < 262; w++)
        n += (size_t)snprintf(a + n, sizeof a - n, "word%d ", w);
    memcpy(b, a, n);
    memcpy(a + n, "tail one", 8);
    memcpy(b + n, "tail two", 8);
    run_n(ta, a, n + 8, NULL);
    run_n(tb, b, n + 8, NULL);
    CHECK_EQ_INT(tok_count(ta), TOK_MAX);
    CHECK_EQ_INT(tok_count(tb), TOK_MAX);
    CHECK(memcmp(tok_hashes(ta), tok_hashes(tb), TOK_MAX * sizeof(uint64_t)) == 0);
    char fa[33], fb[33];
    tok_fingerprint(ta, fa);
    tok_fingerprint(tb, fb);
    CHECK_EQ_STR(fa, fb);
    run(ta, "word0 word1 tail one");
    run(tb, "word0 word1 tail two");
    tok_fingerprint(ta, fa);
    tok_fingerprint(tb, fb);
    CHECK(strcmp(fa, fb) != 0);
    tok_list_free(ta);
    tok_list_free(tb);
}

/* A list used for a long, link-heavy body and then reused gives exactly
 * what a fresh list gives. */
TEST(test_reuse_matches_fresh)
{
    static char big[TOK_MAX_INPUT + 100];
    tok_list *reused = tok_list_new();
    size_t i, j;
    for (i = 0; i + 20 <= sizeof big; i += 20)
        memcpy(big + i, "http://x.ru/aa bbb  ", 20);
    for (i = 0; i < sizeof samples / sizeof *samples; i++) {
        tok_list *fresh = tok_list_new();
        run_n(reused, big, sizeof big, "http://example.org");
        run(reused, samples[i]);
        run(fresh, samples[i]);
        CHECK_EQ_INT(tok_count(reused), tok_count(fresh));
        if (tok_count(reused) != tok_count(fresh)) {
            tok_list_free(fresh);
            continue;
        }
        CHECK(memcmp(tok_hashes(reused), tok_hashes(fresh), tok_count(fresh) * sizeof(uint64_t)) == 0);
        for (j = 0; j < tok_count(fresh); j++) {
            char ta[TEXT_BUF], tb[TEXT_BUF];
            tok_text(reused, j, ta, sizeof ta);
            tok_text(fresh, j, tb, sizeof tb);
            CHECK_EQ_STR(ta, tb);
        }
        tok_list_free(fresh);
    }
    tok_list_free(reused);
    tok_list_free(NULL);
}


/* What a check's reason says about each kind of token. */
TEST(test_describe)
{
    tok_list *tl = tok_list_new();
    run(tl, "Call now 0800 123 4567 or see http://bit.ly/x \xc2\xa3" "100");
    char d[TOK_DESCRIBE_MAX];
    size_t i, found = 0;
    for (i = 0; i < tok_count(tl); i++) {
        char t[TEXT_BUF];
        tok_text(tl, i, t, sizeof t);
        tok_describe(tl, i, d, sizeof d);
        if (!strcmp(t, "call"))
            { CHECK_EQ_STR(d, "\"call\""); found++; }
        else if (!strcmp(t, "b:call_now"))
            { CHECK_EQ_STR(d, "\"call now\""); found++; }
        else if (!strcmp(t, "c:_ca"))
            { CHECK_EQ_STR(d, "\"ca\" (part of the text)"); found++; }
        else if (!strcmp(t, "u:host:bit.ly"))
            { CHECK_EQ_STR(d, "a link to bit.ly"); found++; }
        else if (!strcmp(t, "u:short"))
            { CHECK_EQ_STR(d, "a link shortener"); found++; }
        else if (!strcmp(t, "p:d11"))
            { CHECK_EQ_STR(d, "a phone number"); found++; }
        else if (!strcmp(t, "s:\xc2\xa3"))
            { CHECK_EQ_STR(d, "\xc2\xa3"); found++; }
    }
    CHECK_EQ_INT(found, 7);
    /* A small buffer cuts, and stays NUL-terminated. */
    CHECK_EQ_INT(tok_describe(tl, 0, d, 4), 3);
    CHECK_EQ_INT(strlen(d), 3);
    tok_list_free(tl);
}

int main(void)
{
    RUN(test_invalid_utf8);
    RUN(test_random_bytes_are_contained);
    RUN(test_nul_bytes);
    RUN(test_huge_body_is_bounded);
    RUN(test_emoji_only);
    RUN(test_url_only);
    RUN(test_right_to_left);
    RUN(test_disguises_map_to_the_word);
    RUN(test_html);
    RUN(test_email);
    RUN(test_phone);
    RUN(test_numbers_not_squashed);
    RUN(test_repeats_pairs_ngrams);
    RUN(test_metadata);
    RUN(test_metadata_buckets);
    RUN(test_distinct_and_hash_matches_text);
    RUN(test_text_ngrams);
    RUN(test_link_text_kept);
    RUN(test_budget_order);
    RUN(test_describe);
    RUN(test_fingerprint);
    RUN(test_fingerprint_past_the_budget);
    RUN(test_reuse_matches_fresh);
    return TEST_REPORT();
}
