/* bayes.h - token counts -> spam probability, and why.
 *
 * Robinson's method, as SpamBayes and bogofilter use it: each token's
 * spam probability is smoothed toward a background belief by how often
 * it was seen, tokens with no clear leaning are skipped, and the rest are
 * combined with Fisher's chi-square test in both directions (bayes.c
 * explains each step and constant). Below a minimum of learned comments,
 * or of informative tokens, it has no opinion instead of guessing. Pure
 * code: no I/O, no allocation. */
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
    double s;                /* strength of the background belief, in comments */
    double x;                /* the background belief: P(spam) of an unseen token */
    double min_dev;          /* tokens with |f - 0.5| below this are skipped */
    int max_discriminators;  /* at most this many clues, the most extreme (and any
                                as extreme as the weakest of them) */
    long min_learns;         /* no opinion until each class has this many learned */
    int min_tokens;          /* no opinion with fewer informative tokens */
};

/* The defaults documented in api.md and bayes.c. */
void bayes_defaults(struct bayes_params *p);

struct bayes_top {
    size_t index;            /* into the caller's token arrays */
    double f;                /* the token's smoothed spam probability */
};

struct bayes_result {
    int opinion;             /* 1: p is an opinion; 0: too little to go on */
    double p;                /* Robinson's indicator (1 + S - H) / 2 in [0, 1]; 0.5
                                without opinion. What the service decides with and
                                reports as P(spam): a ranking score, not yet a
                                calibrated probability (a later calibration maps
                                'logit' to one) */
    double logit;            /* the tie-free score: ln Q(ham side) - ln Q(spam side) of
                                the two chi-square tails (> 0 leans spam); 0 without
                                opinion. Finite, never saturates: what eval ranks by
                                and what a later calibration maps to a probability */
    int used;                /* tokens that took part */
    int nspam_top, nham_top; /* entries valid in the arrays below */
    struct bayes_top spam_top[BAYES_TOP]; /* most spammy first */
    struct bayes_top ham_top[BAYES_TOP];  /* most hammy first */
};

/* Classify a comment whose 'n' tokens were seen spam[i] and ham[i] times
 * among 'nspam' and 'nham' learned comments. Counts and totals are
 * doubles: a blend of models (model_get_blend) scales one of them, so a
 * count may be fractional; whole counts give exactly what integer counts
 * gave. 'group' (may be NULL: each
 * token is its own) gives each token's evidence group, 0..ngroups-1: the
 * tokens of one group are one piece of evidence (a word, its pair with
 * the word before and its character n-grams) and make one clue, their
 * mean log-odds; a result's top entries name each group by its first
 * token.
 * Fills 'out'. */
void bayes_classify(const struct bayes_params *p, const double *spam, const double *ham,
                    const uint16_t *group, size_t ngroups, size_t n, double nspam, double nham,
                    struct bayes_result *out);

/* The smoothed spam probability of one token (exposed for tests and
 * explanations). */
double bayes_token_prob(const struct bayes_params *p, double spam, double ham, double nspam,
                        double nham);

/* The most a Bayes opinion adds to (or takes from) a comment's log-odds,
 * times the site's bayes.weight. 4 keeps the filter alone from rejecting:
 * at the default prior (0.1) a certain spam verdict gives a score of
 * 0.86, a hold for a moderator; it rejects together with other evidence
 * (a link, a suspect word). Without a cap a chi-square verdict of 1.0
 * would be infinite log-odds, and one misjudged comment a rejection. */
#define BAYES_MAX_LOGIT 4.0

/* The log-odds of P(spam) 'p', within +-BAYES_MAX_LOGIT. */
double bayes_logit(double p);

/* A result's tie-free 'logit' mapped into (0, 1) as 0.5 + 0.5 z / (1 + |z|):
 * increasing, never exactly 0 or 1 below |z| = 2^52, and two logits stay
 * apart unless they differ by less than about 1e-16 (1 + |z|)^2 (1e-10 at
 * the ~1e3 of 150 clues at the clamp), where a logistic would round to 1
 * above |z| = 37. A ranking score, not a probability; 0.5 for 0. */
double bayes_rank(double logit);

#endif
