/* sweep.h - what thresholds would have done to labelled comments.
 *
 * Each comment is its score, its floor (the least strict decision its
 * reasons allow) and whether a solved captcha came with it; a policy's
 * bands turn it into a decision exactly as /v1/check does (verdict.h,
 * and the challenge band of check.c). A comment counts as flagged when
 * the decision is not "accept" (sweeping "hold") or is "reject"
 * (sweeping "reject"); precision, recall and the false-positive rate are
 * those of flagging against the moderators' labels. Pure code. */
#ifndef MODGATE_SWEEP_H
#define MODGATE_SWEEP_H

#include <stddef.h>

#include "verdict.h"

struct sweep_item {
    double score;          /* 0..1, as verdict_score */
    enum decision floor;   /* the reasons' strictest floor */
    int solved;            /* a solved captcha came with it: never challenged */
    int spam;              /* the label: 1 spam, 0 ham */
};

struct sweep_bands {
    double hold, reject;   /* 0 < hold <= reject <= 1 */
    int challenge;         /* the site gives challenges (captcha keys) */
    double challenge_from, challenge_to; /* scores in [from, to) are challenged */
};

enum sweep_kind { SWEEP_HOLD = 0, SWEEP_REJECT };

struct sweep_row {
    double threshold;
    size_t tp, fp, fn, tn; /* flagged spam, flagged ham, passed spam, passed ham */
    double precision, recall, fpr; /* NaN where undefined (nothing flagged, no spam, no ham) */
    size_t decisions[4];   /* by enum decision: accept, challenge, hold, reject */
};

/* The decision for 'it' under 'b'. */
enum decision sweep_decide(const struct sweep_item *it, const struct sweep_bands *b);

/* Counts and ratios of items[0..n) under 'b', flagging as 'kind' says;
 * row->threshold is left to the caller. */
void sweep_row(const struct sweep_item *items, size_t n, const struct sweep_bands *b, enum sweep_kind kind,
               struct sweep_row *row);

/* One row per threshold t = lo, lo + step, ... <= hi (at most 'max'):
 * 'base' with its hold (or reject) threshold set to t; the other one
 * moves with it where it would cross t (hold <= reject always).
 * Returns the number of rows. */
size_t sweep_run(const struct sweep_item *items, size_t n, const struct sweep_bands *base, enum sweep_kind kind,
                 double lo, double hi, double step, struct sweep_row *rows, size_t max);

#endif
