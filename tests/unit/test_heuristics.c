/* test_heuristics.c - each rule fires at its boundary and not below it,
 * floors force decisions, details read well, and random input cannot
 * crash the whole filter pipeline. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heuristics.h"
#include "links.h"
#include "test.h"
#include "text.h"

/* Run the heuristics on 'body' as the service would: normalise, then
 * heur_run with a neutral prior. */
static void run(const struct heur_config *c, const char *body, const char *honeypot,
                struct verdict *v, int *nlinks)
{
    struct heur_input in;
    size_t nl;
    char *norm = text_normalize(body, strlen(body), &nl);

    in.body = body;
    in.body_len = strlen(body);
    in.norm = norm;
    in.norm_len = nl;
    in.author_url = NULL;
    in.honeypot = honeypot;
    verdict_init(v, 0.5);
    heur_run(c, &in, v, nlinks);
    free(norm);
}

/* The reason with this code, or NULL. */
static const struct reason *reason(const struct verdict *v, const char *code)
{
    int i;
    for (i = 0; i < v->nreasons; i++)
        if (strcmp(v->reasons[i].code, code) == 0)
            return &v->reasons[i];
    return NULL;
}

/* Does 'body' fire the rule 'code' with the defaults? */
static int fires(const char *body, const char *code)
{
    struct heur_config c;
    struct verdict v;

    heur_defaults(&c);
    run(&c, body, NULL, &v, NULL);
    return reason(&v, code) != NULL;
}

TEST(test_defaults)
{
    struct heur_config c;

    heur_defaults(&c);
    CHECK_NEAR(c.w.link, 0.5, 0);
    CHECK_NEAR(c.w.link_cap, 2.0, 0);
    CHECK_NEAR(c.w.link_only, 2.0, 0);
    CHECK_NEAR(c.w.link_density, 1.0, 0);
    CHECK_NEAR(c.w.too_many_links, 1.5, 0);
    CHECK_NEAR(c.w.blocked_word, 6.0, 0);
    CHECK_NEAR(c.w.suspect_word, 1.5, 0);
    CHECK_NEAR(c.w.honeypot, 8.0, 0);
    CHECK_NEAR(c.w.shouting, 1.0, 0);
    CHECK_NEAR(c.w.repeated_chars, 0.5, 0);
    CHECK_NEAR(c.w.duplicate, 2.5, 0);
    CHECK_EQ_INT(c.max_links, 2);
    CHECK_EQ_INT(c.shout_min_letters, 20);
    CHECK_NEAR(c.shout_ratio, 0.7, 0);
    CHECK_EQ_INT(c.repeat_min_run, 6);
    CHECK(c.blocked == NULL && c.suspect == NULL);
}

TEST(test_clean_comment_has_no_reasons)
{
    struct heur_config c;
    struct verdict v;
    int n = -1;

    heur_defaults(&c);
    run(&c, "Thanks for the write-up, it helped me fix my build. Cheers!", NULL, &v, &n);
    CHECK_EQ_INT(v.nreasons, 0);
    CHECK_EQ_INT(n, 0);
    CHECK_NEAR(v.logit, 0.0, 1e-12);
}

TEST(test_honeypot)
{
    struct heur_config c;
    struct thresholds t = {0.5, 0.9};
    struct verdict v;
    const struct reason *r;

    heur_defaults(&c);
    run(&c, "hello there friends", NULL, &v, NULL);
    CHECK(reason(&v, "honeypot") == NULL);
    run(&c, "hello there friends", "", &v, NULL);
    CHECK(reason(&v, "honeypot") == NULL);
    run(&c, "hello there friends", "x", &v, NULL);
    r = reason(&v, "honeypot");
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_STR(r->filter, "honeypot");
        CHECK_EQ_INT(r->floor, DEC_REJECT);
        CHECK_NEAR(r->contribution, 8.0, 0);
        CHECK_EQ_STR(r->detail, "the hidden honeypot field was filled in");
    }
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_REJECT);
}

TEST(test_word_lists)
{
    struct heur_config c;
    struct thresholds t = {0.5, 0.9};
    struct verdict v;
    const struct reason *r;
    wordlist *blocked = wordlist_new(), *suspect = wordlist_new();
    char err[64];

    CHECK_EQ_INT(wordlist_add(blocked, "casino", err, sizeof err), 0);
    CHECK_EQ_INT(wordlist_add(suspect, "buy followers", err, sizeof err), 0);
    heur_defaults(&c);
    c.blocked = blocked;
    c.suspect = suspect;
    /* Zero weights: only the floors act, so the decisions prove them. */
    c.w.blocked_word = 0;
    c.w.suspect_word = 0;

    run(&c, "a classic first-class pass", NULL, &v, NULL);
    CHECK_EQ_INT(v.nreasons, 0);

    run(&c, "Play at our C\xE2\x80\x8B" "ASINO tonight", NULL, &v, NULL);
    r = reason(&v, "blocked_word");
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_STR(r->filter, "words");
        CHECK_EQ_STR(r->detail, "blocked word \"casino\"");
        CHECK_EQ_INT(r->floor, DEC_REJECT);
    }
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_REJECT);

    run(&c, "BUY followers!! cheap", NULL, &v, NULL);
    r = reason(&v, "suspect_word");
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_STR(r->detail, "suspect word \"buy followers\"");
        CHECK_EQ_INT(r->floor, DEC_HOLD);
    }
    CHECK(reason(&v, "blocked_word") == NULL);
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_HOLD);

    /* The default weights add their log-odds. */
    heur_defaults(&c);
    c.blocked = blocked;
    run(&c, "casino", NULL, &v, NULL);
    CHECK_NEAR(v.logit, 6.0, 1e-12);

    wordlist_free(blocked);
    wordlist_free(suspect);
}

TEST(test_link_weight_and_cap)
{
    struct heur_config c;
    struct verdict v;
    const struct reason *r;
    int n = 0;

    heur_defaults(&c);
    c.max_links = -1; /* isolate the per-link rule */
    run(&c, "I wrote about this at length here: http://blog.example.com/post and more", NULL, &v, &n);
    CHECK_EQ_INT(n, 1);
    r = reason(&v, "links");
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_STR(r->filter, "links");
        CHECK_NEAR(r->contribution, 0.5, 1e-12);
        CHECK_EQ_STR(r->detail, "1 link: blog.example.com");
        CHECK_EQ_INT(r->floor, DEC_ACCEPT);
    }
    run(&c, "a b c d e f g h i j k l m n o p q r s t u v w x y z http://a.com http://b.com "
            "http://c.com http://d.com http://e.com", NULL, &v, &n);
    CHECK_EQ_INT(n, 5);
    r = reason(&v, "links");
    CHECK(r != NULL);
    if (r) {
        CHECK_NEAR(r->contribution, 2.0, 1e-12); /* 5 * 0.5 capped at 2.0 */
        CHECK_EQ_STR(r->detail, "5 links: a.com, b.com, c.com, d.com, e.com");
    }
    /* No link: no reason at all. */
    run(&c, "nothing to see here", NULL, &v, &n);
    CHECK(reason(&v, "links") == NULL);
    CHECK_EQ_INT(n, 0);
}

TEST(test_too_many_links)
{
    struct heur_config c;
    struct thresholds t = {0.99, 0.999};
    struct verdict v;
    const struct reason *r;
    const char *two = "Sources for this claim are http://a.com and http://b.com, both worth "
                      "reading in full before you decide anything about it.";
    const char *three = "Sources for this claim are http://a.com and http://b.com and "
                        "http://c.com, all worth reading in full before you decide.";

    heur_defaults(&c);
    run(&c, two, NULL, &v, NULL);
    CHECK(reason(&v, "too_many_links") == NULL); /* 2 is not more than 2 */
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_ACCEPT);
    run(&c, three, NULL, &v, NULL);
    r = reason(&v, "too_many_links");
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_INT(r->floor, DEC_HOLD);
        CHECK_NEAR(r->contribution, 1.5, 0);
        CHECK_EQ_STR(r->detail, "3 links, more than the site's limit of 2");
    }
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_HOLD);

    /* No limit. */
    c.max_links = -1;
    run(&c, three, NULL, &v, NULL);
    CHECK(reason(&v, "too_many_links") == NULL);
    /* Zero: any link holds; with zero weight the reason is still there
     * because its floor still acts. */
    c.max_links = 0;
    c.w.too_many_links = 0;
    run(&c, "I wrote about this at length here: http://blog.example.com/post", NULL, &v, NULL);
    r = reason(&v, "too_many_links");
    CHECK(r != NULL);
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_HOLD);
}

TEST(test_link_only)
{
    CHECK(fires("http://bit.ly/abc", "link_only"));
    CHECK(fires("nice http://bit.ly/abc", "link_only"));
    CHECK(fires("great post http://bit.ly/abc", "link_only"));
    CHECK(!fires("great post, thanks http://bit.ly/abc", "link_only"));
    /* Anchor text is text the reader sees; markup is not. */
    CHECK(fires("<a href=\"http://x.ru\">cheap pills</a>", "link_only"));
    CHECK(!fires("<a href=\"http://x.ru\">the cheapest pills anywhere</a>", "link_only"));
    /* Zero-width spaces do not turn one word into many. */
    CHECK(fires("c\xE2\x80\x8Bh\xE2\x80\x8B" "e\xE2\x80\x8B" "ap http://x.ru", "link_only"));
    CHECK(!fires("just some words here", "link_only"));
}

TEST(test_link_density)
{
    /* Two links and 9 words: 0.22 links per word, over 0.2. */
    CHECK(fires("one two three four five six seven eight nine http://a.com http://b.com",
                "link_density"));
    /* Two links and 10 words: exactly 0.2, not over. */
    CHECK(!fires("one two three four five six seven eight nine ten http://a.com http://b.com",
                 "link_density"));
    /* One link never counts as dense. */
    CHECK(!fires("one http://a.com", "link_density"));
}

/* A string of 'letters' letters of which 'upper' are capitals, padded with
 * spaces every 5 letters. */
static const char *letters(int total, int upper)
{
    static char buf[256];
    int i, n = 0;
    for (i = 0; i < total; i++) {
        if (i && i % 5 == 0)
            buf[n++] = ' ';
        buf[n++] = i < upper ? 'A' + (char)(i % 26) : 'a' + (char)(i % 26);
    }
    buf[n] = '\0';
    return buf;
}

TEST(test_shouting)
{
    struct heur_config c;
    struct verdict v;
    const struct reason *r;

    CHECK(fires(letters(20, 20), "shouting"));
    CHECK(!fires(letters(19, 19), "shouting"));  /* too few letters */
    CHECK(fires(letters(20, 14), "shouting"));   /* 70% exactly */
    CHECK(!fires(letters(20, 13), "shouting"));  /* 65% */
    CHECK(!fires("OK LOL", "shouting"));
    /* Non-ASCII capitals count: Cyrillic in caps. */
    CHECK(fires("\xD0\x9A\xD0\xA3\xD0\x9F\xD0\x98\xD0\xA2\xD0\x95 \xD0\x94\xD0\x95\xD0\xA8\xD0\x81\xD0\x92\xD0\x9E "
                "\xD0\x9F\xD0\xA0\xD0\xAF\xD0\x9C\xD0\x9E \xD0\xA1\xD0\x95\xD0\x99\xD0\xA7\xD0\x90\xD0\xA1",
                "shouting")); /* КУПИТЕ ДЕШЁВО ПРЯМО СЕЙЧАС */
    CHECK(!fires("\xD0\x9A\xD1\x83\xD0\xBF\xD0\xB8\xD1\x82\xD0\xB5 \xD0\xB4\xD0\xB5\xD1\x88\xD1\x91\xD0\xB2\xD0\xBE "
                 "\xD0\xBF\xD1\x80\xD1\x8F\xD0\xBC\xD0\xBE \xD1\x81\xD0\xB5\xD0\xB9\xD1\x87\xD0\xB0\xD1\x81",
                 "shouting")); /* Купите дешёво прямо сейчас */
    /* Uncased scripts never shout, and do not dilute a few capitals. */
    CHECK(!fires("\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87"
                 "\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87"
                 "\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87", "shouting"));

    heur_defaults(&c);
    run(&c, "THIS IS THE BEST OFFER YOU WILL EVER SEE", NULL, &v, NULL);
    r = reason(&v, "shouting");
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_STR(r->filter, "style");
        CHECK_NEAR(r->contribution, 1.0, 0);
        CHECK_EQ_STR(r->detail, "32 of 32 letters are upper case");
    }
    /* A zero weight means the rule adds nothing, not a zero reason. */
    c.w.shouting = 0;
    run(&c, "THIS IS THE BEST OFFER YOU WILL EVER SEE", NULL, &v, NULL);
    CHECK(reason(&v, "shouting") == NULL);
}

TEST(test_repeated_chars)
{
    struct heur_config c;
    struct verdict v;
    const struct reason *r;

    CHECK(fires("wow!!!!!!", "repeated_chars"));     /* 6 */
    CHECK(!fires("wow!!!!!", "repeated_chars"));     /* 5 */
    CHECK(fires("sooooooo good", "repeated_chars"));
    CHECK(!fires("sooo good!!!", "repeated_chars"));
    CHECK(!fires("it cost $1000000", "repeated_chars"));
    CHECK(!fires("title\n----------\n==========\nbody", "repeated_chars"));
    CHECK(!fires("a          b\n\n\n\n\n\n\nc", "repeated_chars"));
    CHECK(fires("\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80",
                "repeated_chars")); /* six 😀 */

    heur_defaults(&c);
    run(&c, "buy now!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!! ok", NULL, &v, NULL);
    r = reason(&v, "repeated_chars");
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ_STR(r->filter, "style");
        CHECK_NEAR(r->contribution, 0.5, 0);
        CHECK_EQ_STR(r->detail, "\"!!!!!!!!!!\"... (40 in a row)");
    }
    run(&c, "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", NULL, &v, NULL);
    r = reason(&v, "repeated_chars");
    CHECK(r != NULL);
    if (r)
        CHECK_EQ_STR(r->detail, "\"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\" (7 in a row)");
}

TEST(test_detail_truncated_on_utf8_boundary)
{
    struct heur_config c;
    struct verdict v;
    wordlist *blocked = wordlist_new();
    char phrase[201], err[64];
    const struct reason *r;
    size_t i;

    /* A blocked phrase of 66 three-byte characters (198 bytes) quoted in
     * a 160-byte detail must be cut before a character. */
    for (i = 0; i + 3 <= 198; i += 3)
        memcpy(phrase + i, "\xE4\xB8\xAD", 3);
    phrase[i] = '\0';
    CHECK_EQ_INT(wordlist_add(blocked, phrase, err, sizeof err), 0);
    heur_defaults(&c);
    c.blocked = blocked;
    run(&c, phrase, NULL, &v, NULL);
    r = reason(&v, "blocked_word");
    CHECK(r != NULL);
    if (r) {
        size_t len = strlen(r->detail);
        CHECK(len <= REASON_DETAIL_MAX - 1);
        CHECK(text_utf8_valid(r->detail, len));
        CHECK(strncmp(r->detail, "blocked word \"", 14) == 0);
        CHECK_EQ_INT((len - 14) % 3, 0);
    }
    wordlist_free(blocked);
}

TEST(test_fingerprint)
{
    char a[33], b[33];

    heur_fingerprint("", 0, a);
    CHECK_EQ_STR(a, "cae66941d9efbd404e4d88758ea67670"); /* BLAKE2b-128("") */
    heur_fingerprint("buy cheap pills", 15, a);
    CHECK_EQ_STR(a, "3c86bfdbd5a47176b9babed9b27a1205");
    heur_fingerprint("buy cheap pills", 15, b);
    CHECK_EQ_STR(a, b);
    heur_fingerprint("buy cheap pill", 14, b);
    CHECK(strcmp(a, b) != 0);
    CHECK_EQ_INT(strlen(a), 32);
}

static uint64_t rng_state = 11;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* 10,000 pseudo-random inputs built from fragments that the filters care
 * about (URLs, tags, '@', dots, multi-byte characters, runs) mixed with
 * raw random bytes, some cut at a random point. Valid ones go through the
 * whole pipeline, invalid ones must be rejected by text_utf8_valid; under
 * ASan/UBSan this is a crash and overflow test. The results must also be
 * internally consistent. */
TEST(test_random_inputs_robust)
{
    static const char *const frags[] = {
        "http://", "https://", "www.", ".com", ".ru", "bit.ly/", "<a href=\"", "\">", "</a>",
        "<a ", "href=", "'", "\"", ">", "<", "@", ".", "..", "/", ":", " ", "\n", "!!!!!!!",
        "casino", "CASINO", "buy followers", "viagra", "x", "3.14", "e.g.", "(", ")",
        "\xC3\xA9", "\xE2\x80\x8B", "\xEF\xBB\xBF", "\xF0\x9F\x98\x80", "\xCC\x81",
        "\xE1\x84\x80", "\xE1\x85\xA1", "\xEF\xB7\xBA", "\xD0\x96", "\xE4\xB8\xAD",
    };
    struct heur_config c;
    wordlist *blocked = wordlist_new(), *suspect = wordlist_new();
    char err[64];
    int t, valid = 0, invalid = 0;

    CHECK_EQ_INT(wordlist_add(blocked, "casino", err, sizeof err), 0);
    CHECK_EQ_INT(wordlist_add(blocked, "viagr*", err, sizeof err), 0);
    CHECK_EQ_INT(wordlist_add(suspect, "buy followers", err, sizeof err), 0);
    heur_defaults(&c);
    c.blocked = blocked;
    c.suspect = suspect;

    for (t = 0; t < 10000; t++) {
        char buf[700];
        size_t n = 0, cap = 1 + rng() % (sizeof buf - 8);
        int nl = 0;

        while (n < cap) {
            uint64_t r = rng();
            if (r % 4 == 0) {
                /* A random byte: mostly ASCII, sometimes any byte. */
                buf[n++] = (char)((r >> 8) % 64 == 0 ? (r >> 16) & 0xFF : (r >> 16) & 0x7F);
            } else {
                const char *f = frags[rng() % (sizeof frags / sizeof frags[0])];
                size_t fl = strlen(f);
                if (n + fl > cap)
                    break;
                memcpy(buf + n, f, fl);
                n += fl;
            }
        }
        if (rng() % 3 == 0 && n > 0)
            n = rng() % n; /* truncate anywhere, often mid-character */

        if (!text_utf8_valid(buf, n)) {
            invalid++;
            continue;
        }
        valid++;
        {
            /* Exact-size heap copy so ASan sees any read past the end. */
            char *body = malloc(n ? n : 1);
            size_t norm_len;
            char *norm;
            struct heur_input in;
            struct links_info li;
            struct verdict v;
            char fp[33];
            int i;

            memcpy(body, buf, n);
            norm = text_normalize(body, n, &norm_len);
            CHECK(text_utf8_valid(norm, norm_len));
            CHECK_EQ_INT(strlen(norm), norm_len);
            CHECK(norm_len == 0 || (norm[0] != ' ' && norm[norm_len - 1] != ' '));
            CHECK(strstr(norm, "  ") == NULL);

            links_scan(body, n, &li);
            CHECK(li.count >= 0 && li.count <= 1000);
            CHECK(li.nhosts >= 0 && li.nhosts <= LINKS_MAX_HOSTS && li.nhosts <= li.count);
            CHECK(li.link_bytes <= n);
            for (i = 0; i < li.nhosts; i++)
                CHECK(strlen(li.hosts[i]) < LINKS_HOST_MAX);

            in.body = body;
            in.body_len = n;
            in.norm = norm;
            in.norm_len = norm_len;
            in.author_url = NULL;
            in.honeypot = (t % 7 == 0) ? "filled" : NULL;
            verdict_init(&v, 0.2);
            heur_run(&c, &in, &v, &nl);
            CHECK_EQ_INT(nl, li.count);
            CHECK(verdict_score(&v) >= 0.0 && verdict_score(&v) <= 1.0);
            for (i = 0; i < v.nreasons; i++) {
                CHECK(text_utf8_valid(v.reasons[i].detail, strlen(v.reasons[i].detail)));
                CHECK(v.reasons[i].contribution != 0.0 || v.reasons[i].floor != DEC_ACCEPT);
            }
            heur_fingerprint(norm, norm_len, fp);
            CHECK_EQ_INT(strlen(fp), 32);
            free(norm);
            free(body);
        }
        if (test_cur_failed)
            break;
    }
    /* Both kinds were really produced. */
    CHECK(valid > 1000);
    CHECK(invalid > 1000);
    wordlist_free(blocked);
    wordlist_free(suspect);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    RUN(test_defaults);
    RUN(test_clean_comment_has_no_reasons);
    RUN(test_honeypot);
    RUN(test_word_lists);
    RUN(test_link_weight_and_cap);
    RUN(test_too_many_links);
    RUN(test_link_only);
    RUN(test_link_density);
    RUN(test_shouting);
    RUN(test_repeated_chars);
    RUN(test_detail_truncated_on_utf8_boundary);
    RUN(test_fingerprint);
    RUN(test_random_inputs_robust);
    return TEST_REPORT();
}
