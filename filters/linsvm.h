/* A linear classifier over token hashes, beside the counts: what
 * `modgate eval --linear` measures (api.md 7). The service does not use
 * it (README: it lifts the in-domain tail and costs transfer across kinds
 * of text, docs/benchmarks.md).
 *
 * A linear SVM trained on labelled comments' token hashes, rebuilt from
 * them, never updated in place. Its score s is combined with the Bayes
 * score z by a logistic fit on scores that comments had before they were
 * learned: P(spam) = 1 / (1 + exp(-(u z + v s + c))).
 *
 * Pure computation: liblinear does the training. */
#ifndef MODGATE_LINSVM_H
#define MODGATE_LINSVM_H

#include <stddef.h>
#include <stdint.h>

typedef struct linear linear; /* opaque: weights per token hash, a bias */

/* One training comment: its distinct token hashes and its class. */
struct linear_example {
    const uint64_t *h;
    size_t n;
    int spam;
};

/* The SVM's cost (liblinear's C): chosen by cross-validation of the
 * training halves (docs/benchmarks.md). */
#define LINEAR_COST 1.0

/* When eval's prequential runs rebuild the linear model, as a service
 * would keep a site's: once it has LINEAR_MIN labelled comments of
 * each class, after every LINEAR_FIRST_EVERY more below LINEAR_EVERY
 * labels and every LINEAR_EVERY more after, from the newest
 * BAYES_CALIB_KEEP (the comments whose scores before learning are kept).
 * The combination is fitted as the calibration is (bayes.h: from
 * BAYES_CALIB_MIN pairs per class, every BAYES_CALIB_EVERY). */
#define LINEAR_MIN 10
#define LINEAR_FIRST_EVERY 10
#define LINEAR_EVERY 50

/* Train on 'n' examples: L2-regularised L2-loss linear SVM (liblinear's
 * dual solver, tolerance 0.1), each comment a binary row scaled to length
 * 1, plus a bias feature of 1. Returns NULL when a class has no example,
 * when liblinear refuses the parameters (a cost not > 0), or past its
 * sizes (2^24 tokens in all, 2^29 examples).
 * Aborts on OOM. liblinear's solver draws from rand(): the same examples
 * may give slightly different weights from run to run. */
linear *linear_train(const struct linear_example *ex, size_t n, double cost);

/* The model's score of a comment with the 'n' distinct token hashes 'h':
 * bias + the sum of the known tokens' weights / sqrt(n). 'm' NULL: 0. */
double linear_score(const linear *m, const uint64_t *h, size_t n);

/* The number of tokens with a weight. */
size_t linear_tokens(const linear *m);

void linear_free(linear *m);

/* The wire form (to keep or send a model): "MGL1", the count (u32), the bias
 * (f64), then count x (hash u64, weight f32), little-endian. Returns the
 * size written to *out (malloc'd; the caller frees). */
size_t linear_encode(const linear *m, unsigned char **out);

/* Parse the wire form. NULL when it is not exactly one (bad magic, a size
 * that does not match the count, a weight or bias not finite). */
linear *linear_decode(const unsigned char *p, size_t len);

/* The combination of a Bayes score z and a linear score s. */
struct linear_stack {
    double u, v, c; /* P(spam) = 1 / (1 + exp(-(u z + v s + c))) */
};

/* Fit the combination to 'n' pairs (z[i], s[i]) of comments whose class
 * is is_spam[i], each scored before it was learned: logistic regression,
 * each class weighing the same, lightly regularised. Returns 0 and fills
 * 'out', or -1 when a class has fewer than 'need' pairs or the fit does
 * not weigh both scores toward spam (u > 0 and v > 0). */
int linear_fit_stack(const double *z, const double *s, const unsigned char *is_spam, size_t n,
                     size_t need, struct linear_stack *out);

/* The stacked logit u z + v s + c. */
static inline double linear_stack_logit(const struct linear_stack *st, double z, double s)
{
    return st->u * z + st->v * s + st->c;
}

#endif
