/* test_bayes.c - the classifier's contract (bayes.h): token probabilities,
 * monotonicity, symmetry, honest "no opinion", the top lists, evidence
 * groups and the bounds on extreme input. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bayes.h"
#include "test.h"

#define N 2000 /* more than BAYES_MAX_TOKENS */

static double spam[N], ham[N];
static uint16_t grp[N];

static struct bayes_params defaults(void)
{
    struct bayes_params p;
    bayes_defaults(&p);
    return p;
}

static struct bayes_result classify(const struct bayes_params *p, size_t n, double nspam,
                                    double nham)
{
    struct bayes_result r;
    bayes_classify(p, spam, ham, NULL, 0, n, nspam, nham, &r);
    return r;
}

static struct bayes_result classify_groups(const struct bayes_params *p, size_t ngroups, size_t n,
                                           double nspam, double nham)
{
    struct bayes_result r;
    bayes_classify(p, spam, ham, grp, ngroups, n, nspam, nham, &r);
    return r;
}

static void set(size_t i, uint32_t s, uint32_t h)
{
    spam[i] = s;
    ham[i] = h;
}

static void reset(void)
{
    memset(spam, 0, sizeof spam);
    memset(ham, 0, sizeof ham);
    memset(grp, 0, sizeof grp);
}

static int in_unit(double p)
{
    return isfinite(p) && p >= 0.0 && p <= 1.0;
}

/* xorshift64*: reproducible pseudo-random numbers. */
static uint64_t rng_state = UINT64_C(0x2545f4914f6cdd1d);

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* ---------- parameters and token probabilities ---------- */

TEST(test_defaults)
{
    struct bayes_params p = defaults();
    CHECK_NEAR(p.s, 1.0, 0);
    CHECK_NEAR(p.x, 0.5, 0);
    CHECK_NEAR(p.min_dev, 0.1, 0);
    CHECK_EQ_INT(p.max_discriminators, 150);
    CHECK_EQ_INT(p.min_learns, 20);
    CHECK_EQ_INT(p.min_tokens, 1);
}

TEST(test_token_prob)
{
    struct bayes_params p = defaults();
    double prev;
    uint32_t k;

    /* Unseen: the background belief. */
    CHECK_NEAR(bayes_token_prob(&p, 0, 0, 100, 100), 0.5, 0);
    p.x = 0.3;
    CHECK_NEAR(bayes_token_prob(&p, 0, 0, 100, 100), 0.3, 0);
    p = defaults();

    CHECK(bayes_token_prob(&p, 1, 0, 100, 100) > 0.5);
    CHECK(bayes_token_prob(&p, 0, 1, 100, 100) < 0.5);
    /* s = 1: a token seen once, in one class only, is 0.75 (bayes.c). */
    CHECK_NEAR(bayes_token_prob(&p, 1, 0, 100, 100), 0.75, 1e-12);
    CHECK_NEAR(bayes_token_prob(&p, 0, 1, 100, 100), 0.25, 1e-12);
    CHECK_NEAR(bayes_token_prob(&p, 7, 7, 100, 100), 0.5, 1e-12);

    /* More observations move it further from x, never past 0 or 1. */
    prev = 0.5;
    for (k = 1; k <= 1000; k++) {
        double f = bayes_token_prob(&p, k, 0, 1000, 1000);
        if (!(f > prev && f < 1.0)) {
            CHECK(f > prev && f < 1.0);
            break;
        }
        prev = f;
    }
    prev = 0.5;
    for (k = 1; k <= 1000; k++) {
        double f = bayes_token_prob(&p, 0, k, 1000, 1000);
        if (!(f < prev && f > 0.0)) {
            CHECK(f < prev && f > 0.0);
            break;
        }
        prev = f;
    }
    /* The same leaning (3:1), seen more often, is more certain. */
    CHECK(bayes_token_prob(&p, 30, 10, 100, 100) > bayes_token_prob(&p, 3, 1, 100, 100));

    /* Class sizes are divided out: 10 of 100 spam against 10 of 1000 ham
     * leans spam, and the other way round ham. */
    CHECK(bayes_token_prob(&p, 10, 10, 100, 1000) > 0.5);
    CHECK(bayes_token_prob(&p, 10, 10, 1000, 100) < 0.5);
    CHECK(bayes_token_prob(&p, 10, 100, 100, 1000) > 0.45);
    CHECK(bayes_token_prob(&p, 10, 100, 100, 1000) < 0.55);
}

TEST(test_token_prob_extremes)
{
    struct bayes_params p = defaults();
    CHECK(in_unit(bayes_token_prob(&p, UINT32_MAX, 0, UINT32_MAX, UINT32_MAX)));
    CHECK(in_unit(bayes_token_prob(&p, 0, UINT32_MAX, UINT32_MAX, UINT32_MAX)));
    CHECK(in_unit(bayes_token_prob(&p, UINT32_MAX, UINT32_MAX, 1, 1)));
    CHECK(in_unit(bayes_token_prob(&p, UINT32_MAX, 1, UINT64_MAX, UINT64_MAX)));
    CHECK(in_unit(bayes_token_prob(&p, 1, 0, UINT64_MAX, 1)));
    /* Counts above the class total (a corrupt model) stay a probability. */
    CHECK(in_unit(bayes_token_prob(&p, 500, 0, 20, 20)));
    CHECK(bayes_token_prob(&p, 500, 0, 20, 20) > 0.5);
    CHECK(in_unit(bayes_token_prob(&p, 500, 3, 20, 20)));
    CHECK(in_unit(bayes_token_prob(&p, 500, 500, 20, 20)));
    /* s = 0: no smoothing, still in [0, 1]. */
    p.s = 0;
    CHECK(in_unit(bayes_token_prob(&p, 5, 0, 20, 20)));
    CHECK(in_unit(bayes_token_prob(&p, 0, 5, 20, 20)));
}

/* ---------- the classifier ---------- */

TEST(test_basic_verdicts)
{
    struct bayes_params p = defaults();
    struct bayes_result r;
    reset();
    set(0, 50, 0);
    set(1, 40, 1);
    set(2, 0, 0);
    r = classify(&p, 3, 100, 100);
    CHECK_EQ_INT(r.opinion, 1);
    CHECK(r.p > 0.9);
    CHECK_EQ_INT(r.used, 2); /* the unseen token takes no part */
    set(0, 0, 50);
    set(1, 1, 40);
    r = classify(&p, 3, 100, 100);
    CHECK_EQ_INT(r.opinion, 1);
    CHECK(r.p < 0.1);
}

TEST(test_no_opinion)
{
    struct bayes_params p = defaults();
    struct bayes_result r;
    reset();
    set(0, 50, 0);
    set(1, 30, 0);

    /* Below min_learns in either class. */
    r = classify(&p, 2, 19, 1000);
    CHECK_EQ_INT(r.opinion, 0);
    CHECK_NEAR(r.p, 0.5, 0);
    CHECK_EQ_INT(r.used, 0);
    r = classify(&p, 2, 1000, 19);
    CHECK_EQ_INT(r.opinion, 0);
    CHECK_NEAR(r.p, 0.5, 0);
    r = classify(&p, 2, 0, 0);
    CHECK_EQ_INT(r.opinion, 0);
    CHECK_NEAR(r.p, 0.5, 0);
    r = classify(&p, 2, 20, 20); /* exactly min_learns: an opinion */
    CHECK_EQ_INT(r.opinion, 1);
    p.min_learns = 0;
    r = classify(&p, 2, 0, 100); /* no spam at all: still nothing to compare */
    CHECK_EQ_INT(r.opinion, 0);
    CHECK_NEAR(r.p, 0.5, 0);
    p = defaults();

    /* No tokens; only unseen tokens; only neutral tokens. */
    r = classify(&p, 0, 100, 100);
    CHECK_EQ_INT(r.opinion, 0);
    CHECK_NEAR(r.p, 0.5, 0);
    reset();
    r = classify(&p, 10, 100, 100);
    CHECK_EQ_INT(r.opinion, 0);
    CHECK_NEAR(r.p, 0.5, 0);
    CHECK_EQ_INT(r.used, 0);
    CHECK_EQ_INT(r.nspam_top + r.nham_top, 0);
    set(0, 10, 10);
    set(1, 20, 20);
    set(2, 11, 10); /* 0.5 within min_dev */
    r = classify(&p, 3, 100, 100);
    CHECK_EQ_INT(r.opinion, 0);
    CHECK_NEAR(r.p, 0.5, 0);

    /* Fewer informative tokens than min_tokens. */
    reset();
    set(0, 50, 0);
    set(1, 0, 50);
    p.min_tokens = 3;
    r = classify(&p, 2, 100, 100);
    CHECK_EQ_INT(r.opinion, 0);
    CHECK_NEAR(r.p, 0.5, 0);
    set(2, 40, 0);
    r = classify(&p, 3, 100, 100);
    CHECK_EQ_INT(r.opinion, 1);
}

/* Random comments: 1..40 tokens with counts 0..60 of 100 per class. */
static size_t random_comment(void)
{
    size_t n = 1 + (size_t)(rng() % 40), i;
    for (i = 0; i < n; i++) {
        uint64_t kind = rng() % 4;
        if (kind == 0)
            set(i, 0, 0);
        else
            set(i, (uint32_t)(rng() % 61), (uint32_t)(rng() % 61));
    }
    return n;
}

/* Adding spam evidence to a token that is a clue before and after never
 * lowers p (balanced classes; the cap does not bind). */
TEST(test_monotone)
{
    struct bayes_params p = defaults();
    int round, tried = 0;
    reset();
    for (round = 0; round < 50000; round++) {
        size_t n = random_comment(), i = (size_t)(rng() % n);
        uint64_t nl = 61 + rng() % 200; /* above every count: a sound model */
        double f0, f1;
        struct bayes_result a, b;
        if (spam[i] + ham[i] == 0)
            continue;
        f0 = bayes_token_prob(&p, spam[i], ham[i], nl, nl);
        f1 = bayes_token_prob(&p, spam[i] + 1, ham[i], nl, nl);
        if (!(f1 > f0)) {
            CHECK(f1 > f0);
            break;
        }
        if (fabs(f0 - 0.5) < p.min_dev || fabs(f1 - 0.5) < p.min_dev)
            continue;
        tried++;
        a = classify(&p, n, nl, nl);
        spam[i]++;
        b = classify(&p, n, nl, nl);
        if (!(b.p >= a.p - 1e-12)) {
            fprintf(stderr, "  round %d: token %zu spam %g->%g ham %g: p %.12f -> %.12f\n", round, i,
                    spam[i] - 1, spam[i], ham[i], a.p, b.p);
            CHECK(b.p >= a.p - 1e-12);
            break;
        }
    }
    CHECK(tried > 10000);

    /* Replacing a hammy token by a spammy one raises p. */
    reset();
    set(0, 20, 2);
    set(1, 3, 30);
    set(2, 5, 5);
    set(3, 0, 12);
    {
        struct bayes_result a = classify(&p, 4, 100, 100), b;
        set(3, 12, 0);
        b = classify(&p, 4, 100, 100);
        CHECK(b.p > a.p);
        CHECK_EQ_INT(a.used, b.used);
    }

    /* Unbalanced classes (10:1 either way): the token probability still
     * rises with spam evidence and falls with ham evidence. */
    CHECK(bayes_token_prob(&p, 1, 100, 1000, 100) > bayes_token_prob(&p, 0, 100, 1000, 100));
    CHECK(bayes_token_prob(&p, 100, 1, 100, 1000) < bayes_token_prob(&p, 100, 0, 100, 1000));
    CHECK(bayes_token_prob(&p, 6, 3, 1000, 100) > bayes_token_prob(&p, 5, 3, 1000, 100));
    CHECK(bayes_token_prob(&p, 6, 3, 100, 1000) > bayes_token_prob(&p, 5, 3, 100, 1000));
}

/* The result depends on the tokens, not on their order. */
TEST(test_order_independent)
{
    struct bayes_params p = defaults();
    static double s2[N], h2[N];
    int round;
    reset();
    for (round = 0; round < 5000; round++) {
        size_t n = random_comment(), i;
        struct bayes_result a, b;
        for (i = 0; i < n; i++) {
            s2[n - 1 - i] = spam[i];
            h2[n - 1 - i] = ham[i];
        }
        a = classify(&p, n, 100, 100);
        bayes_classify(&p, s2, h2, NULL, 0, n, 100, 100, &b);
        if (!(fabs(a.p - b.p) <= 1e-9)) {
            CHECK_NEAR(a.p, b.p, 1e-9);
            break;
        }
    }
}

/* Also when max_discriminators cuts among equally extreme clues: tokens
 * seen once in one class (f = 0.75 or 0.25, the same |f - 0.5|) are the
 * commonest clues of all, and which of them are kept must not depend on
 * where they stand. 100 tokens seen once in spam and 100 seen once in ham,
 * cap 150: the same p whichever come first, because every clue as extreme
 * as the weakest one kept is kept too (all 200 here). */
TEST(test_order_independent_at_cap)
{
    struct bayes_params p = defaults();
    struct bayes_result a, b;
    size_t i;
    reset();
    for (i = 0; i < 200; i++)
        set(i, i < 100, i >= 100);
    a = classify(&p, 200, 100, 100);
    for (i = 0; i < 200; i++)
        set(i, i >= 100, i < 100);
    b = classify(&p, 200, 100, 100);
    CHECK_EQ_INT(a.used, 200);
    if (!(fabs(a.p - b.p) <= 1e-9))
        fprintf(stderr, "  spam first: p %.6f, ham first: p %.6f\n", a.p, b.p);
    CHECK_NEAR(a.p, b.p, 1e-9);

    /* The smallest case: cap 2 among three tied clues. */
    p.max_discriminators = 2;
    reset();
    set(0, 1, 0);
    set(1, 0, 1);
    set(2, 1, 0);
    a = classify(&p, 3, 100, 100);
    set(0, 0, 1);
    set(1, 1, 0);
    b = classify(&p, 3, 100, 100);
    CHECK_NEAR(a.p, b.p, 1e-9);
}

TEST(test_symmetry)
{
    struct bayes_params p = defaults();
    static double s2[N], h2[N];
    int round;
    reset();
    for (round = 0; round < 5000; round++) {
        size_t n = random_comment(), i;
        uint64_t ns = 20 + rng() % 200, nh = 20 + rng() % 200;
        struct bayes_result a, b;
        bayes_classify(&p, spam, ham, NULL, 0, n, ns, nh, &a);
        for (i = 0; i < n; i++) {
            s2[i] = ham[i];
            h2[i] = spam[i];
        }
        bayes_classify(&p, s2, h2, NULL, 0, n, nh, ns, &b);
        CHECK_EQ_INT(a.opinion, b.opinion);
        CHECK_EQ_INT(a.used, b.used);
        if (!(fabs(b.p - (1 - a.p)) <= 1e-9)) {
            CHECK_NEAR(b.p, 1 - a.p, 1e-9);
            break;
        }
        CHECK_EQ_INT(a.nspam_top, b.nham_top);
    }
}

TEST(test_extremes)
{
    struct bayes_params p = defaults();
    struct bayes_result r;
    size_t i;

    reset();
    set(0, UINT32_MAX, 0);
    set(1, UINT32_MAX - 1, 1);
    set(2, 0, UINT32_MAX);
    r = classify(&p, 1, UINT32_MAX, UINT32_MAX);
    CHECK(in_unit(r.p));
    CHECK(r.p > 0.5);
    r = classify(&p, 3, UINT32_MAX, UINT32_MAX);
    CHECK(in_unit(r.p));
    r = classify(&p, 3, UINT64_MAX, UINT64_MAX);
    CHECK(in_unit(r.p));

    /* 1000 tokens, all strongly spam: a certain verdict, still a number. */
    for (i = 0; i < 1000; i++)
        set(i, 1000, 0);
    r = classify(&p, 1000, 1000, 1000);
    CHECK(in_unit(r.p));
    CHECK(r.p > 0.99);
    CHECK_EQ_INT(r.used, 1000); /* all as extreme as the 150th: all kept */
    p.max_discriminators = 1000;
    r = classify(&p, 1000, 1000, 1000);
    CHECK(in_unit(r.p));
    CHECK(r.p > 0.99);
    CHECK_EQ_INT(r.used, 1000);
    for (i = 0; i < 1000; i++)
        set(i, UINT32_MAX, 0);
    r = classify(&p, 1000, UINT32_MAX, UINT32_MAX);
    CHECK(in_unit(r.p));
    CHECK(r.p > 0.99);
    /* Half certain spam, half certain ham: unsure, not NaN. */
    for (i = 0; i < 1000; i += 2)
        set(i, 0, UINT32_MAX);
    r = classify(&p, 1000, UINT32_MAX, UINT32_MAX);
    CHECK(in_unit(r.p));
    CHECK(fabs(r.p - 0.5) < 0.1);

    /* Counts above the class totals. */
    for (i = 0; i < 100; i++)
        set(i, 5000, (uint32_t)(i % 3));
    r = classify(&p, 100, 20, 20);
    CHECK(in_unit(r.p));
    CHECK(r.p > 0.5);

    /* More tokens than BAYES_MAX_TOKENS: the rest are ignored. */
    for (i = 0; i < N; i++)
        set(i, (uint32_t)(i % 50), (uint32_t)(i % 7));
    r = classify(&p, N, 100, 100);
    CHECK(in_unit(r.p));
    CHECK(r.used <= BAYES_MAX_TOKENS);

    /* s = 0 gives tokens of f = 0 or 1: clamped, still finite. */
    p = defaults();
    p.s = 0;
    reset();
    set(0, 5, 0);
    set(1, 0, 5);
    set(2, 7, 0);
    r = classify(&p, 3, 100, 100);
    CHECK(in_unit(r.p));
    CHECK_EQ_INT(r.opinion, 1);
}

/* The top lists: most extreme first, and each index names its token. */
TEST(test_top_lists)
{
    struct bayes_params p = defaults();
    struct bayes_result r;
    size_t order[16], i, k;
    int j;
    /* 8 spammy tokens (spam 1..8) and 8 hammy (ham 1..8), in a shuffled
     * order: token order[k] has strength k % 8 + 1. */
    for (i = 0; i < 16; i++)
        order[i] = i;
    for (i = 15; i > 0; i--) {
        size_t t = (size_t)(rng() % (i + 1)), x = order[i];
        order[i] = order[t];
        order[t] = x;
    }
    reset();
    for (k = 0; k < 16; k++) {
        uint32_t c = (uint32_t)(k % 8 + 1);
        if (k < 8)
            set(order[k], c, 0);
        else
            set(order[k], 0, c);
    }
    r = classify(&p, 16, 100, 100);
    CHECK_EQ_INT(r.nspam_top, BAYES_TOP);
    CHECK_EQ_INT(r.nham_top, BAYES_TOP);
    for (j = 0; j < r.nspam_top; j++) {
        size_t idx = r.spam_top[j].index;
        CHECK(idx < 16);
        CHECK_EQ_INT(spam[idx], 8 - j); /* the strongest first */
        CHECK_EQ_INT(ham[idx], 0);
        CHECK_NEAR(r.spam_top[j].f, bayes_token_prob(&p, spam[idx], ham[idx], 100, 100), 1e-6);
        CHECK(r.spam_top[j].f > 0.5);
        if (j)
            CHECK(r.spam_top[j].f < r.spam_top[j - 1].f);
    }
    for (j = 0; j < r.nham_top; j++) {
        size_t idx = r.ham_top[j].index;
        CHECK(idx < 16);
        CHECK_EQ_INT(ham[idx], 8 - j);
        CHECK_EQ_INT(spam[idx], 0);
        CHECK_NEAR(r.ham_top[j].f, bayes_token_prob(&p, spam[idx], ham[idx], 100, 100), 1e-6);
        CHECK(r.ham_top[j].f < 0.5);
        if (j)
            CHECK(r.ham_top[j].f > r.ham_top[j - 1].f);
    }

    /* Only spam evidence: no ham entries; fewer than BAYES_TOP. */
    reset();
    set(3, 2, 0);
    set(5, 9, 0);
    set(6, 4, 0);
    r = classify(&p, 8, 100, 100);
    CHECK_EQ_INT(r.nspam_top, 3);
    CHECK_EQ_INT(r.nham_top, 0);
    CHECK_EQ_INT(r.spam_top[0].index, 5);
    CHECK_EQ_INT(r.spam_top[1].index, 6);
    CHECK_EQ_INT(r.spam_top[2].index, 3);
}

TEST(test_groups)
{
    struct bayes_params p = defaults();
    struct bayes_result one, grouped, separate, ident;
    size_t i, n = 6;

    reset();
    set(0, 9, 1);
    one = classify(&p, 1, 100, 100);
    for (i = 0; i < n; i++) {
        set(i, 9, 1);
        grp[i] = 0;
    }
    grouped = classify_groups(&p, 1, n, 100, 100);
    separate = classify(&p, n, 100, 100);
    CHECK_EQ_INT(one.opinion, 1);
    CHECK_NEAR(grouped.p, one.p, 1e-12); /* one clue, said six times */
    CHECK_EQ_INT(grouped.used, 1);
    CHECK_EQ_INT(separate.used, (int)n);
    CHECK(separate.p > grouped.p + 0.01); /* six clues: more certain */

    /* Every token its own group is the same as no groups. */
    for (i = 0; i < n; i++) {
        set(i, (uint32_t)(3 * i + 1), (uint32_t)(i % 2 ? 0 : 7));
        grp[i] = (uint16_t)i;
    }
    ident = classify_groups(&p, n, n, 100, 100);
    separate = classify(&p, n, 100, 100);
    CHECK_NEAR(ident.p, separate.p, 1e-12);
    CHECK_EQ_INT(ident.used, separate.used);

    /* A group is named by its first token; unseen members do not dilute
     * it; groups that never appear are fine. */
    reset();
    set(0, 0, 40);          /* group 2: a hammy word */
    grp[0] = 2;
    set(1, 0, 0);           /* group 5: a word never seen ... */
    grp[1] = 5;
    set(2, 30, 0);          /* ... whose n-grams are spammy */
    grp[2] = 5;
    set(3, 30, 0);
    grp[3] = 5;
    one = classify_groups(&p, 8, 4, 100, 100);
    CHECK_EQ_INT(one.used, 2);
    CHECK_EQ_INT(one.nspam_top, 1);
    CHECK_EQ_INT(one.nham_top, 1);
    CHECK_EQ_INT(one.spam_top[0].index, 1);
    CHECK_EQ_INT(one.ham_top[0].index, 0);
    CHECK_NEAR(one.spam_top[0].f, bayes_token_prob(&p, 30, 0, 100, 100), 1e-9);
}

TEST(test_max_discriminators)
{
    struct bayes_params p = defaults();
    struct bayes_result r, strong;
    size_t i;

    reset();
    for (i = 0; i < 200; i++)
        set(i, (uint32_t)(i % 40 + 1), 0);
    r = classify(&p, 200, 100, 100);
    CHECK_EQ_INT(r.used, 150);
    p.max_discriminators = 10;
    r = classify(&p, 200, 100, 100);
    CHECK_EQ_INT(r.used, 10);
    p.max_discriminators = 1;
    r = classify(&p, 200, 100, 100);
    CHECK_EQ_INT(r.used, 5); /* the five tokens seen 40 times tie for first */

    /* The ones kept are the most extreme: 10 strong spam tokens among 100
     * milder ham ones decide alone. */
    reset();
    for (i = 0; i < 10; i++)
        set(i, 50, 0);
    p.max_discriminators = 10;
    strong = classify(&p, 10, 100, 100);
    for (i = 10; i < 110; i++)
        set(i, 0, 2);
    /* Shuffle the strong ones among the mild ones. */
    for (i = 0; i < 10; i++) {
        size_t t = 10 + (size_t)(rng() % 100);
        double s = spam[i], h = ham[i];
        set(i, spam[t], ham[t]);
        set(t, s, h);
    }
    r = classify(&p, 110, 100, 100);
    CHECK_EQ_INT(r.used, 10);
    CHECK_NEAR(r.p, strong.p, 1e-12);
    CHECK(r.p > 0.9);
    CHECK_EQ_INT(r.nham_top, 0);

    /* Random strengths, all different: the result with a cap of k is the
     * result of the k most extreme tokens alone. */
    {
        static double ks[N], kh[N];
        int round;
        for (round = 0; round < 200; round++) {
            size_t n = 20 + (size_t)(rng() % 200), kept = 0;
            size_t cap = 1 + (size_t)(rng() % 30), c;
            /* Strength c (a count) for token i: distinct, shuffled. */
            for (i = 0; i < n; i++)
                set(i, 0, 0);
            for (c = 1; c <= n; c++) {
                size_t t;
                do
                    t = (size_t)(rng() % n);
                while (spam[t] || ham[t]);
                if (c % 2)
                    set(t, (uint32_t)c, 0);
                else
                    set(t, 0, (uint32_t)c);
            }
            p.max_discriminators = (int)cap;
            r = classify(&p, n, 1000, 1000);
            for (i = 0; i < n; i++)
                if (cap >= n || spam[i] + ham[i] > n - cap) {
                    ks[kept] = spam[i];
                    kh[kept] = ham[i];
                    kept++;
                }
            bayes_classify(&p, ks, kh, NULL, 0, kept, 1000, 1000, &strong);
            CHECK_EQ_INT(r.used, (int)(cap < n ? cap : n));
            if (!(fabs(r.p - strong.p) <= 1e-9)) {
                CHECK_NEAR(r.p, strong.p, 1e-9);
                break;
            }
        }
    }
}

/* Counts are doubles (a starter blended at a capped strength makes them
 * fractional): a fraction of a count leans as far as its share says, and
 * whole-valued doubles give what whole counts always gave. */
static void test_fractional_counts(void)
{
    struct bayes_params p = defaults();
    double half = bayes_token_prob(&p, 0.5, 0, 100, 100), one = bayes_token_prob(&p, 1, 0, 100, 100);
    CHECK(half > 0.5 && half < one);
    CHECK_NEAR(one, 0.75, 1e-12);                                    /* as with integer counts */
    CHECK_NEAR(half, (1 * 0.5 + 0.5 * 1.0) / (1 + 0.5), 1e-12);       /* (s x + n p) / (s + n) */
    CHECK_NEAR(bayes_token_prob(&p, 0.3, 0.3, 30, 30), 0.5, 1e-12);
    /* Scaling every count and total by the same factor keeps p, and
     * smoothing pulls the scaled-down token harder toward x. */
    CHECK(bayes_token_prob(&p, 2.5, 0.5, 25, 25) < bayes_token_prob(&p, 25, 5, 250, 250));
    /* min_learns applies to the (blended, fractional) totals. */
    reset();
    set(0, 5, 0);
    spam[0] = 19.5;
    CHECK_EQ_INT(classify(&p, 1, 19.5, 100).opinion, 0);
    CHECK_EQ_INT(classify(&p, 1, 20.0, 100).opinion, 1);
}

/* The logit is the tie-free score: it has p's sign, it is 0 without an
 * opinion, and it keeps apart comments whose p are both all but 1. */
static void test_logit(void)
{
    struct bayes_params p = defaults();
    struct bayes_result a, b, none;
    reset();
    none = classify(&p, 0, 100, 100);
    CHECK_EQ_INT(none.opinion, 0);
    CHECK_NEAR(none.logit, 0, 0);
    for (size_t i = 0; i < 40; i++)
        set(i, 90, 0);
    a = classify(&p, 20, 100, 100);
    b = classify(&p, 40, 100, 100);
    CHECK(a.p > 1 - 1e-9 && b.p > 1 - 1e-9);
    CHECK(b.logit > a.logit && a.logit > 20);
    CHECK(isfinite(b.logit));
    for (size_t i = 0; i < 40; i++)
        set(i, 0, 90);
    a = classify(&p, 20, 100, 100);
    CHECK(a.logit < -20 && a.p < 0.5);
    /* 1000 clues at the clamp: still finite, still apart from 999 */
    for (size_t i = 0; i < 1000; i++)
        set(i, 5000, 0);
    p.max_discriminators = 0;
    a = classify(&p, 999, 5000, 5000);
    b = classify(&p, 1000, 5000, 5000);
    CHECK(isfinite(b.logit) && b.logit > a.logit);
    CHECK(bayes_rank(b.logit) > bayes_rank(a.logit) && bayes_rank(b.logit) < 1);
    CHECK_NEAR(bayes_rank(0), 0.5, 0);
    CHECK(bayes_rank(-1e12) > 0 && bayes_rank(1e12) < 1);
    CHECK(bayes_rank(1e4) > bayes_rank(1e4 - 1e-3)); /* the strongest logits eval meets are ~1e3 */
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_fractional_counts);
    RUN(test_logit);
    RUN(test_token_prob);
    RUN(test_token_prob_extremes);
    RUN(test_basic_verdicts);
    RUN(test_no_opinion);
    RUN(test_monotone);
    RUN(test_order_independent);
    RUN(test_order_independent_at_cap);
    RUN(test_symmetry);
    RUN(test_extremes);
    RUN(test_top_lists);
    RUN(test_groups);
    RUN(test_max_discriminators);
    return TEST_REPORT();
}
