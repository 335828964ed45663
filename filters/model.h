/* model.h - a Bayes model held in memory: token -> (spam, ham) counts.
 *
 * The counts are the number of learned comments of each class that held
 * the token (a token counts once per comment), plus the number of learned
 * comments of each class. An open-addressing hash table of 16-byte slots:
 * a lookup is one or two cache lines. Pure code: the service loads it from
 * Redis and keeps it current (service/bayesdb.c); eval builds it from a
 * file. Not thread-safe: callers lock around it. */
#ifndef MODGATE_MODEL_H
#define MODGATE_MODEL_H

#include <stddef.h>
#include <stdint.h>

enum model_class { MODEL_SPAM = 0, MODEL_HAM = 1 };

typedef struct model model; /* opaque */

/* A new empty model. Never NULL (aborts on OOM). Free with model_free. */
model *model_new(void);

/* Free a model; NULL is fine. */
void model_free(model *m);

/* Remove every token and zero the totals. */
void model_clear(model *m);

/* The counts of 'n' tokens: spam[i] and ham[i] for h[i] (0 when unknown). */
void model_get(const model *m, const uint64_t *h, size_t n, uint32_t *spam, uint32_t *ham);

/* The counts of 'n' tokens as a reader of a blend sees them: 'site''s
 * counts plus 'starter''s times 'scale_spam' (spam) and 'scale_ham' (ham),
 * as doubles in spam_out[i] and ham_out[i]. 'starter' may be NULL (or the
 * scales 0): then the site's counts alone, exactly. A starter model at a
 * capped strength of K pseudo-comments per class is read with scale
 * K / its class total when that is below 1 (model_blend_scale). Both
 * models are only read. */
void model_get_blend(const model *site, const model *starter, double scale_spam, double scale_ham,
                     const uint64_t *h, size_t n, double *spam_out, double *ham_out);

/* The counts of 'n' tokens summed over 'nm' models (the sources of one
 * model, and a starter), model j's times f_spam[j] (spam) and f_ham[j]
 * (ham), as doubles in spam_out[i] and ham_out[i]. A model that is NULL,
 * empty or read at factors 0 costs nothing: one table lookup per token
 * per model actually read. All models are only read. */
void model_get_sum(const model *const *ms, const double *f_spam, const double *f_ham, size_t nm,
                   const uint64_t *h, size_t n, double *spam_out, double *ham_out);

/* Source balancing within one class (api.md 3.4): 'total' holds the
 * class's learned comments of each of 'n' sources, the site's own first.
 * The reference T is the site's total once it has 'need' of them, else
 * the smallest total of another source with 'need'. A source with more
 * than T is read at factor T / its total, so it weighs T; every other
 * source weighs its own counts (factor 1). So a factor is never above 1,
 * nothing is inflated, a small import never scales the site down, and
 * every factor is 1 with one source or with none at 'need'. Writes
 * factor[0..n-1]. */
void model_balance(const uint64_t *total, size_t n, uint64_t need, double *factor);

/* The class totals of the same blend: site's plus starter's scaled. */
void model_totals_blend(const model *site, const model *starter, double scale_spam,
                        double scale_ham, double *nspam, double *nham);

/* The scale that caps a class of 'total' learned comments at 'k'
 * pseudo-comments: k / total when that is below 1, else 1 (a starter is
 * never inflated); 0 when k <= 0 or the class is empty. */
double model_blend_scale(uint64_t total, double k);

/* Add 'delta' (+1 learn, -1 unlearn) to class 'cls' of each of the 'n'
 * tokens and to that class's total. Counts never go below 0; a token
 * whose counts are both 0 is removed. */
void model_add(model *m, const uint64_t *h, size_t n, enum model_class cls, int delta);

/* Set one token's count of class 'cls' to 'v' (an absolute value, as
 * Redis holds it); 0 in both classes removes the token. */
void model_set(model *m, uint64_t h, enum model_class cls, uint32_t v);

/* The learned comments of each class. */
void model_totals(const model *m, uint64_t *nspam, uint64_t *nham);
void model_set_totals(model *m, uint64_t nspam, uint64_t nham);

/* Tokens with a non-zero count, and the bytes the table takes. */
size_t model_tokens(const model *m);
size_t model_bytes(const model *m);

/* Iterate: start with *iter = 0; each call returns 1 with the next
 * token's hash and counts, or 0 at the end. The model must not change
 * meanwhile. */
int model_next(const model *m, size_t *iter, uint64_t *h, uint32_t *spam, uint32_t *ham);

#endif
