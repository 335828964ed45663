/* test_linsvm.c - the linear model beside the counts: training on made-up
 * comments whose tokens say their class, the wire form, the combination. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linsvm.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double uniform(void)
{
    return (double)(next() >> 11) / 9007199254740992.0;
}

/* 60 comments: spam draws 4 of the tokens 1000..1009, ham 4 of 2000..2009,
 * both 3 of the common 3000..3004 (and token 0, a legal hash, in every
 * spam). Tokens within a comment are distinct. */
#define NEX 60
static uint64_t toks[NEX][8];
static struct linear_example ex[NEX];

static void make_set(void)
{
    for (int i = 0; i < NEX; i++) {
        int spam = i % 2, n = 0;
        uint64_t base = spam ? 1000 : 2000;
        while (n < 4) {
            uint64_t t = base + next() % 10;
            int dup = 0;
            for (int j = 0; j < n; j++)
                dup |= toks[i][j] == t;
            if (!dup)
                toks[i][n++] = t;
        }
        while (n < 7) {
            uint64_t t = 3000 + next() % 5;
            int dup = 0;
            for (int j = 4; j < n; j++)
                dup |= toks[i][j] == t;
            if (!dup)
                toks[i][n++] = t;
        }
        if (spam)
            toks[i][n++] = 0;
        ex[i] = (struct linear_example){ toks[i], (size_t)n, spam };
    }
}

TEST(test_trained_model_separates_and_generalises)
{
    make_set();
    linear *m = linear_train(ex, NEX, LINEAR_COST);
    CHECK(m != NULL);
    for (int i = 0; i < NEX; i++)
        CHECK(ex[i].spam ? linear_score(m, ex[i].h, ex[i].n) > 0 : linear_score(m, ex[i].h, ex[i].n) < 0);
    uint64_t spam_new[3] = { 1001, 1007, 3002 }, ham_new[3] = { 2003, 2009, 3002 };
    CHECK(linear_score(m, spam_new, 3) > 0);
    CHECK(linear_score(m, ham_new, 3) < 0);
    /* unknown tokens weigh nothing: the score is the bias */
    uint64_t unknown[2] = { 77, 78 };
    double bias = linear_score(m, unknown, 2);
    CHECK_NEAR(linear_score(m, NULL, 0), bias, 0);
    /* one token only in spam leans spam, one only in ham leans ham */
    uint64_t one_s = 1004, one_h = 2004;
    CHECK(linear_score(m, &one_s, 1) > bias);
    CHECK(linear_score(m, &one_h, 1) < bias);
    /* the weights: the 10 + 10 + 5 tokens and token 0 */
    CHECK_EQ_INT((int)linear_tokens(m), 26);
    linear_free(m);
    CHECK_NEAR(linear_score(NULL, spam_new, 3), 0, 0);
    CHECK_EQ_INT((int)linear_tokens(NULL), 0);
    linear_free(NULL);
}

TEST(test_one_class_or_none_trains_nothing)
{
    make_set();
    struct linear_example spam_only[NEX / 2];
    for (int i = 0; i < NEX / 2; i++)
        spam_only[i] = ex[2 * i + 1];
    CHECK(linear_train(spam_only, NEX / 2, LINEAR_COST) == NULL);
    CHECK(linear_train(ex, 0, LINEAR_COST) == NULL);
}

TEST(test_wire_form_round_trips_and_refuses_damage)
{
    make_set();
    linear *m = linear_train(ex, NEX, LINEAR_COST);
    unsigned char *b;
    size_t len = linear_encode(m, &b);
    CHECK_EQ_INT((int)len, 16 + 26 * 12);
    CHECK(!memcmp(b, "MGL1", 4));
    linear *d = linear_decode(b, len);
    CHECK(d != NULL);
    CHECK_EQ_INT((int)linear_tokens(d), 26);
    for (int i = 0; i < NEX; i++) /* the same weights and bias: the same scores, bit for bit */
        CHECK(linear_score(d, ex[i].h, ex[i].n) == linear_score(m, ex[i].h, ex[i].n));
    CHECK(linear_decode(b, len - 1) == NULL);    /* truncated */
    CHECK(linear_decode(b, 15) == NULL);         /* shorter than the header */
    unsigned char *c = malloc(len);
    memcpy(c, b, len);
    c[0] = 'X';
    CHECK(linear_decode(c, len) == NULL);        /* bad magic */
    memcpy(c, b, len);
    c[4]++;
    CHECK(linear_decode(c, len) == NULL);        /* a count that does not match the size */
    memcpy(c, b, len);
    memcpy(c + 16 + 12, c + 16, 8);              /* the second entry's hash = the first's */
    CHECK(linear_decode(c, len) == NULL);
    memcpy(c, b, len);
    float nan = NAN;
    memcpy(c + 16 + 8, &nan, 4);                 /* a weight that is not a number */
    CHECK(linear_decode(c, len) == NULL);
    memcpy(c, b, len);
    double inf = INFINITY;
    memcpy(c + 8, &inf, 8);                      /* nor a bias */
    CHECK(linear_decode(c, len) == NULL);
    free(c);
    free(b);
    linear_free(d);
    linear_free(m);
}

/* Pairs drawn from a known logistic model: the fit finds its weights
 * (class weighting moves only the intercept); too few pairs of a class,
 * or a score that points the wrong way, fit nothing. */
TEST(test_stack_fit_recovers_a_known_combination)
{
    enum { N = 20000 };
    static double z[N], s[N];
    static unsigned char y[N];
    for (int i = 0; i < N; i++) {
        z[i] = 8 * uniform() - 4;
        s[i] = 4 * uniform() - 2;
        double p = 1 / (1 + exp(-(0.8 * z[i] + 1.5 * s[i] - 0.3)));
        y[i] = uniform() < p;
    }
    struct linear_stack st;
    CHECK_EQ_INT(linear_fit_stack(z, s, y, N, 30, &st), 0);
    CHECK(fabs(st.u - 0.8) < 0.1);
    CHECK(fabs(st.v - 1.5) < 0.15);
    CHECK(isfinite(st.c));
    CHECK_NEAR(linear_stack_logit(&st, 1, 2), st.u + 2 * st.v + st.c, 1e-12);
    CHECK_EQ_INT(linear_fit_stack(z, s, y, 40, 30, &st), -1); /* about 20 per class */
    for (int i = 0; i < N; i++)
        s[i] = -s[i]; /* the linear score now says the opposite */
    CHECK_EQ_INT(linear_fit_stack(z, s, y, N, 30, &st), -1);
    s[0] = NAN; /* a pair that is not finite is left out, not fitted */
    for (int i = 1; i < N; i++)
        s[i] = -s[i];
    CHECK_EQ_INT(linear_fit_stack(z, s, y, N, 30, &st), 0);
    CHECK(fabs(st.v - 1.5) < 0.15);
}

int main(void)
{
    RUN(test_trained_model_separates_and_generalises);
    RUN(test_one_class_or_none_trains_nothing);
    RUN(test_wire_form_round_trips_and_refuses_damage);
    RUN(test_stack_fit_recovers_a_known_combination);
    return TEST_REPORT();
}
