/* sweep.c - threshold sweeps over labelled comments (see sweep.h). */
#include "sweep.h"

#include <math.h>

enum decision sweep_decide(const struct sweep_item *it, const struct sweep_bands *b)
{
    enum decision d = it->score >= b->reject ? DEC_REJECT : it->score >= b->hold ? DEC_HOLD : DEC_ACCEPT;
    if (it->floor > d)
        d = it->floor;
    /* check.c's in_band: a challenge replaces accept or hold, never a
     * floor above challenge, never for a comment that solved one */
    if (b->challenge && !it->solved && d <= DEC_HOLD && it->floor <= DEC_CHALLENGE &&
        it->score >= b->challenge_from && it->score < b->challenge_to)
        d = DEC_CHALLENGE;
    return d;
}

static double ratio(size_t a, size_t b)
{
    return b ? (double)a / (double)b : NAN;
}

void sweep_row(const struct sweep_item *items, size_t n, const struct sweep_bands *b, enum sweep_kind kind,
               struct sweep_row *row)
{
    double t = row->threshold;
    *row = (struct sweep_row){ .threshold = t };
    for (size_t i = 0; i < n; i++) {
        enum decision d = sweep_decide(&items[i], b);
        row->decisions[d]++;
        int flagged = kind == SWEEP_REJECT ? d == DEC_REJECT : d != DEC_ACCEPT;
        if (items[i].spam)
            flagged ? row->tp++ : row->fn++;
        else
            flagged ? row->fp++ : row->tn++;
    }
    row->precision = ratio(row->tp, row->tp + row->fp);
    row->recall = ratio(row->tp, row->tp + row->fn);
    row->fpr = ratio(row->fp, row->fp + row->tn);
}

size_t sweep_run(const struct sweep_item *items, size_t n, const struct sweep_bands *base, enum sweep_kind kind,
                 double lo, double hi, double step, struct sweep_row *rows, size_t max)
{
    size_t k = 0;
    /* t from an integer count, so 0.05 + 18 steps is 0.95, not 0.9500001 */
    for (size_t i = 0; k < max; i++) {
        double t = round((lo + (double)i * step) * 1e9) / 1e9;
        if (t > hi + 1e-12)
            break;
        struct sweep_bands b = *base;
        if (kind == SWEEP_HOLD) {
            b.hold = t;
            if (b.reject < t)
                b.reject = t;
        } else {
            b.reject = t;
            if (b.hold > t)
                b.hold = t;
        }
        rows[k].threshold = t;
        sweep_row(items, n, &b, kind, &rows[k]);
        k++;
    }
    return k;
}
