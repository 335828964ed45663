/* test_model.c - the in-memory model's contract (model.h): counts and
 * totals through learn/unlearn round trips, absolute sets, growth far past
 * the first table, removal (backward-shift deletion) in any order,
 * iteration, and hash 0 as an ordinary token. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "test.h"

/* splitmix64: distinct-looking, reproducible 64-bit token hashes. */
static uint64_t mix_state = 42;

static uint64_t rnd(void)
{
    uint64_t z = (mix_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void get1(const model *m, uint64_t h, uint32_t *s, uint32_t *g)
{
    model_get(m, &h, 1, s, g);
}

/* Counts of one token, as spam * 2^32 + ham, for compact checks. */
static uint64_t counts(const model *m, uint64_t h)
{
    uint32_t s, g;
    get1(m, h, &s, &g);
    return (uint64_t)s << 32 | g;
}

#define C(s, g) ((uint64_t)(s) << 32 | (uint64_t)(g))

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void shuffle(uint64_t *a, size_t n)
{
    size_t i;
    for (i = n; i > 1; i--) {
        size_t j = (size_t)(rnd() % i);
        uint64_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

TEST(test_unknown_tokens)
{
    model *m = model_new();
    uint64_t h[3] = { 1, 12345, UINT64_MAX }, ns = 7, nh = 7;
    uint32_t s[3] = { 9, 9, 9 }, g[3] = { 9, 9, 9 };
    model_get(m, h, 3, s, g);
    CHECK_EQ_INT(s[0] + s[1] + s[2], 0);
    CHECK_EQ_INT(g[0] + g[1] + g[2], 0);
    CHECK_EQ_INT(model_tokens(m), 0);
    model_totals(m, &ns, &nh);
    CHECK_EQ_INT(ns, 0);
    CHECK_EQ_INT(nh, 0);
    CHECK(model_bytes(m) > 0);
    model_get(m, h, 0, s, g); /* n = 0 is fine */
    model_free(m);
    model_free(NULL);
}

TEST(test_add_round_trip)
{
    model *m = model_new();
    uint64_t a[4] = { 11, 22, 33, 44 }, b[3] = { 33, 44, 55 }, ns, nh;
    uint32_t s[4], g[4];

    model_add(m, a, 4, MODEL_SPAM, 1);
    model_add(m, a, 2, MODEL_HAM, 1);
    CHECK_EQ_INT(model_tokens(m), 4);
    CHECK_EQ_INT(counts(m, 11), C(1, 1));
    CHECK_EQ_INT(counts(m, 33), C(1, 0));
    model_totals(m, &ns, &nh);
    CHECK_EQ_INT(ns, 1);
    CHECK_EQ_INT(nh, 1);

    /* Learn b, unlearn b: exactly as before. */
    model_add(m, b, 3, MODEL_HAM, 1);
    CHECK_EQ_INT(counts(m, 33), C(1, 1));
    CHECK_EQ_INT(counts(m, 55), C(0, 1));
    CHECK_EQ_INT(model_tokens(m), 5);
    model_add(m, b, 3, MODEL_HAM, -1);
    CHECK_EQ_INT(model_tokens(m), 4);
    CHECK_EQ_INT(counts(m, 55), 0);
    model_get(m, a, 4, s, g);
    CHECK_EQ_INT(s[0], 1);
    CHECK_EQ_INT(g[0], 1);
    CHECK_EQ_INT(s[1], 1);
    CHECK_EQ_INT(g[1], 1);
    CHECK_EQ_INT(s[2], 1);
    CHECK_EQ_INT(g[2], 0);
    CHECK_EQ_INT(s[3], 1);
    CHECK_EQ_INT(g[3], 0);
    model_totals(m, &ns, &nh);
    CHECK_EQ_INT(ns, 1);
    CHECK_EQ_INT(nh, 1);

    /* Unlearn everything: empty, tokens gone at 0/0. */
    model_add(m, a, 4, MODEL_SPAM, -1);
    CHECK_EQ_INT(model_tokens(m), 2);
    CHECK_EQ_INT(counts(m, 33), 0);
    model_add(m, a, 2, MODEL_HAM, -1);
    CHECK_EQ_INT(model_tokens(m), 0);
    model_totals(m, &ns, &nh);
    CHECK_EQ_INT(ns, 0);
    CHECK_EQ_INT(nh, 0);
    {
        size_t it = 0;
        uint64_t h;
        uint32_t sp, hm;
        CHECK_EQ_INT(model_next(m, &it, &h, &sp, &hm), 0);
    }

    /* Many learns of the same comment, then as many unlearns. */
    {
        int i;
        for (i = 0; i < 1000; i++)
            model_add(m, a, 4, MODEL_SPAM, 1);
        CHECK_EQ_INT(counts(m, 44), C(1000, 0));
        for (i = 0; i < 1000; i++)
            model_add(m, a, 4, MODEL_SPAM, -1);
        CHECK_EQ_INT(model_tokens(m), 0);
        model_totals(m, &ns, &nh);
        CHECK_EQ_INT(ns, 0);
    }
    model_free(m);
}

TEST(test_unlearn_never_below_zero)
{
    model *m = model_new();
    uint64_t a[2] = { 5, 6 }, ns, nh;
    model_add(m, a, 2, MODEL_SPAM, -1); /* never learned */
    CHECK_EQ_INT(model_tokens(m), 0);
    CHECK_EQ_INT(counts(m, 5), 0);
    model_totals(m, &ns, &nh);
    CHECK_EQ_INT(ns, 0);
    CHECK_EQ_INT(nh, 0);

    /* Learned as ham, unlearned as spam: the ham count stays. */
    model_add(m, a, 2, MODEL_HAM, 1);
    model_add(m, a, 2, MODEL_SPAM, -1);
    CHECK_EQ_INT(counts(m, 5), C(0, 1));
    CHECK_EQ_INT(counts(m, 6), C(0, 1));
    CHECK_EQ_INT(model_tokens(m), 2);
    model_totals(m, &ns, &nh);
    CHECK_EQ_INT(ns, 0);
    CHECK_EQ_INT(nh, 1);
    model_add(m, a, 2, MODEL_HAM, -1);
    model_add(m, a, 2, MODEL_HAM, -1);
    CHECK_EQ_INT(counts(m, 5), 0);
    CHECK_EQ_INT(model_tokens(m), 0);
    model_totals(m, &ns, &nh);
    CHECK_EQ_INT(nh, 0);

    /* Totals set from outside, then unlearned past zero. */
    model_set_totals(m, 3, 1);
    model_add(m, a, 1, MODEL_HAM, -1);
    model_add(m, a, 1, MODEL_HAM, -1);
    model_totals(m, &ns, &nh);
    CHECK_EQ_INT(ns, 3);
    CHECK_EQ_INT(nh, 0);

    /* A count at UINT32_MAX does not wrap. */
    model_set(m, 9, MODEL_SPAM, UINT32_MAX);
    model_add(m, (const uint64_t[]){ 9 }, 1, MODEL_SPAM, 1);
    CHECK_EQ_INT(counts(m, 9), C(UINT32_MAX, 0));
    model_free(m);
}

TEST(test_set)
{
    model *m = model_new();
    uint64_t ns, nh;
    model_set(m, 77, MODEL_SPAM, 5);
    CHECK_EQ_INT(counts(m, 77), C(5, 0));
    model_set(m, 77, MODEL_HAM, 9);
    CHECK_EQ_INT(counts(m, 77), C(5, 9));
    model_set(m, 77, MODEL_SPAM, 2); /* absolute, not added */
    CHECK_EQ_INT(counts(m, 77), C(2, 9));
    CHECK_EQ_INT(model_tokens(m), 1);
    model_set(m, 77, MODEL_SPAM, 0);
    CHECK_EQ_INT(counts(m, 77), C(0, 9));
    CHECK_EQ_INT(model_tokens(m), 1);
    model_set(m, 77, MODEL_HAM, 0); /* both 0: removed */
    CHECK_EQ_INT(counts(m, 77), 0);
    CHECK_EQ_INT(model_tokens(m), 0);
    model_set(m, 78, MODEL_HAM, 0); /* an unknown token to 0: nothing */
    CHECK_EQ_INT(model_tokens(m), 0);

    model_set_totals(m, 123, 456);
    model_totals(m, &ns, &nh);
    CHECK_EQ_INT(ns, 123);
    CHECK_EQ_INT(nh, 456);
    /* model_set leaves the totals alone; model_add moves them. */
    model_set(m, 1, MODEL_SPAM, 3);
    model_totals(m, &ns, &nh);
    CHECK_EQ_INT(ns, 123);
    model_add(m, (const uint64_t[]){ 2 }, 1, MODEL_SPAM, 1);
    model_totals(m, &ns, &nh);
    CHECK_EQ_INT(ns, 124);

    model_clear(m);
    CHECK_EQ_INT(model_tokens(m), 0);
    CHECK_EQ_INT(counts(m, 1), 0);
    model_totals(m, &ns, &nh);
    CHECK_EQ_INT(ns + nh, 0);
    model_set(m, 1, MODEL_SPAM, 4); /* usable after a clear */
    CHECK_EQ_INT(counts(m, 1), C(4, 0));
    model_free(m);
}

/* Two tokens with the same home slot (equal low bits: 0x1000 and 0x2000
 * collide in any table up to 4096 slots). Removing the first shifts the
 * second back; looking the first up again must give 0/0, not what the
 * vacated slot held. */
TEST(test_removed_token_reads_zero)
{
    model *m = model_new();
    model_set(m, 0x1000, MODEL_HAM, 1);
    model_set(m, 0x2000, MODEL_HAM, 2);
    model_set(m, 0x1000, MODEL_HAM, 0);
    CHECK_EQ_INT(model_tokens(m), 1);
    CHECK_EQ_INT(counts(m, 0x2000), C(0, 2));
    CHECK_EQ_INT(counts(m, 0x1000), 0);
    CHECK_EQ_INT(counts(m, 0x3000), 0); /* never there */
    /* The same through model_add. */
    model_add(m, (const uint64_t[]){ 0x4000 }, 1, MODEL_SPAM, 1);
    model_add(m, (const uint64_t[]){ 0x5000 }, 1, MODEL_SPAM, 1);
    model_add(m, (const uint64_t[]){ 0x4000 }, 1, MODEL_SPAM, -1);
    CHECK_EQ_INT(counts(m, 0x5000), C(1, 0));
    CHECK_EQ_INT(counts(m, 0x4000), 0);
    model_free(m);
}

/* Iterate the model: every token once, with its counts. Returns the
 * number of tokens seen and checks each against 'want' (sorted hashes
 * whose counts are want_counts). */
static size_t check_iteration(const model *m, const uint64_t *want, size_t n)
{
    uint64_t *seen = malloc((n + 1) * sizeof *seen);
    size_t it = 0, k = 0, i;
    uint64_t h;
    uint32_t s, g;
    CHECK(seen != NULL);
    if (!seen)
        return 0;
    while (model_next(m, &it, &h, &s, &g)) {
        if (k == n) {
            CHECK(k < n); /* more tokens than there should be */
            break;
        }
        CHECK(s || g);
        seen[k++] = h;
    }
    qsort(seen, k, sizeof *seen, cmp_u64);
    CHECK_EQ_INT(k, n);
    for (i = 0; i < k && i < n; i++)
        if (seen[i] != want[i]) {
            CHECK(seen[i] == want[i]);
            break;
        }
    free(seen);
    return k;
}

/* 100,000 distinct tokens: many times the first table (4096 slots). */
#define BIG 100000

TEST(test_growth_and_removal)
{
    model *m = model_new();
    uint64_t *h = malloc(BIG * sizeof *h), *sorted = malloc(BIG * sizeof *sorted);
    uint32_t *s = malloc(BIG * sizeof *s), *g = malloc(BIG * sizeof *g);
    size_t i, bytes0 = model_bytes(m), bad = 0;
    uint64_t ns, nh;
    CHECK(h && sorted && s && g);
    if (!(h && sorted && s && g))
        goto out;
    for (i = 0; i < BIG; i++) {
        h[i] = rnd();
        if (h[i] == 0 || h[i] == 1)
            h[i] = 2 + i; /* 0 and 1 share a slot; tested on their own */
    }
    /* Token i: spam (i % 3) + 1 times, ham (i % 5) times. */
    for (i = 0; i < BIG; i++) {
        uint32_t k;
        for (k = 0; k < i % 3 + 1; k++)
            model_add(m, &h[i], 1, MODEL_SPAM, 1);
        for (k = 0; k < i % 5; k++)
            model_add(m, &h[i], 1, MODEL_HAM, 1);
    }
    CHECK_EQ_INT(model_tokens(m), BIG);
    CHECK(model_bytes(m) > bytes0);
    CHECK(model_bytes(m) >= BIG * 16); /* 16-byte slots, at most half full... */
    CHECK(model_bytes(m) <= 8 * (size_t)BIG * 16); /* ...and not absurdly more */
    model_get(m, h, BIG, s, g);
    for (i = 0; i < BIG; i++)
        if (s[i] != i % 3 + 1 || g[i] != i % 5)
            bad++;
    CHECK_EQ_INT(bad, 0);
    model_totals(m, &ns, &nh);
    CHECK(ns > 0 && nh > 0);

    memcpy(sorted, h, BIG * sizeof *h);
    qsort(sorted, BIG, sizeof *sorted, cmp_u64);
    check_iteration(m, sorted, BIG);

    /* Remove half in random order, by both routes: model_set to 0 and
     * model_add -1 down to 0/0. The first half of h (after a shuffle of
     * the order, not of the counts) goes. */
    {
        size_t *order = malloc(BIG * sizeof *order), half = BIG / 2;
        uint64_t *gone = malloc(half * sizeof *gone);
        CHECK(order && gone);
        if (order && gone) {
            for (i = 0; i < BIG; i++)
                order[i] = i;
            for (i = BIG; i > 1; i--) {
                size_t j = (size_t)(rnd() % i), t = order[i - 1];
                order[i - 1] = order[j];
                order[j] = t;
            }
            for (i = 0; i < half; i++) {
                size_t t = order[i];
                gone[i] = h[t];
                if (i % 2) {
                    model_set(m, h[t], MODEL_SPAM, 0);
                    model_set(m, h[t], MODEL_HAM, 0);
                } else {
                    uint32_t k;
                    for (k = 0; k < t % 3 + 1; k++)
                        model_add(m, &h[t], 1, MODEL_SPAM, -1);
                    for (k = 0; k < t % 5; k++)
                        model_add(m, &h[t], 1, MODEL_HAM, -1);
                }
                /* Now and then, every remaining token is still found. */
                if (i % 10000 == 9999) {
                    size_t r;
                    bad = 0;
                    for (r = i + 1; r < BIG; r++) {
                        size_t t2 = order[r];
                        if (counts(m, h[t2]) != C(t2 % 3 + 1, t2 % 5))
                            bad++;
                    }
                    CHECK_EQ_INT(bad, 0);
                }
            }
            CHECK_EQ_INT(model_tokens(m), BIG - half);
            bad = 0;
            for (i = 0; i < half; i++)
                if (counts(m, gone[i]) != 0)
                    bad++;
            CHECK_EQ_INT(bad, 0);
            bad = 0;
            for (i = half; i < BIG; i++) {
                size_t t = order[i];
                if (counts(m, h[t]) != C(t % 3 + 1, t % 5))
                    bad++;
            }
            CHECK_EQ_INT(bad, 0);
            /* Iteration sees exactly the rest. */
            for (i = half; i < BIG; i++)
                sorted[i - half] = h[order[i]];
            qsort(sorted, BIG - half, sizeof *sorted, cmp_u64);
            check_iteration(m, sorted, BIG - half);
            /* Removed tokens come back cleanly. */
            model_add(m, gone, half, MODEL_HAM, 1);
            CHECK_EQ_INT(model_tokens(m), BIG);
            bad = 0;
            for (i = 0; i < half; i++)
                if (counts(m, gone[i]) != C(0, 1))
                    bad++;
            CHECK_EQ_INT(bad, 0);
        }
        free(order);
        free(gone);
    }
out:
    free(h);
    free(sorted);
    free(s);
    free(g);
    model_free(m);
}

/* Long probe runs: tokens whose low bits are all ones share a few home
 * slots at the very end of the table, so their runs wrap around to slot 0
 * and every removal shifts entries back across the wrap. */
#define CLUSTER 3000
#define OTHERS 1000

TEST(test_clustered_removal)
{
    model *m = model_new();
    static uint64_t h[CLUSTER], o[OTHERS], sorted[CLUSTER + OTHERS];
    size_t i, r, bad;
    for (i = 0; i < CLUSTER; i++)
        h[i] = (rnd() << 32) | (UINT64_C(0xFFFFFFFF) - (i % 8));
    for (i = 0; i < OTHERS; i++)
        o[i] = rnd() | 2;
    /* Ordinary tokens land in the middle of the runs too. */
    for (i = 0; i < CLUSTER; i++) {
        model_set(m, h[i], MODEL_HAM, (uint32_t)(i + 1));
        if (i < OTHERS)
            model_set(m, o[i], MODEL_SPAM, 1);
    }
    CHECK_EQ_INT(model_tokens(m), CLUSTER + OTHERS);
    shuffle(h, CLUSTER);
    for (r = 0; r < CLUSTER; r++) {
        model_set(m, h[r], MODEL_HAM, 0);
        if (counts(m, h[r]) != 0) {
            CHECK_EQ_INT(counts(m, h[r]), 0);
            break;
        }
        if (r % 300 == 0 || r + 1 == CLUSTER) {
            size_t k, left = CLUSTER - r - 1;
            bad = 0;
            for (k = r + 1; k < CLUSTER; k++) {
                uint32_t s, g;
                get1(m, h[k], &s, &g);
                if (g == 0 || s != 0)
                    bad++;
            }
            for (k = 0; k < OTHERS; k++)
                if (counts(m, o[k]) != C(1, 0))
                    bad++;
            CHECK_EQ_INT(bad, 0);
            CHECK_EQ_INT(model_tokens(m), left + OTHERS);
            for (k = r + 1; k < CLUSTER; k++)
                sorted[k - r - 1] = h[k];
            memcpy(sorted + left, o, sizeof o);
            qsort(sorted, left + OTHERS, sizeof *sorted, cmp_u64);
            check_iteration(m, sorted, left + OTHERS);
        }
    }
    model_free(m);
}

TEST(test_iteration)
{
    model *m = model_new();
    uint64_t h[10], sorted[10];
    size_t i, it = 0, k = 0;
    uint64_t hh;
    uint32_t s, g, sum_s = 0, sum_g = 0;
    for (i = 0; i < 10; i++)
        h[i] = rnd() | 2;
    model_add(m, h, 10, MODEL_SPAM, 1);
    model_add(m, h, 5, MODEL_HAM, 1);
    while (model_next(m, &it, &hh, &s, &g)) {
        sum_s += s;
        sum_g += g;
        k++;
    }
    CHECK_EQ_INT(k, 10);
    CHECK_EQ_INT(sum_s, 10);
    CHECK_EQ_INT(sum_g, 5);
    /* Ended: asking again still says so. */
    CHECK_EQ_INT(model_next(m, &it, &hh, &s, &g), 0);
    memcpy(sorted, h, sizeof h);
    qsort(sorted, 10, sizeof *sorted, cmp_u64);
    check_iteration(m, sorted, 10);
    model_free(m);
}

TEST(test_hash_zero)
{
    model *m = model_new();
    uint64_t z = 0, ns, nh;
    uint32_t s, g;
    size_t it = 0, k = 0;
    uint64_t hh;
    model_add(m, &z, 1, MODEL_SPAM, 1);
    model_add(m, &z, 1, MODEL_SPAM, 1);
    model_add(m, &z, 1, MODEL_HAM, 1);
    get1(m, 0, &s, &g);
    CHECK_EQ_INT(s, 2);
    CHECK_EQ_INT(g, 1);
    CHECK_EQ_INT(model_tokens(m), 1);
    while (model_next(m, &it, &hh, &s, &g)) {
        CHECK_EQ_INT(s, 2);
        CHECK_EQ_INT(g, 1);
        k++;
    }
    CHECK_EQ_INT(k, 1);
    model_set(m, 0, MODEL_SPAM, 7);
    CHECK_EQ_INT(counts(m, 0), C(7, 1));
    model_add(m, &z, 1, MODEL_HAM, -1);
    model_set(m, 0, MODEL_SPAM, 0);
    CHECK_EQ_INT(counts(m, 0), 0);
    CHECK_EQ_INT(model_tokens(m), 0);
    model_totals(m, &ns, &nh);
    CHECK_EQ_INT(ns, 2);
    CHECK_EQ_INT(nh, 0);
    /* Among many others, through growth. */
    {
        uint64_t many[5000];
        size_t i;
        model_add(m, &z, 1, MODEL_HAM, 1);
        for (i = 0; i < 5000; i++)
            many[i] = rnd() | 2;
        model_add(m, many, 5000, MODEL_SPAM, 1);
        CHECK_EQ_INT(counts(m, 0), C(0, 1));
        model_add(m, many, 5000, MODEL_SPAM, -1);
        CHECK_EQ_INT(counts(m, 0), C(0, 1));
        CHECK_EQ_INT(model_tokens(m), 1);
    }
    model_free(m);
}

/* A blend reads the site's counts plus the starter's scaled per class;
 * with no starter, the site's counts exactly; the cap never inflates. */
static void test_blend(void)
{
    model *site = model_new(), *st = model_new();
    uint64_t a = 11, b = 22, h[3] = { 11, 22, 33 };
    for (int k = 0; k < 3; k++)
        model_add(site, &a, 1, MODEL_SPAM, 1);
    model_add(site, &a, 1, MODEL_HAM, 1);
    model_set_totals(site, 10, 10);
    for (int k = 0; k < 100; k++)
        model_add(st, &a, 1, MODEL_SPAM, 1);
    for (int k = 0; k < 50; k++)
        model_add(st, &b, 1, MODEL_HAM, 1);
    model_set_totals(st, 1000, 500);

    double ss = model_blend_scale(1000, 100), sh = model_blend_scale(500, 100);
    CHECK_NEAR(ss, 0.1, 1e-15);
    CHECK_NEAR(sh, 0.2, 1e-15);
    CHECK_NEAR(model_blend_scale(50, 100), 1.0, 0);   /* below the cap: full weight */
    CHECK_NEAR(model_blend_scale(0, 100), 0.0, 0);    /* an empty class adds nothing */
    CHECK_NEAR(model_blend_scale(1000, 0), 0.0, 0);   /* K = 0: no starter */

    double sp[3], hm[3], ns, nh;
    model_get_blend(site, st, ss, sh, h, 3, sp, hm);
    CHECK_NEAR(sp[0], 3 + 10, 1e-12);
    CHECK_NEAR(hm[0], 1 + 0, 1e-12);
    CHECK_NEAR(sp[1], 0, 0);
    CHECK_NEAR(hm[1], 0 + 10, 1e-12);
    CHECK_NEAR(sp[2] + hm[2], 0, 0);
    model_totals_blend(site, st, ss, sh, &ns, &nh);
    CHECK_NEAR(ns, 10 + 100, 1e-12);
    CHECK_NEAR(nh, 10 + 100, 1e-12);

    /* No starter: exactly the site's integer counts. */
    uint32_t is[3], ih[3];
    model_get(site, h, 3, is, ih);
    model_get_blend(site, NULL, 0.5, 0.5, h, 3, sp, hm);
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(sp[i], is[i], 0);
        CHECK_NEAR(hm[i], ih[i], 0);
    }
    model_totals_blend(site, NULL, 0.5, 0.5, &ns, &nh);
    CHECK_NEAR(ns, 10, 0);
    CHECK_NEAR(nh, 10, 0);
    /* The starter is only read. */
    CHECK_EQ_INT(counts(st, a), C(100, 0));
    model_free(site);
    model_free(st);
}

/* Source balancing: within a class, the reference is the site's own total
 * (the first) once it has 'need', else the smallest other total with
 * 'need'; bigger sources are scaled down to it, the others weigh their own
 * counts; never above 1, all 1 with one source. */
static void test_balance(void)
{
    double f[3];
    uint64_t one[1] = { 3000 };
    model_balance(one, 1, 20, f);
    CHECK_NEAR(f[0], 1.0, 0);                      /* one source: the identity */
    uint64_t t[3] = { 100, 3000, 5 };
    model_balance(t, 3, 20, f);
    CHECK_NEAR(f[0], 1.0, 0);                      /* the site is the reference */
    CHECK_NEAR(f[1], 100.0 / 3000, 1e-15);         /* scaled down to it */
    CHECK_NEAR(f[2], 1.0, 0);                      /* below need: its own counts */
    uint64_t small[3] = { 3000, 40, 500 };
    model_balance(small, 3, 20, f);
    CHECK_NEAR(f[0], 1.0, 0);                      /* a small import never scales the site down */
    CHECK_NEAR(f[1], 1.0, 0);                      /* nor is it inflated */
    CHECK_NEAR(f[2], 1.0, 0);
    uint64_t mid[3] = { 200, 40, 800 };
    model_balance(mid, 3, 20, f);
    CHECK_NEAR(f[0], 1.0, 0);
    CHECK_NEAR(f[1], 1.0, 0);                      /* smaller than the site: as is */
    CHECK_NEAR(f[2], 200.0 / 800, 1e-15);          /* bigger: weighs what the site weighs */
    uint64_t young[3] = { 19, 3000, 60 };
    model_balance(young, 3, 20, f);
    CHECK_NEAR(f[0], 1.0, 0);                      /* the site below need ... */
    CHECK_NEAR(f[1], 60.0 / 3000, 1e-15);          /* ... the smallest sizable source sets the scale */
    CHECK_NEAR(f[2], 1.0, 0);
    uint64_t few[2] = { 19, 3000 };
    model_balance(few, 2, 20, f);
    CHECK_NEAR(f[0], 1.0, 0);                      /* the site below need ... */
    CHECK_NEAR(f[1], 1.0, 0);                      /* ... does not scale the only big one */
    uint64_t none[2] = { 0, 0 };
    model_balance(none, 2, 0, f);
    CHECK_NEAR(f[0] + f[1], 2.0, 0);               /* empty classes: factor 1, nothing read */
}

/* A sum over sources reads each model's counts times its factor; an empty
 * model or a NULL one adds nothing; factors 1 give the counts exactly. */
static void test_sum(void)
{
    model *a = model_new(), *b = model_new(), *e = model_new();
    uint64_t x = 11, y = 22, h[3] = { 11, 22, 33 };
    for (int k = 0; k < 3; k++)
        model_add(a, &x, 1, MODEL_SPAM, 1);
    model_add(a, &y, 1, MODEL_HAM, 1);
    for (int k = 0; k < 40; k++)
        model_add(b, &x, 1, MODEL_SPAM, 1);
    for (int k = 0; k < 8; k++)
        model_add(b, &y, 1, MODEL_HAM, 1);
    const model *ms[4] = { a, b, e, NULL };
    double fs[4] = { 1, 0.25, 1, 1 }, fh[4] = { 1, 0.5, 1, 1 }, sp[3], hm[3];
    model_get_sum(ms, fs, fh, 4, h, 3, sp, hm);
    CHECK_NEAR(sp[0], 3 + 10, 0);
    CHECK_NEAR(hm[1], 1 + 4, 0);
    CHECK_NEAR(sp[1] + hm[0] + sp[2] + hm[2], 0, 0);
    /* One model at factor 1: what model_get_blend reads without a starter. */
    double bs[3], bh[3];
    model_get_sum(ms, (double[]){ 1 }, (double[]){ 1 }, 1, h, 3, sp, hm);
    model_get_blend(a, NULL, 0, 0, h, 3, bs, bh);
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(sp[i], bs[i], 0);
        CHECK_NEAR(hm[i], bh[i], 0);
    }
    model_free(a);
    model_free(b);
    model_free(e);
}

int main(void)
{
    RUN(test_unknown_tokens);
    RUN(test_blend);
    RUN(test_balance);
    RUN(test_sum);
    RUN(test_add_round_trip);
    RUN(test_unlearn_never_below_zero);
    RUN(test_set);
    RUN(test_removed_token_reads_zero);
    RUN(test_growth_and_removal);
    RUN(test_clustered_removal);
    RUN(test_iteration);
    RUN(test_hash_zero);
    return TEST_REPORT();
}
