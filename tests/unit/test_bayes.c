/* test_bayes.c - the classifier's contract (bayes.h): each token's log
 * likelihood ratio, the sqrt-length score, the calibration and its fit,
 * monotonicity, symmetry, honest "no opinion", the top lists and the
 * bounds on extreme input. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bayes.h"
#include "test.h"

#define N 2000 /* more than BAYES_MAX_TOKENS */

static double spam[N], ham[N];

static struct bayes_params defaults(void)
{
    struct bayes_params p;
    bayes_defaults(&p);
    return p;
}

static struct bayes_result classify(const struct bayes_params *p, size_t n, double nspam, double nham)
{
    struct bayes_result r;
    bayes_classify(p, NULL, spam, ham, n, 0, nspam, nham, &r);
    return r;
}

static void set(size_t i, double s, double h)
{
    spam[i] = s;
    ham[i] = h;
}

static void reset(void)
{
    memset(spam, 0, sizeof spam);
    memset(ham, 0, sizeof ham);
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

/* Uniform in (0, 1). */
static double unif(void)
{
    return ((double)(rng() >> 11) + 0.5) / 9007199254740992.0;
}

/* The log likelihood ratio bayes.c gives one token (its header comment). */
static double llr(double b, double g, double ns, double nh, double a)
{
    return log((b + a) / (ns + 2 * a)) - log((g + a) / (nh + 2 * a));
}

TEST(test_defaults)
{
    struct bayes_params p = defaults();
    CHECK_NEAR(p.alpha, 0.5, 0);
    CHECK_EQ_INT(p.min_learns, 20);
    CHECK_EQ_INT(p.min_tokens, 1);
    CHECK(bayes_calib_default.a > 0);
}

/* One token: the score is its log likelihood ratio; m equal tokens:
 * sqrt(m) times it; the probability is the calibration of the score. */
TEST(test_score_formula)
{
    struct bayes_params p = defaults();
    reset();
    set(0, 30, 2);
    struct bayes_result r = classify(&p, 1, 100, 200);
    CHECK_EQ_INT(r.opinion, 1);
    CHECK_EQ_INT(r.used, 1);
    CHECK_NEAR(r.logit, llr(30, 2, 100, 200, 0.5), 1e-5);
    CHECK_NEAR(r.p, bayes_calibrated(NULL, r.logit), 1e-12);
    CHECK_NEAR(r.p, 1 / (1 + exp(-(bayes_calib_default.a * r.logit + bayes_calib_default.b))), 1e-12);

    for (size_t i = 0; i < 9; i++)
        set(i, 30, 2);
    r = classify(&p, 9, 100, 200);
    CHECK_EQ_INT(r.used, 9);
    CHECK_NEAR(r.logit, 3 * llr(30, 2, 100, 200, 0.5), 1e-4);

    /* Unseen tokens change nothing: they are neither summed nor counted. */
    r = classify(&p, 500, 100, 200);
    CHECK_EQ_INT(r.used, 9);
    CHECK_NEAR(r.logit, 3 * llr(30, 2, 100, 200, 0.5), 1e-4);

    /* alpha is the smoothing. */
    p.alpha = 2;
    r = classify(&p, 1, 100, 200);
    CHECK_NEAR(r.logit, llr(30, 2, 100, 200, 2), 1e-5);
}

/* A calibration of its own replaces the default, and is exactly the
 * logistic of a z + b. */
TEST(test_calibration_applied)
{
    struct bayes_params p = defaults();
    struct bayes_calib c = { 2.0, -1.0 };
    reset();
    set(0, 10, 1);
    set(1, 0, 3);
    struct bayes_result r;
    bayes_classify(&p, &c, spam, ham, 2, 0, 50, 50, &r);
    CHECK_NEAR(r.p, 1 / (1 + exp(-(2.0 * r.logit - 1.0))), 1e-12);
    CHECK_NEAR(bayes_calibrated(&c, 0.5), 0.5, 1e-12);
    struct bayes_calib bad = { NAN, 0 };
    CHECK_NEAR(bayes_calibrated(&bad, 3), 0.5, 0); /* a corrupt calibration: no opinion */
}

/* Fractional counts (a starter blended at a scale) are read as they are. */
TEST(test_fractional_counts)
{
    struct bayes_params p = defaults();
    reset();
    set(0, 2.5, 0.25);
    struct bayes_result r = classify(&p, 1, 40.5, 60.25);
    CHECK_NEAR(r.logit, llr(2.5, 0.25, 40.5, 60.25, 0.5), 1e-5);
}

TEST(test_basic_verdicts)
{
    struct bayes_params p = defaults();
    reset();
    for (size_t i = 0; i < 10; i++)
        set(i, 40, 1);
    struct bayes_result r = classify(&p, 10, 100, 100);
    CHECK(r.logit > 0);
    CHECK(r.p > 0.9);
    reset();
    for (size_t i = 0; i < 10; i++)
        set(i, 1, 40);
    r = classify(&p, 10, 100, 100);
    CHECK(r.logit < 0);
    CHECK(r.p < 0.1);
}

TEST(test_no_opinion)
{
    struct bayes_params p = defaults();
    reset();
    set(0, 30, 0);
    /* Too few learned comments in either class. */
    struct bayes_result r = classify(&p, 1, 19, 100);
    CHECK_EQ_INT(r.opinion, 0);
    CHECK_NEAR(r.p, 0.5, 0);
    CHECK_NEAR(r.logit, 0, 0);
    r = classify(&p, 1, 100, 19.5);
    CHECK_EQ_INT(r.opinion, 0);
    r = classify(&p, 1, 0, 0);
    CHECK_EQ_INT(r.opinion, 0);
    /* No token ever seen. */
    reset();
    r = classify(&p, 50, 100, 100);
    CHECK_EQ_INT(r.opinion, 0);
    CHECK_EQ_INT(r.used, 0);
    r = classify(&p, 0, 100, 100);
    CHECK_EQ_INT(r.opinion, 0);
    /* Fewer seen tokens than min_tokens. */
    p.min_tokens = 3;
    set(0, 5, 1);
    set(1, 1, 5);
    r = classify(&p, 10, 100, 100);
    CHECK_EQ_INT(r.opinion, 0);
    set(2, 2, 2);
    r = classify(&p, 10, 100, 100);
    CHECK_EQ_INT(r.opinion, 1);
}

/* More spam evidence on a token never lowers P(spam); more ham evidence
 * never raises it. Random models, one count moved at a time. */
TEST(test_monotone)
{
    struct bayes_params p = defaults();
    for (int round = 0; round < 300; round++) {
        reset();
        size_t n = 1 + rng() % 60;
        for (size_t i = 0; i < n; i++)
            set(i, (double)(rng() % 50), (double)(rng() % 50));
        size_t k = rng() % n;
        struct bayes_result a = classify(&p, n, 300, 300);
        spam[k] += 1 + (double)(rng() % 20);
        struct bayes_result b = classify(&p, n, 300, 300);
        if (a.opinion && b.opinion && a.used == b.used)
            CHECK(b.logit >= a.logit - 1e-9);
        ham[k] += 1 + (double)(rng() % 20);
        struct bayes_result c = classify(&p, n, 300, 300);
        if (b.opinion && c.opinion && b.used == c.used)
            CHECK(c.logit <= b.logit + 1e-9);
    }
}

/* The order of the tokens changes nothing but which index a top entry
 * names. */
TEST(test_order_independent)
{
    struct bayes_params p = defaults();
    double s2[64], h2[64];
    for (int round = 0; round < 50; round++) {
        reset();
        for (size_t i = 0; i < 64; i++)
            set(i, (double)(rng() % 30), (double)(rng() % 30));
        for (size_t i = 0; i < 64; i++) {
            s2[i] = spam[63 - i];
            h2[i] = ham[63 - i];
        }
        struct bayes_result a = classify(&p, 64, 200, 300), b;
        bayes_classify(&p, NULL, s2, h2, 64, 0, 200, 300, &b);
        CHECK_NEAR(a.logit, b.logit, 1e-9);
        CHECK_EQ_INT(a.used, b.used);
    }
}

/* Swapping the classes (counts and totals) negates the score. */
TEST(test_symmetry)
{
    struct bayes_params p = defaults();
    double s2[40], h2[40];
    reset();
    for (size_t i = 0; i < 40; i++)
        set(i, (double)(rng() % 30), (double)(rng() % 30));
    for (size_t i = 0; i < 40; i++) {
        s2[i] = ham[i];
        h2[i] = spam[i];
    }
    struct bayes_result a = classify(&p, 40, 150, 400), b;
    bayes_classify(&p, NULL, s2, h2, 40, 0, 400, 150, &b);
    CHECK_NEAR(a.logit, -b.logit, 1e-6);
}

/* Hostile counts: bigger than the totals, NaN, negative, infinite; more
 * tokens than BAYES_MAX_TOKENS; alpha near 0. Always finite, in (0, 1). */
TEST(test_extremes)
{
    struct bayes_params p = defaults();
    reset();
    set(0, 1e12, 0);
    set(1, NAN, 3);
    set(2, -5, 2);
    set(3, INFINITY, 1);
    set(4, 7, NAN);
    struct bayes_result r = classify(&p, 5, 100, 100);
    CHECK(isfinite(r.logit));
    CHECK(r.p > 0 && r.p < 1);
    CHECK(r.used >= 1);
    for (size_t i = 0; i < N; i++)
        set(i, 90, 0);
    r = classify(&p, N, 100, 1e9);
    CHECK(isfinite(r.logit));
    CHECK(r.used <= BAYES_MAX_TOKENS);
    p.alpha = 0;
    r = classify(&p, 10, 100, 100);
    CHECK(isfinite(r.logit));
    CHECK(r.p > 0.5);
    p = defaults();
    r = classify(&p, 10, INFINITY, 100);
    CHECK_EQ_INT(r.opinion, 0);
}

/* The top lists: the most telling tokens of each direction, most telling
 * first, each with its own P(spam) = 1 / (1 + exp(-w)). */
TEST(test_top_lists)
{
    struct bayes_params p = defaults();
    reset();
    double w[12];
    for (size_t i = 0; i < 12; i++) {
        set(i, i < 6 ? (double)(5 * (i + 1)) : 1, i < 6 ? 1 : (double)(5 * (i - 5)));
        w[i] = llr(spam[i], ham[i], 100, 100, 0.5);
    }
    struct bayes_result r = classify(&p, 12, 100, 100);
    CHECK_EQ_INT(r.nspam_top, BAYES_TOP);
    CHECK_EQ_INT(r.nham_top, BAYES_TOP);
    CHECK_EQ_INT(r.spam_top[0].index, 5);
    CHECK_EQ_INT(r.ham_top[0].index, 11);
    CHECK_NEAR(r.spam_top[0].f, 1 / (1 + exp(-w[5])), 1e-5);
    CHECK_NEAR(r.ham_top[0].f, 1 / (1 + exp(-w[11])), 1e-5);
    for (int i = 1; i < r.nspam_top; i++)
        CHECK(r.spam_top[i].f <= r.spam_top[i - 1].f);
    for (int i = 1; i < r.nham_top; i++)
        CHECK(r.ham_top[i].f >= r.ham_top[i - 1].f);
    for (int i = 0; i < r.nspam_top; i++)
        CHECK(r.spam_top[i].f > 0.5);
    for (int i = 0; i < r.nham_top; i++)
        CHECK(r.ham_top[i].f < 0.5);
}

/* The lead tokens come first in the top lists, however weak; the score
 * does not depend on them. */
TEST(test_top_lead_first)
{
    struct bayes_params p = defaults();
    struct bayes_result a, b;
    reset();
    set(0, 3, 1);  /* a weak spam token among the lead */
    set(1, 1, 3);  /* a weak ham one */
    for (size_t i = 2; i < 20; i++)
        set(i, 40, 1);
    bayes_classify(&p, NULL, spam, ham, 20, 2, 100, 100, &a);
    bayes_classify(&p, NULL, spam, ham, 20, 0, 100, 100, &b);
    CHECK_EQ_INT(a.spam_top[0].index, 0);
    CHECK(a.spam_top[1].index >= 2);
    CHECK_EQ_INT(a.ham_top[0].index, 1);
    CHECK(b.spam_top[0].index >= 2);
    CHECK_NEAR(a.logit, b.logit, 0);
    CHECK_NEAR(a.p, b.p, 0);
}

/* Platt's fit recovers a known logistic: scores drawn so that the true
 * P(spam | z) with equal priors is 1 / (1 + exp(-(1.5 z - 0.5))). */
TEST(test_fit_recovers)
{
    enum { M = 20000 };
    static double z[M];
    static unsigned char y[M];
    /* Two Gaussians of variance 1 with means m1, m0 and equal priors
     * give the logistic with a = m1 - m0, b = (m0^2 - m1^2) / 2. */
    double m1 = 1.0, m0 = -0.5;
    for (size_t i = 0; i < M; i++) {
        double u1 = unif(), u2 = unif();
        double g = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
        y[i] = (unsigned char)(i % 4 == 0); /* a quarter spam: the fit weighs classes alike */
        z[i] = g + (y[i] ? m1 : m0);
    }
    struct bayes_calib c;
    CHECK_EQ_INT(bayes_fit_calib(z, y, NULL, M, &c), 0);
    CHECK_NEAR(c.a, m1 - m0, 0.06);
    CHECK_NEAR(c.b, (m0 * m0 - m1 * m1) / 2, 0.06);

    /* Weights: each comment counted twice is the same as weight 2. */
    static double z2[2 * 500], w[500];
    static unsigned char y2[2 * 500];
    for (size_t i = 0; i < 500; i++) {
        z2[2 * i] = z2[2 * i + 1] = z[i];
        y2[2 * i] = y2[2 * i + 1] = y[i];
        w[i] = 2;
    }
    struct bayes_calib c1, c2;
    CHECK_EQ_INT(bayes_fit_calib(z2, y2, NULL, 1000, &c1), 0);
    CHECK_EQ_INT(bayes_fit_calib(z, y, w, 500, &c2), 0);
    CHECK_NEAR(c1.a, c2.a, 0.05);
    CHECK_NEAR(c1.b, c2.b, 0.05);
}

/* Separable scores give a finite slope; one class, no scores, NaN only
 * or scores that rank ham higher give no calibration. */
TEST(test_fit_edges)
{
    double z[6] = { -3, -2, -1, 1, 2, 3 };
    unsigned char y[6] = { 0, 0, 0, 1, 1, 1 };
    struct bayes_calib c = { 7, 7 };
    CHECK_EQ_INT(bayes_fit_calib(z, y, NULL, 6, &c), 0);
    CHECK(isfinite(c.a) && c.a > 0 && c.a < 50);
    CHECK(isfinite(c.b));
    unsigned char one[6] = { 1, 1, 1, 1, 1, 1 };
    CHECK_EQ_INT(bayes_fit_calib(z, one, NULL, 6, &c), -1);
    CHECK_EQ_INT(bayes_fit_calib(z, y, NULL, 0, &c), -1);
    unsigned char rev[6] = { 1, 1, 1, 0, 0, 0 };
    CHECK_EQ_INT(bayes_fit_calib(z, rev, NULL, 6, &c), -1);
    double nan6[6] = { NAN, NAN, NAN, NAN, NAN, NAN };
    CHECK_EQ_INT(bayes_fit_calib(nan6, y, NULL, 6, &c), -1);
    double zero[6] = { 0, 0, 0, 0, 0, 0 };
    CHECK_EQ_INT(bayes_fit_calib(z, y, zero, 6, &c), -1);
    /* All scores equal: nothing ranks spam higher. */
    CHECK_EQ_INT(bayes_fit_calib(zero, y, NULL, 6, &c), -1);
    double three[6] = { 3, 3, 3, 3, 3, 3 };
    CHECK_EQ_INT(bayes_fit_calib(three, y, NULL, 6, &c), -1);
    /* Non-finite or absurd scores and weights are skipped, never a fit
     * of the starting point reported as done. */
    double bad[8] = { -3, -2, -1, 1, 2, 3, INFINITY, 1e300 };
    unsigned char yb[8] = { 0, 0, 0, 1, 1, 1, 1, 0 };
    struct bayes_calib c2;
    CHECK_EQ_INT(bayes_fit_calib(bad, yb, NULL, 8, &c2), 0);
    CHECK_EQ_INT(bayes_fit_calib(z, y, NULL, 6, &c), 0);
    CHECK_NEAR(c2.a, c.a, 1e-9);
    CHECK_NEAR(c2.b, c.b, 1e-9);
    double winf[6] = { 1, 1, 1, 1, 1, INFINITY };
    CHECK_EQ_INT(bayes_fit_calib(z, y, winf, 6, &c2), 0);
    CHECK(isfinite(c2.a) && c2.a > 0);
}

TEST(test_logit_and_rank)
{
    CHECK_NEAR(bayes_logit(0.5), 0, 1e-12);
    CHECK_NEAR(bayes_logit(1.0), BAYES_MAX_LOGIT, 0);
    CHECK_NEAR(bayes_logit(0.0), -BAYES_MAX_LOGIT, 0);
    CHECK(bayes_rank(1e300) < 1.0 || bayes_rank(1e300) == 1.0);
    CHECK(bayes_rank(3) > bayes_rank(2));
    CHECK_NEAR(bayes_rank(0), 0.5, 0);
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_score_formula);
    RUN(test_calibration_applied);
    RUN(test_fractional_counts);
    RUN(test_basic_verdicts);
    RUN(test_no_opinion);
    RUN(test_monotone);
    RUN(test_order_independent);
    RUN(test_symmetry);
    RUN(test_extremes);
    RUN(test_top_lists);
    RUN(test_top_lead_first);
    RUN(test_fit_recovers);
    RUN(test_fit_edges);
    RUN(test_logit_and_rank);
    return TEST_REPORT();
}
