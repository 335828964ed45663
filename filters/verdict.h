/* verdict.h - reasons, scores and decisions: how filter outputs combine.
 *
 * Every filter adds reasons to one struct verdict. A reason carries a
 * contribution in log-odds units (positive = more spammy) and may raise the
 * decision floor (a blocked word forces at least "reject" whatever the score).
 * The spam score is the logistic of (prior + sum of contributions); the site's
 * thresholds turn it into a decision band, and the floor can only make that
 * decision stricter. Pure code: no I/O, no allocation. */
#ifndef MODGATE_VERDICT_H
#define MODGATE_VERDICT_H

#include <stddef.h>

/* Ordered by severity: a larger value is a stricter outcome. */
enum decision {
    DEC_ACCEPT = 0,
    DEC_CHALLENGE = 1, /* reserved for the captcha (issue 4); no band yet */
    DEC_HOLD = 2,
    DEC_REJECT = 3,
};

#define VERDICT_MAX_REASONS 24
#define REASON_FILTER_MAX 16
#define REASON_CODE_MAX 24
#define REASON_DETAIL_MAX 160

struct reason {
    char filter[REASON_FILTER_MAX]; /* which filter: "links", "words", ... */
    char code[REASON_CODE_MAX];     /* stable machine code: "too_many_links" */
    double contribution;            /* log-odds added to the score */
    enum decision floor;            /* DEC_ACCEPT when it forces nothing */
    char detail[REASON_DETAIL_MAX]; /* human-readable, may quote the comment */
};

struct verdict {
    double logit;          /* prior + sum of contributions */
    enum decision floor;   /* strictest floor of any reason */
    int nreasons;          /* reasons[0..nreasons) are valid */
    int dropped;           /* reasons not kept because the array was full */
    struct reason reasons[VERDICT_MAX_REASONS];
};

/* Decision bands on the score: score >= reject -> reject, >= hold -> hold,
 * otherwise accept. 0 < hold <= reject <= 1 is validated by the config. */
struct thresholds {
    double hold;
    double reject;
};

/* Start an empty verdict whose score before any reason is 'prior' (0..1). */
void verdict_init(struct verdict *v, double prior);

/* Add a reason: 'contribution' in log-odds, 'floor' the least strict
 * decision it allows, 'fmt' a printf format for the detail (truncated to
 * REASON_DETAIL_MAX-1 bytes on a UTF-8 boundary). 'filter' and 'code' are
 * copied. When the array is full the reason still counts toward logit and
 * floor and v->dropped is incremented. */
void verdict_add(struct verdict *v, const char *filter, const char *code,
                 double contribution, enum decision floor, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The spam probability 0..1 of the verdict, rounded to 4 decimals. */
double verdict_score(const struct verdict *v);

/* The decision: the thresholds' band for the score, made at least as strict
 * as the verdict's floor. */
enum decision verdict_decide(const struct verdict *v, const struct thresholds *t);

/* "accept", "challenge", "hold", "reject". Never NULL. */
const char *decision_name(enum decision d);

/* Parse a decision name. Returns 0 and sets *out, or -1 if unknown. */
int decision_parse(const char *s, enum decision *out);

#endif
