/* test_sweep.c - threshold sweeps against hand-counted labelled sets. */
#include <math.h>

#include "sweep.h"
#include "test.h"

/* Six comments: three spam, three ham. By hand, flagging "not accept":
 *   hold 0.5: flagged 0.92s 0.70s 0.30s(floor reject) 0.60h 0.55h -> tp 3 fp 2 fn 0 tn 1
 *   hold 0.8: flagged 0.92s 0.30s(floor reject) 0.55h(floor hold)  -> tp 2 fp 1 fn 1 tn 2 */
static const struct sweep_item set[] = {
    { 0.92, DEC_ACCEPT, 0, 1 }, { 0.70, DEC_ACCEPT, 0, 1 }, { 0.30, DEC_REJECT, 0, 1 },
    { 0.60, DEC_ACCEPT, 0, 0 }, { 0.55, DEC_HOLD, 0, 0 }, { 0.10, DEC_ACCEPT, 0, 0 },
};
#define NSET (sizeof set / sizeof *set)

TEST(test_decide_matches_the_bands_and_floors)
{
    struct sweep_bands b = { 0.5, 0.9, 0, 0, 0 };
    CHECK_EQ_INT(sweep_decide(&set[0], &b), DEC_REJECT);
    CHECK_EQ_INT(sweep_decide(&set[1], &b), DEC_HOLD);
    CHECK_EQ_INT(sweep_decide(&set[2], &b), DEC_REJECT); /* the floor wins over a low score */
    CHECK_EQ_INT(sweep_decide(&set[5], &b), DEC_ACCEPT);
    struct sweep_item edge = { 0.5, DEC_ACCEPT, 0, 0 };
    CHECK_EQ_INT(sweep_decide(&edge, &b), DEC_HOLD); /* score == hold holds */
}

TEST(test_challenge_band)
{
    struct sweep_bands b = { 0.5, 0.9, 1, 0.4, 0.65 };
    CHECK_EQ_INT(sweep_decide(&set[1], &b), DEC_HOLD);      /* 0.70: above the band */
    CHECK_EQ_INT(sweep_decide(&set[3], &b), DEC_CHALLENGE); /* 0.60 held -> challenged */
    struct sweep_item low = { 0.45, DEC_ACCEPT, 0, 0 }, solved = { 0.60, DEC_ACCEPT, 1, 0 },
                      word = { 0.60, DEC_HOLD, 0, 0 }, blocked = { 0.60, DEC_REJECT, 0, 1 };
    CHECK_EQ_INT(sweep_decide(&low, &b), DEC_CHALLENGE);   /* an accept in the band is challenged too */
    CHECK_EQ_INT(sweep_decide(&solved, &b), DEC_HOLD);     /* solved: no second challenge */
    CHECK_EQ_INT(sweep_decide(&word, &b), DEC_HOLD);       /* a hold floor is above challenge */
    CHECK_EQ_INT(sweep_decide(&blocked, &b), DEC_REJECT);
    b.challenge = 0;
    CHECK_EQ_INT(sweep_decide(&low, &b), DEC_ACCEPT);
}

TEST(test_row_counts_by_hand)
{
    struct sweep_bands b = { 0.5, 0.9, 0, 0, 0 };
    struct sweep_row r = { .threshold = 0.5 };
    sweep_row(set, NSET, &b, SWEEP_HOLD, &r);
    CHECK_EQ_INT(r.tp, 3);
    CHECK_EQ_INT(r.fp, 2);
    CHECK_EQ_INT(r.fn, 0);
    CHECK_EQ_INT(r.tn, 1);
    CHECK_NEAR(r.precision, 0.6, 1e-12);
    CHECK_NEAR(r.recall, 1.0, 1e-12);
    CHECK_NEAR(r.fpr, 2.0 / 3, 1e-12);
    CHECK_EQ_INT(r.decisions[DEC_ACCEPT], 1);
    CHECK_EQ_INT(r.decisions[DEC_HOLD], 3);   /* 0.70, 0.60, 0.55 */
    CHECK_EQ_INT(r.decisions[DEC_REJECT], 2); /* 0.92, and 0.30 by its floor */
    CHECK_NEAR(r.threshold, 0.5, 0);
    /* flagging only rejects: 0.92s and 0.30s */
    sweep_row(set, NSET, &b, SWEEP_REJECT, &r);
    CHECK_EQ_INT(r.tp, 2);
    CHECK_EQ_INT(r.fp, 0);
    CHECK_NEAR(r.precision, 1.0, 1e-12);
    CHECK_NEAR(r.fpr, 0.0, 1e-12);
}

TEST(test_sweep_rows_and_moving_reject)
{
    struct sweep_bands b = { 0.5, 0.9, 0, 0, 0 };
    struct sweep_row rows[32];
    size_t n = sweep_run(set, NSET, &b, SWEEP_HOLD, 0.05, 0.95, 0.05, rows, 32);
    CHECK_EQ_INT(n, 19);
    CHECK_NEAR(rows[18].threshold, 0.95, 0);
    CHECK_NEAR(rows[15].threshold, 0.8, 0);
    /* hold 0.8 (by hand above) */
    CHECK_EQ_INT(rows[15].tp, 2);
    CHECK_EQ_INT(rows[15].fp, 1);
    CHECK_EQ_INT(rows[15].tn, 2);
    /* hold 0.95 moves reject up to 0.95: 0.92 is no longer rejected, and
     * not held either; only the floors flag */
    CHECK_EQ_INT(rows[18].decisions[DEC_REJECT], 1);
    CHECK_EQ_INT(rows[18].tp, 1);
    CHECK_EQ_INT(rows[18].fp, 1);
    /* hold 0.05: everything flagged */
    CHECK_EQ_INT(rows[0].tp, 3);
    CHECK_EQ_INT(rows[0].fp, 3);
    CHECK_NEAR(rows[0].recall, 1.0, 1e-12);
    /* the cap is kept */
    CHECK_EQ_INT(sweep_run(set, NSET, &b, SWEEP_HOLD, 0.05, 0.95, 0.05, rows, 4), 4);
}

TEST(test_undefined_ratios_are_nan)
{
    struct sweep_item ham = { 0.1, DEC_ACCEPT, 0, 0 };
    struct sweep_bands b = { 0.5, 0.9, 0, 0, 0 };
    struct sweep_row r = { 0 };
    sweep_row(&ham, 1, &b, SWEEP_HOLD, &r);
    CHECK(isnan(r.precision)); /* nothing flagged */
    CHECK(isnan(r.recall));    /* no spam */
    CHECK_NEAR(r.fpr, 0.0, 0);
    sweep_row(&ham, 0, &b, SWEEP_HOLD, &r);
    CHECK(isnan(r.fpr));
}

int main(void)
{
    RUN(test_decide_matches_the_bands_and_floors);
    RUN(test_challenge_band);
    RUN(test_row_counts_by_hand);
    RUN(test_sweep_rows_and_moving_reject);
    RUN(test_undefined_ratios_are_nan);
    return TEST_REPORT();
}
