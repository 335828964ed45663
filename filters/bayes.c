/* bayes.c - Robinson's token probabilities, Fisher's chi-square combining.
 *
 * The method of Gary Robinson ("A Statistical Approach to the Spam
 * Problem", Linux Journal 2003), as SpamBayes and bogofilter implement it:
 *
 * 1. A token seen in b of nspam spam and g of nham ham comments leans
 *        p = (b/nspam) / (b/nspam + g/nham)
 *    (class sizes divided out, so a model learned with more ham than spam
 *    is not biased toward ham).
 * 2. That is smoothed toward a background belief x, as if the token had
 *    also been seen s times with probability x:
 *        f = (s*x + n*p) / (s + n),   n = b + g.
 *    A token seen once says little; one seen a hundred times says p.
 * 3. Tokens that are one piece of evidence (a word, its pair with the
 *    word before, its character n-grams: one "group") become one clue,
 *    their mean log-odds. Clues with |f - 0.5| < min_dev are skipped: they
 *    carry noise, not evidence. Of the rest, at most max_discriminators,
 *    the most extreme (more when the cut falls among equal ones).
 * 4. Fisher's method tests the hypothesis "these f are uniformly random"
 *    in both directions: H = C(-2 sum ln f, 2k), S = C(-2 sum ln(1-f), 2k),
 *    with C the chi-square survival function of 2k degrees of freedom.
 *    The indicator (1 + H - S) / 2 is near 1 when the evidence says spam,
 *    near 0 for ham, and near 0.5 both when evidence is absent and when it
 *    is strong both ways: an honest "unsure" rather than a coin toss.
 *
 * Everything works in log space: products of hundreds of probabilities
 * would underflow.
 *
 * Monotone where it matters: with the same clues, more spam evidence on
 * any of them never lowers P(spam). But Fisher's test asks how far the
 * whole set is from chance, so a weak spam clue joining a strong one can
 * lower it a little (one token at f 0.99 gives 0.990; adding one at 0.75
 * gives 0.973), and a clue crossing min_dev changes the set. That is the
 * method's nature, and why a decision uses thresholds with margin. */
#include "bayes.h"

#include <math.h>
#include <string.h>

/* Defaults, with the reason for each (api.md lists them too):
 * - s = 1, x = 0.5: Robinson's own starting values. x = 0.5 means an
 *   unseen token is neutral; s = 1 makes a token seen once, in one class
 *   only, 0.75 and not certain. SpamBayes's s = 0.45 (0.84 for such a
 *   token) let one-off word pairs push ordinary comments over: on 5-fold
 *   cross-validation of the training splits s = 1 gave AUC 0.9967 / 0.9899
 *   (sms / youtube) against 0.9952 / 0.9881.
 * - min_dev = 0.1: SpamBayes's minimum_prob_strength; tokens in 0.4..0.6
 *   are dropped (common words such as "the" and most n-grams of them).
 * - max_discriminators = 150: SpamBayes's value. A comment rarely has that
 *   many informative tokens, but a long one full of repeated n-grams must
 *   not drown its decision in correlated evidence.
 * - min_learns = 20 per class: below that the token probabilities are
 *   mostly the background belief, and an "opinion" would be noise.
 * - min_tokens = 1: one clear token ("viagra" learned 50 times as spam)
 *   is an opinion; zero is not. */
void bayes_defaults(struct bayes_params *p)
{
    p->s = 1.0;
    p->x = 0.5;
    p->min_dev = 0.1;
    p->max_discriminators = 150;
    p->min_learns = 20;
    p->min_tokens = 1;
}

double bayes_token_prob(const struct bayes_params *p, double spam, double ham, double nspam,
                        double nham)
{
    double n = spam + ham;
    if (!(n > 0) || !(nspam > 0) || !(nham > 0))
        return p->x;
    /* Counts above the class total can only come from a corrupt model;
     * clamp so that a ratio stays a probability. */
    double bs = spam > nspam ? 1.0 : spam / nspam;
    double gh = ham > nham ? 1.0 : ham / nham;
    double pw = bs / (bs + gh);
    return (p->s * p->x + n * pw) / (p->s + n);
}

/* The natural log of the chi-square survival function Q(x2 | v) for even
 * v, in closed form:
 * exp(-m) * sum_{i < v/2} m^i / i!, m = x2 / 2. The sum is formed without
 * the exp(-m) factor (which underflows to 0 for m > 745, hundreds of
 * strong tokens) and rescaled when it grows large; the factor is applied
 * in log space, and the log is returned: Q itself rounds to exactly 0 far
 * sooner than its log stops telling comments apart (the tie-free logit
 * needs it). One multiply-add per term. */
static double chi2q_log(double x2, int v)
{
    double m = x2 / 2.0;
    if (m <= 0)
        return 0.0;
    double term = 1.0, sum = 1.0, lscale = 0.0;
    for (int i = 1; i < v / 2; i++) {
        term *= m / i;
        sum += term;
        if (sum > 1e250) { /* keep both finite: scale down, remember it */
            term *= 1e-250;
            sum *= 1e-250;
            lscale += 575.6462732485115; /* ln(1e250) */
        }
    }
    double lq = log(sum) + lscale - m;
    return lq > 0.0 ? 0.0 : lq;
}

/* Natural log of x > 0 (finite, normal), to within 1e-9 relative: the
 * exponent from the bits, the mantissa m in [0.707, 1.414) by the series
 * log m = 2 atanh(t), t = (m - 1) / (m + 1), |t| < 0.172, to t^9 (the
 * next term is below 4e-10). A classification takes a log per token; this
 * is three to four times cheaper than libm's, which must be exact to the
 * last bit and handle every input. */
static double fast_log(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    int e = (int)((b >> 52) & 0x7ff) - 1023;
    b = (b & UINT64_C(0x000fffffffffffff)) | UINT64_C(0x3ff0000000000000);
    double m;
    memcpy(&m, &b, sizeof m);
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e++;
    }
    double t = (m - 1) / (m + 1), t2 = t * t;
    double l = 2 * t * (1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9)))));
    return l + e * 0.6931471805599453;
}

/* logit(1 - 1e-6): the most one token's log-odds may say. */
#define LOGIT_MAX 13.815509557963773

struct clue {
    double f;
    double lnf;     /* ln f: ln(1 - f) is lnf - its log-odds */
    double lo;      /* its log-odds, ln(f / (1 - f)) */
    double dev;     /* |f - 0.5| */
    size_t index;
};

/* Move the 'k' clues with the largest dev to c[0..k) (Hoare quickselect:
 * linear on average; the order within each side does not matter). */
static void select_top(struct clue *c, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = c[lo + (hi - lo) / 2].dev;
        size_t i = lo, j = hi;
        while (i <= j) {
            while (c[i].dev > pivot)
                i++;
            while (c[j].dev < pivot)
                j--;
            if (i <= j) {
                struct clue t = c[i];
                c[i] = c[j];
                c[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            break;
    }
}

/* Keep the BAYES_TOP most extreme clues in one direction in 'top',
 * most extreme first. */
static void keep_top(struct bayes_top *top, int *ntop, size_t index, double f, double dev)
{
    int i = *ntop < BAYES_TOP ? (*ntop)++ : BAYES_TOP;
    if (i == BAYES_TOP) {
        if (dev <= fabs(top[BAYES_TOP - 1].f - 0.5))
            return;
        i = BAYES_TOP - 1;
    }
    while (i > 0 && fabs(top[i - 1].f - 0.5) < dev) {
        top[i] = top[i - 1];
        i--;
    }
    top[i].index = index;
    top[i].f = f;
}

void bayes_classify(const struct bayes_params *p, const double *spam, const double *ham,
                    const uint16_t *group, size_t ngroups, size_t n, double nspam, double nham,
                    struct bayes_result *out)
{
    struct clue clues[BAYES_MAX_TOKENS];
    memset(out, 0, sizeof *out);
    out->p = 0.5;
    if (nspam < (double)p->min_learns || nham < (double)p->min_learns || !(nspam > 0) || !(nham > 0))
        return;
    if (n > BAYES_MAX_TOKENS)
        n = BAYES_MAX_TOKENS;
    if (ngroups > BAYES_MAX_TOKENS)
        group = NULL; /* cannot come from tok_groups; be safe, not clever */
    /* One clue per evidence group: the mean log-odds of the group's seen
     * tokens. A word, its pair with the word before and its character
     * n-grams say one thing several times; counting each would multiply
     * one piece of evidence (a comment saying "epic" would look like
     * five spam words). The mean lets the n-grams speak for a word never
     * seen itself ("fr3e" shares "_fr" and "e_" with "free") and
     * averages away the chance extremes of rare n-grams (taking the most
     * extreme token of each group instead lost 0.01 of AUC on both
     * training splits, 5-fold cross-validation). */
    double sum[BAYES_MAX_TOKENS];
    int cnt[BAYES_MAX_TOKENS];
    const double inv_ns = 1.0 / nspam, inv_nh = 1.0 / nham;
    const double sx = p->s * p->x, s1x = p->s * (1 - p->x);
    size_t rep[BAYES_MAX_TOKENS];
    size_t ng = group ? ngroups : n;
    for (size_t g = 0; g < ng; g++) {
        sum[g] = 0;
        cnt[g] = -1; /* -1: no token of the group met yet */
    }
    for (size_t i = 0; i < n; i++) {
        size_t g = group ? group[i] : i;
        if (g >= ng)
            continue;
        if (cnt[g] < 0) {
            cnt[g] = 0;
            rep[g] = i; /* the group's first token (the word) names it */
        }
        if (!(spam[i] > 0) && !(ham[i] > 0))
            continue; /* never seen: no evidence either way */
        /* log(f / (1 - f)) of bayes_token_prob's f, with its fractions
         * multiplied out: f / (1 - f) = (s x (bs + gh) + n bs) /
         * (s (1 - x)(bs + gh) + n gh). One division instead of five: this
         * runs for every token of every check. */
        double bs = spam[i] > nspam ? 1.0 : spam[i] * inv_ns;
        double gh = ham[i] > nham ? 1.0 : ham[i] * inv_nh;
        double cn = spam[i] + ham[i], sum_bg = bs + gh;
        double num = sx * sum_bg + cn * bs, den = s1x * sum_bg + cn * gh;
        /* Clamped to f in [1e-6, 1 - 1e-6]: s = 0 (or x = 0 or 1) would
         * make a token seen in one class only infinitely telling. */
        double lo = den > 0 && num > 0 ? fast_log(num / den) : num > 0 ? LOGIT_MAX : -LOGIT_MAX;
        sum[g] += lo > LOGIT_MAX ? LOGIT_MAX : lo < -LOGIT_MAX ? -LOGIT_MAX : lo;
        cnt[g]++;
    }
    size_t k = 0;
    for (size_t g = 0; g < ng; g++) {
        if (cnt[g] <= 0)
            continue;
        double lo = sum[g] / cnt[g], e = exp(-lo);
        double f = 1 / (1 + e);
        double dev = fabs(f - 0.5);
        if (dev < p->min_dev)
            continue;
        clues[k].f = f;
        clues[k].lo = lo;
        clues[k].lnf = -fast_log(1 + e); /* ln f, without a second log for ln(1 - f) */
        clues[k].dev = dev;
        clues[k].index = rep[g];
        k++;
    }
    if (k < (size_t)p->min_tokens || k == 0)
        return;
    if (p->max_discriminators > 0 && k > (size_t)p->max_discriminators) {
        size_t max = (size_t)p->max_discriminators;
        select_top(clues, k, max);
        /* Clues as extreme as the weakest one kept are kept too: which of
         * equally strong clues made the cut must not depend on the order
         * of the tokens (100 spam and 100 ham one-offs gave 0.2 one way
         * round and 0.8 the other). */
        double cut = clues[0].dev;
        for (size_t i = 1; i < max; i++)
            if (clues[i].dev < cut)
                cut = clues[i].dev;
        size_t keep = max;
        for (size_t i = max; i < k; i++)
            if (clues[i].dev >= cut) {
                struct clue t = clues[keep];
                clues[keep++] = clues[i];
                clues[i] = t;
            }
        k = keep;
    }
    double lnf = 0, ln1f = 0;
    for (size_t i = 0; i < k; i++) {
        /* f is in [1e-6, 1 - 1e-6]: every token's log-odds is clamped */
        lnf += clues[i].lnf;
        ln1f += clues[i].lnf - clues[i].lo;
        if (clues[i].f > 0.5)
            keep_top(out->spam_top, &out->nspam_top, clues[i].index, clues[i].f, clues[i].dev);
        else
            keep_top(out->ham_top, &out->nham_top, clues[i].index, clues[i].f, clues[i].dev);
    }
    double lqh = chi2q_log(-2.0 * lnf, 2 * (int)k);  /* small: "these look like ham" */
    double lqs = chi2q_log(-2.0 * ln1f, 2 * (int)k); /* small: "these look like spam" */
    double h = 1.0 - exp(lqh), s = 1.0 - exp(lqs);
    out->p = (1.0 + s - h) / 2.0;
    /* The same two tails compared in log space, where they never round
     * to 0 or 1. p is tie-free in practice too (Q is computed in log
     * space, so H and S only round to 1 below 1e-16): on the seed-1337
     * test halves no p is exactly 0 or 1, and 5-fold cross-validation of
     * the training halves ranks equally well by either (AUC 0.9966 /
     * 0.9893 by p, 0.9965 / 0.9897 by the logit, sms / youtube). The
     * logit is kept for what p cannot give: a raw score to calibrate. */
    out->logit = lqh - lqs;
    out->opinion = 1;
    out->used = (int)k;
}

double bayes_rank(double logit)
{
    return 0.5 + 0.5 * logit / (1.0 + fabs(logit));
}

double bayes_logit(double p)
{
    p = p < 1e-6 ? 1e-6 : p > 1 - 1e-6 ? 1 - 1e-6 : p;
    double lo = log(p / (1 - p));
    return lo > BAYES_MAX_LOGIT ? BAYES_MAX_LOGIT : lo < -BAYES_MAX_LOGIT ? -BAYES_MAX_LOGIT : lo;
}
