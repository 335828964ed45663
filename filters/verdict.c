/* verdict.c - combines filter reasons into a score and a decision.
 *
 * Filters speak in log-odds so that independent evidence simply adds up;
 * the score is the logistic of the sum. Floors let a single decisive fact
 * (a blocked word, a filled honeypot) overrule a low score, but never
 * soften a high one. Nothing here allocates or does I/O. */
#include "verdict.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Priors of exactly 0 or 1 would make the logit infinite and every later
 * reason meaningless; 1e-6 is far below any rate a site would configure
 * yet keeps the logit finite (about +-13.8). */
#define PRIOR_MIN 1e-6
#define PRIOR_MAX (1.0 - 1e-6)

/* exp(40) is about 2.4e17, so logistic(+-40) already rounds to exactly 1 or
 * 0 at 4 decimals; clamping there keeps exp() far from overflow. */
#define LOGIT_CLAMP 40.0

/* Scores are reported to 4 decimals: enough to order comments and to
 * compare against thresholds set by people, without float noise in JSON. */
#define SCORE_SCALE 10000.0

void verdict_init(struct verdict *v, double prior)
{
    /* fmax/fmin return the other operand when one is NaN, so a NaN prior
     * becomes PRIOR_MIN rather than poisoning the logit. */
    double p = fmin(fmax(prior, PRIOR_MIN), PRIOR_MAX);

    /* Only the header: reasons past nreasons are never read, and clearing
     * all 24 (5 KB) cost more than the rest of this for every check. */
    v->logit = log(p / (1.0 - p));
    v->floor = DEC_ACCEPT;
    v->nreasons = 0;
    v->dropped = 0;
}

/* Length of the longest prefix of s[0..len) that does not end inside a
 * multi-byte UTF-8 sequence. snprintf truncates by bytes, so a quoted
 * comment could otherwise be cut mid-character and produce invalid UTF-8
 * in the JSON reply. We look back at most 3 bytes for the lead byte of the
 * last sequence and drop that sequence if it is incomplete. */
static size_t utf8_trim(const char *s, size_t len)
{
    size_t i = len;
    size_t back = 0;

    /* A sequence is at most 4 bytes, so its lead byte is within the last 4. */
    while (i > 0 && back < 4) {
        unsigned char c = (unsigned char)s[i - 1];
        if ((c & 0xC0) != 0x80) {
            size_t need;
            if (c < 0x80)
                need = 1;
            else if ((c & 0xE0) == 0xC0)
                need = 2;
            else if ((c & 0xF0) == 0xE0)
                need = 3;
            else if ((c & 0xF8) == 0xF0)
                need = 4;
            else
                return i - 1; /* not a lead byte: drop it */
            return (len - (i - 1) >= need) ? len : i - 1;
        }
        i--;
        back++;
    }
    /* Only continuation bytes in the last 4: nothing valid to keep there. */
    return i;
}

/* Copy src into dst[size], truncating; identifiers are ASCII so a plain
 * byte cut is fine. */
static void copy_ident(char *dst, size_t size, const char *src)
{
    size_t n = src ? strnlen(src, size - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

void verdict_add(struct verdict *v, const char *filter, const char *code,
                 double contribution, enum decision floor, const char *fmt, ...)
{
    struct reason *r;
    va_list ap;
    int n;

    v->logit += contribution;
    if (floor > v->floor)
        v->floor = floor;

    if (v->nreasons >= VERDICT_MAX_REASONS) {
        v->dropped++;
        return;
    }
    r = &v->reasons[v->nreasons++];
    copy_ident(r->filter, sizeof r->filter, filter);
    copy_ident(r->code, sizeof r->code, code);
    r->contribution = contribution;
    r->floor = floor;

    r->detail[0] = '\0';
    if (fmt && fmt[0] == '%' && fmt[1] == 's' && !fmt[2]) {
        /* a detail written by the caller: copied, not formatted (the
         * Bayes reason of every check comes this way) */
        va_start(ap, fmt);
        const char *t = va_arg(ap, const char *);
        va_end(ap);
        size_t l = t ? strlen(t) : 0;
        if (l >= sizeof r->detail)
            l = utf8_trim(t, sizeof r->detail - 1);
        memcpy(r->detail, t ? t : "", l);
        r->detail[l] = '\0';
    } else if (fmt) {
        va_start(ap, fmt);
        n = vsnprintf(r->detail, sizeof r->detail, fmt, ap);
        va_end(ap);
        if (n < 0) {
            r->detail[0] = '\0';
        } else if ((size_t)n >= sizeof r->detail) {
            size_t keep = utf8_trim(r->detail, sizeof r->detail - 1);
            r->detail[keep] = '\0';
        }
    }
}

double verdict_score(const struct verdict *v)
{
    double l = v->logit;

    /* A NaN contribution (a misconfigured weight) must not produce a NaN
     * score, which would compare false against every threshold and so
     * silently accept; treat it as no evidence at all. */
    if (isnan(l))
        l = 0.0;
    if (l > LOGIT_CLAMP)
        l = LOGIT_CLAMP;
    else if (l < -LOGIT_CLAMP)
        l = -LOGIT_CLAMP;
    return round(SCORE_SCALE / (1.0 + exp(-l))) / SCORE_SCALE;
}

enum decision verdict_decide(const struct verdict *v, const struct thresholds *t)
{
    double s = verdict_score(v);
    enum decision d;

    if (s >= t->reject)
        d = DEC_REJECT;
    else if (s >= t->hold)
        d = DEC_HOLD;
    else
        d = DEC_ACCEPT;
    return d > v->floor ? d : v->floor;
}

static const char *const decision_names[] = {
    [DEC_ACCEPT] = "accept",
    [DEC_CHALLENGE] = "challenge",
    [DEC_HOLD] = "hold",
    [DEC_REJECT] = "reject",
};

#define NDECISIONS (sizeof decision_names / sizeof decision_names[0])

const char *decision_name(enum decision d)
{
    /* An out-of-range value can only come from a bug; say so rather than
     * pretend it was one of the real decisions. */
    if ((unsigned)d >= NDECISIONS)
        return "unknown";
    return decision_names[d];
}

int decision_parse(const char *s, enum decision *out)
{
    size_t i;

    if (!s)
        return -1;
    for (i = 0; i < NDECISIONS; i++) {
        if (strcmp(s, decision_names[i]) == 0) {
            *out = (enum decision)i;
            return 0;
        }
    }
    return -1;
}
