/* bayes.h - token counts -> spam probability, and why.
 *
 * Bernoulli naive Bayes over the tokens a comment has, normalised by the
 * square root of their number, and mapped to a probability by a
 * calibration fitted on scores of comments the model had not learned
 * (bayes.c explains each step and constant). Below a minimum of learned
 * comments, or of tokens ever seen, it has no opinion instead of
 * guessing. Pure code: no I/O, no allocation. */
#ifndef MODGATE_BAYES_H
#define MODGATE_BAYES_H

#include <stddef.h>
#include <stdint.h>

/* Tokens one classification looks at; more are ignored (the tokenizer
 * keeps at most TOK_MAX = 512 anyway). */
#define BAYES_MAX_TOKENS 1024

/* Tokens reported per direction in a result. */
#define BAYES_TOP 5

struct bayes_params {
    double alpha;            /* added to each token's count in each class, in
                                comments: the smoothing of a rare token */
    long min_learns;         /* no opinion until each class has this many learned */
    int min_tokens;          /* no opinion with fewer tokens ever seen */
};

/* The defaults documented in api.md and bayes.c. */
void bayes_defaults(struct bayes_params *p);

/* A calibration: the raw score z of a comment is P(spam) =
 * 1 / (1 + exp(-(a z + b))) with both classes equally likely a priori
 * (Platt's method; the site's prior is applied by the caller). */
struct bayes_calib {
    double a, b;
};

/* The calibration of a model that has none of its own: fitted on
 * cross-validated scores of the training halves (bayes.c). */
extern const struct bayes_calib bayes_calib_default;

struct bayes_top {
    size_t index;            /* into the caller's token arrays */
    double f;                /* the token alone as P(spam): 1 / (1 + exp(-w)), w its
                                log likelihood ratio */
};

struct bayes_result {
    int opinion;             /* 1: p is an opinion; 0: too little to go on */
    double p;                /* the calibrated P(spam) in (0, 1), equal priors; 0.5
                                without opinion. What the service decides with */
    double logit;            /* the raw score z: the sum of the log likelihood
                                ratios of the tokens seen, divided by the square
                                root of their number (> 0 leans spam); 0 without
                                opinion. Finite, tie-free: what eval ranks by and
                                what a calibration maps to p */
    int used;                /* tokens that took part (ever seen) */
    int nspam_top, nham_top; /* entries valid in the arrays below */
    struct bayes_top spam_top[BAYES_TOP]; /* most spammy first (lead tokens first) */
    struct bayes_top ham_top[BAYES_TOP];  /* most hammy first (lead tokens first) */
};

/* Classify a comment whose 'n' tokens were seen spam[i] and ham[i] times
 * among 'nspam' and 'nham' learned comments, with calibration 'cal'
 * (NULL: bayes_calib_default). Counts and totals are doubles: a blend of
 * models (model_get_blend) scales one of them, so a count may be
 * fractional. The first 'lead' tokens are the ones a reader understands
 * best (tok_lead: words, pairs, links, ..., not character n-grams): the
 * top lists take them first, most telling first, then the others. Only
 * the explanation depends on it. Fills 'out'. */
void bayes_classify(const struct bayes_params *p, const struct bayes_calib *cal, const double *spam,
                    const double *ham, size_t n, size_t lead, double nspam, double nham,
                    struct bayes_result *out);

/* 'cal' applied to a raw score (NULL: bayes_calib_default). */
double bayes_calibrated(const struct bayes_calib *cal, double z);

/* How a model's own calibration is kept (service/bayes and eval's
 * prequential runs alike): fitted once it has BAYES_CALIB_MIN scored
 * labels of each class, refitted after every BAYES_CALIB_EVERY more,
 * from the newest BAYES_CALIB_KEEP. Thirty per class make two
 * parameters stable to about 0.1; two thousand follow a model whose
 * scores drift as it grows. */
#define BAYES_CALIB_MIN 30
#define BAYES_CALIB_EVERY 20
#define BAYES_CALIB_KEEP 2000

/* Fit a calibration to 'n' raw scores z[i] of comments whose class is
 * is_spam[i], each scored before it was learned (never by a model that
 * had learned it), comment i weighing w[i] (w NULL: 1 each; e.g. 1 / the
 * size of its source, for sources to count alike). Each class weighs the
 * same in all (the calibration is for equal priors), with Platt's
 * smoothed targets so that separable scores give a finite slope. Returns
 * 0 and fills 'out', or -1 when a class has no score (nothing to fit) or
 * the scores do not rank spam higher. */
int bayes_fit_calib(const double *z, const unsigned char *is_spam, const double *w, size_t n,
                    struct bayes_calib *out);

/* The most a Bayes opinion adds to (or takes from) a comment's log-odds,
 * times the site's bayes.weight. 4 keeps the filter alone from rejecting:
 * at the default prior (0.1) a certain spam verdict gives a score of
 * 0.86, a hold for a moderator; it rejects together with other evidence
 * (a link, a suspect word). Without a cap a confident verdict would be
 * tens of log-odds, and one misjudged comment a rejection. */
#define BAYES_MAX_LOGIT 4.0

/* The log-odds of P(spam) 'p', within +-BAYES_MAX_LOGIT. */
double bayes_logit(double p);

/* A result's raw score mapped into (0, 1) as 0.5 + 0.5 z / (1 + |z|):
 * increasing, never exactly 0 or 1 below |z| = 2^52, where a logistic
 * rounds to 1 above |z| = 37. What eval writes for ranking; not a
 * probability; 0.5 for 0. */
double bayes_rank(double logit);

#endif
