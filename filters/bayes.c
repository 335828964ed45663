/* bayes.c - Bernoulli naive Bayes on the tokens a comment has, and a
 * calibration that makes its score a probability.
 *
 * 1. A token seen in b of nspam spam and g of nham ham comments says
 *        w = ln((b + alpha) / (nspam + 2 alpha)) - ln((g + alpha) / (nham + 2 alpha)),
 *    the log likelihood ratio of "a comment of this class has the token",
 *    each count smoothed by alpha pseudo-comments (Bernoulli naive Bayes;
 *    the class sizes divide out, so a model learned with more ham than
 *    spam is not biased toward ham). Tokens never seen in either class are
 *    skipped: they say nothing, and a new site's unseen words must not
 *    lean either way. The absent tokens' terms of full Bernoulli NB are
 *    left out too (each is ln((nspam - b + ...) / ...), near 0 for the
 *    rare tokens that make a vocabulary, and summing them would cost a
 *    pass over the model).
 * 2. The comment's raw score is the sum of its m tokens' w divided by
 *    sqrt(m). Naive Bayes's independence assumption is most wrong for
 *    the overlapping n-grams of one text: a plain sum grows with the
 *    length and is wildly overconfident; the mean forgets how much
 *    evidence there is. sqrt(m) lies between (it is what the sum of m
 *    independent noisy terms grows by), and it ranked best in the
 *    prototype study (../shared/notes/CLASSIFIER.md, "BNB-sqrt") and here
 *    (docs/benchmarks.md). The score is finite and tie-free.
 * 3. A calibration maps the score to P(spam) = 1 / (1 + exp(-(a z + b)))
 *    (Platt's method), fitted on scores of comments their model had not
 *    learned, each class weighing the same; so a threshold of 0.9 means
 *    the same on any model, and the site's prior is applied on top. The
 *    shipped starter carries one fitted where a new site lives (its
 *    sources in turn scored by the others at the starter's weight), a
 *    site gets its own from its moderators' labels (service/bayes), and
 *    bayes_calib_default serves a model with neither.
 *
 * Monotone: more spam evidence on any token (a higher b, a lower g)
 * never lowers P(spam), and a token never seen changes nothing. */
#include "bayes.h"

#include <math.h>
#include <string.h>

/* Defaults, with the reason for each (api.md lists them too):
 * - alpha = 0.5: between Jeffreys' 0.5 and Laplace's 1, a token seen once
 *   in one class leans ln 3 = 1.1 that way. On 5-fold cross-validation of
 *   the training halves 0.5 and 1 ranked within noise (AUC 0.9959 /
 *   0.9941 against 0.9958 / 0.9927, sms / youtube), 0.5 better from a
 *   capped starter (youtube stream 0.987 against 0.986) and 2 worse.
 * - min_learns = 20 per class: below that the token counts are mostly
 *   the smoothing, and an "opinion" would be noise (the starter's
 *   pseudo-comments count: a new site has an opinion at once).
 * - min_tokens = 1: one token seen is an opinion; zero is not. */
void bayes_defaults(struct bayes_params *p)
{
    p->alpha = 0.5;
    p->min_learns = 20;
    p->min_tokens = 1;
}

/* Fitted by `modgate eval --cv 5` on the training halves of both corpora
 * (its "calibration" figures; docs/benchmarks.md): a model learned from
 * hundreds of comments of each class, scoring comments like those. */
const struct bayes_calib bayes_calib_default = { 0.700, -4.774 };

/* Natural log of x > 0 (finite, normal), to within 1e-9 relative: the
 * exponent from the bits, the mantissa m in [0.707, 1.414) by the series
 * log m = 2 atanh(t), t = (m - 1) / (m + 1), |t| < 0.172, to t^9 (the
 * next term is below 4e-10). A classification takes a log per token; this
 * is three to four times cheaper than libm's, which must be exact to the
 * last bit and handle every input. */
static inline __attribute__((always_inline)) double fast_log(double x)
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

/* The same in single precision, to within 1e-6 relative, for x > 0
 * finite and normal, with no branch (the mantissa is folded into
 * [0.707, 1.414) by a select): a loop of these vectorises. */
static inline float fast_logf(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    int32_t e = (int32_t)((b >> 23) & 0xff) - 127;
    b = (b & 0x007fffffu) | 0x3f800000u;
    float m;
    memcpy(&m, &b, sizeof m);
    int big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    e += big;
    float t = (m - 1) / (m + 1), t2 = t * t;
    float l = 2 * t * (1 + t2 * (1.0f / 3 + t2 * (1.0f / 5 + t2 * (1.0f / 7))));
    return l + (float)e * 0.69314718f;
}

double bayes_calibrated(const struct bayes_calib *cal, double z)
{
    if (!cal)
        cal = &bayes_calib_default;
    double t = cal->a * z + cal->b;
    if (!(t == t))
        return 0.5; /* a NaN calibration (a corrupt store): no opinion */
    return 1.0 / (1.0 + exp(-t));
}

/* Keep the BAYES_TOP tokens of one direction with the largest key in
 * top[] (their w in tw[], keys in tk[]), the largest first. */
static void keep_top(struct bayes_top *top, double *tw, double *tk, int *ntop, size_t index, double w,
                     double key)
{
    int i = *ntop < BAYES_TOP ? (*ntop)++ : BAYES_TOP;
    if (i == BAYES_TOP) {
        if (key <= tk[BAYES_TOP - 1])
            return;
        i = BAYES_TOP - 1;
    }
    while (i > 0 && tk[i - 1] < key) {
        top[i] = top[i - 1];
        tw[i] = tw[i - 1];
        tk[i] = tk[i - 1];
        i--;
    }
    top[i].index = index;
    tw[i] = w;
    tk[i] = key;
}

void bayes_classify(const struct bayes_params *p, const struct bayes_calib *cal, const double *spam,
                    const double *ham, size_t n, size_t lead, double nspam, double nham,
                    struct bayes_result *out)
{
    memset(out, 0, sizeof *out);
    out->p = 0.5;
    if (nspam < (double)p->min_learns || nham < (double)p->min_learns || !(nspam > 0) || !(nham > 0) ||
        !isfinite(nspam) || !isfinite(nham))
        return;
    if (n > BAYES_MAX_TOKENS)
        n = BAYES_MAX_TOKENS;
    /* alpha > 0 keeps every ratio finite; the config allows no less than
     * 0.01, this guards the library's other callers. */
    const double al = p->alpha > 1e-9 ? p->alpha : 1e-9;
    /* The class-size terms are the same for every token: once. */
    const double c = fast_log((nham + 2 * al) / (nspam + 2 * al));
    double sum = 0, tws[BAYES_TOP], twh[BAYES_TOP], tks[BAYES_TOP], tkh[BAYES_TOP];
    float r[BAYES_MAX_TOKENS], lr[BAYES_MAX_TOKENS];
    int m = 0;
    /* Three passes, the middle one (a log per token, the most work of a
     * check's classification) without branches, so that the compiler
     * does several tokens per instruction; single precision is ample for
     * a score that sums a few hundred terms of a few units each. */
    for (size_t i = 0; i < n; i++) {
        double b = spam[i], g = ham[i];
        /* Counts above the class total can only come from a corrupt
         * model; clamped, a ratio stays a likelihood ratio. NaN and
         * negative counts are 0. */
        b = b > nspam ? nspam : b > 0 ? b : 0;
        g = g > nham ? nham : g > 0 ? g : 0;
        r[i] = (float)((b + al) / (g + al));
        m += b > 0 || g > 0;
    }
    for (size_t i = 0; i < n; i++)
        lr[i] = fast_logf(r[i]);
    for (size_t i = 0; i < n; i++) {
        if (!(spam[i] > 0) && !(ham[i] > 0))
            continue; /* never seen: no evidence either way */
        double w = (double)lr[i] + c;
        sum += w;
        /* The lead tokens rank above all others: |w| is far below 1e6. */
        double key = fabs(w) + (i < lead ? 1e6 : 0);
        if (w > 0) {
            if (out->nspam_top < BAYES_TOP || key > tks[BAYES_TOP - 1])
                keep_top(out->spam_top, tws, tks, &out->nspam_top, i, w, key);
        } else if (w < 0) {
            if (out->nham_top < BAYES_TOP || key > tkh[BAYES_TOP - 1])
                keep_top(out->ham_top, twh, tkh, &out->nham_top, i, w, key);
        }
    }
    if (m < p->min_tokens || m == 0)
        return;
    for (int i = 0; i < out->nspam_top; i++)
        out->spam_top[i].f = 1.0 / (1.0 + exp(-tws[i]));
    for (int i = 0; i < out->nham_top; i++)
        out->ham_top[i].f = 1.0 / (1.0 + exp(-twh[i]));
    out->logit = sum / sqrt((double)m);
    out->p = bayes_calibrated(cal, out->logit);
    out->opinion = 1;
    out->used = m;
}

/* Platt's method with the Newton iteration of Lin, Lin and Weng ("A note
 * on Platt's probabilistic outputs for support vector machines", 2007):
 * minimise the weighted cross-entropy of 1 / (1 + exp(-(a z + b))) against
 * the targets (n1 + 1) / (n1 + 2) for spam and 1 / (n0 + 2) for ham, each
 * class weighing 1/2 in all, written so that no exp overflows. */
/* A score the fit can use: finite (with |z| below 1e6: a raw score of a
 * few hundred tokens is tens at most, so anything near 1e300 is corrupt
 * input whose squares would overflow), of a finite weight above 0. */
#define USABLE(i_) (isfinite(z[i_]) && fabs(z[i_]) < 1e6 && (!wt || (isfinite(wt[i_]) && wt[i_] > 0)))

int bayes_fit_calib(const double *z, const unsigned char *is_spam, const double *wt, size_t n,
                    struct bayes_calib *out)
{
    double n1 = 0, n0 = 0, s1 = 0, s0 = 0, m1 = 0, m0 = 0;
    for (size_t i = 0; i < n; i++)
        if (USABLE(i)) {
            double w = wt ? wt[i] : 1;
            *(is_spam[i] ? &n1 : &n0) += 1;
            *(is_spam[i] ? &s1 : &s0) += w;
            *(is_spam[i] ? &m1 : &m0) += w * z[i];
        }
    /* Nothing to fit without both classes, or when spam does not score
     * higher on average (all scores equal, or a model gone wrong): a
     * slope fitted there would be noise or negative. */
    if (n1 < 1 || n0 < 1 || !(m1 / s1 > m0 / s0))
        return -1;
    const double t1 = (n1 + 1) / (n1 + 2), t0 = 1 / (n0 + 2);
    const double w1 = 0.5 / s1, w0 = 0.5 / s0; /* per unit of weight */
#define W(i_) ((wt ? wt[i_] : 1.0) * (is_spam[i_] ? w1 : w0))
    double a = 1, b = 0; /* in Platt's form P = 1 / (1 + exp(A z + B)): A = -a, B = -b */
    double A = -a, B = -b;
#define OBJ(A_, B_, f_)                                                                  \
    do {                                                                                 \
        f_ = 0;                                                                          \
        for (size_t i_ = 0; i_ < n; i_++) {                                              \
            if (!USABLE(i_))                                                             \
                continue;                                                                \
            double t_ = is_spam[i_] ? t1 : t0, w_ = W(i_);                               \
            double fa_ = z[i_] * (A_) + (B_);                                            \
            f_ += w_ * (fa_ >= 0 ? t_ * fa_ + log1p(exp(-fa_))                           \
                                 : (t_ - 1) * fa_ + log1p(exp(fa_)));                    \
        }                                                                                \
    } while (0)
    double fval;
    OBJ(A, B, fval);
    for (int it = 0; it < 100; it++) {
        double h11 = 1e-12, h22 = 1e-12, h21 = 0, g1 = 0, g2 = 0;
        for (size_t i = 0; i < n; i++) {
            if (!USABLE(i))
                continue;
            double t = is_spam[i] ? t1 : t0, w = W(i);
            double fa = z[i] * A + B, pp, qq;
            if (fa >= 0) {
                pp = exp(-fa) / (1 + exp(-fa));
                qq = 1 / (1 + exp(-fa));
            } else {
                pp = 1 / (1 + exp(fa));
                qq = exp(fa) / (1 + exp(fa));
            }
            double d2 = w * pp * qq, d1 = w * (t - pp);
            h11 += z[i] * z[i] * d2;
            h22 += d2;
            h21 += z[i] * d2;
            g1 += z[i] * d1;
            g2 += d1;
        }
        if (fabs(g1) < 1e-9 && fabs(g2) < 1e-9)
            break;
        double det = h11 * h22 - h21 * h21;
        double dA = -(h22 * g1 - h21 * g2) / det, dB = -(-h21 * g1 + h11 * g2) / det;
        double gd = g1 * dA + g2 * dB, step = 1, nf = fval;
        while (step >= 1e-10) {
            OBJ(A + step * dA, B + step * dB, nf);
            if (nf < fval + 1e-4 * step * gd)
                break;
            step /= 2;
        }
        if (step < 1e-10)
            break; /* no progress: the last point stands */
        A += step * dA;
        B += step * dB;
        fval = nf;
    }
#undef OBJ
#undef W
#undef USABLE
    a = -A;
    b = -B;
    if (!(a > 0) || !isfinite(a) || !isfinite(b) || !isfinite(fval))
        return -1; /* scores that do not rank spam higher: no calibration */
    out->a = a;
    out->b = b;
    return 0;
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
