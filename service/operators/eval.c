/* eval.c - `modgate eval`: the Bayes filter's accuracy and speed, offline.
 *
 * Training learns every comment of the training files into an in-memory
 * model exactly as the service learns (one count per distinct comment, a
 * comment being its token set); testing classifies every comment of the
 * test file. The figures follow ../shared/peers/metrics.py, so that they
 * compare with the peers' side by side: a comment is called spam when its
 * score >= the threshold; FPR is ham called spam over all ham; AUC is the
 * Mann-Whitney statistic with ties counted one half; "recall at FPR <= x"
 * is the best recall of any threshold whose FPR is at most x.
 *
 * --cv K instead cross-validates on the training files alone (K folds,
 * pooled scores): the way to choose features and constants without ever
 * looking at the test split. */
#include "eval.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bayes.h"
#include "config.h"
#include "linsvm.h"
#include "model.h"
#include "sweep.h"
#include "tokenize.h"
#include "tuning.h"
#include "util.h"

struct doc {
    char *id;
    int spam;      /* 1 spam, 0 ham */
    char *body;
    size_t body_len;
    char *author_url;
    char *source;  /* the record's "source", or NULL */
    double score;  /* what the figures rank by: p, or bayes_rank(logit) (--rank logit) */
    double p;      /* the classifier's p, as the service reports it */
    double logit;  /* its tie-free logit */
    int opinion;
    char *why;     /* the tokens that moved it most, for --scores (new) */
    double s;      /* --linear: the linear model's score (has_s: there was one) */
    int has_s;
    uint64_t *h;   /* --linear: its token hashes, kept once tokenized */
    size_t nh;
};

struct docs {
    struct doc *d;
    size_t n, cap;
};

static void docs_free(struct docs *ds)
{
    for (size_t i = 0; i < ds->n; i++) {
        free(ds->d[i].id);
        free(ds->d[i].body);
        free(ds->d[i].author_url);
        free(ds->d[i].source);
        free(ds->d[i].why);
        free(ds->d[i].h);
    }
    free(ds->d);
    ds->d = NULL;
    ds->n = ds->cap = 0;
}

/* Append the records of 'path' to 'ds'. Returns 0, or -1 with a message
 * on stderr naming the file and line. */
static int load(const char *path, struct docs *ds)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "modgate eval: cannot open %s\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (len == 1 && line[0] == '\n')
            continue;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)len, 0, &je);
        const char *label = json_string_value(json_object_get(o, "label"));
        json_t *b = json_object_get(o, "body");
        if (!o || !json_is_string(b) || !label || (strcmp(label, "spam") && strcmp(label, "ham"))) {
            fprintf(stderr, "modgate eval: %s:%zu: need an object with \"label\" spam|ham and a string \"body\"\n",
                    path, lineno);
            json_decref(o);
            rc = -1;
            break;
        }
        if (ds->n == ds->cap) {
            ds->cap = ds->cap ? ds->cap * 2 : 1024;
            ds->d = xrealloc(ds->d, ds->cap * sizeof *ds->d);
        }
        struct doc *d = &ds->d[ds->n++];
        memset(d, 0, sizeof *d);
        const char *id = json_string_value(json_object_get(o, "id"));
        char num[32];
        snprintf(num, sizeof num, "%s:%zu", path, lineno);
        d->id = xstrdup(id ? id : num);
        d->spam = strcmp(label, "spam") == 0;
        d->body_len = json_string_length(b);
        d->body = xmalloc(d->body_len + 1);
        memcpy(d->body, json_string_value(b), d->body_len + 1);
        json_t *au = json_object_get(o, "author");
        const char *url = json_is_object(au) ? json_string_value(json_object_get(au, "url")) : NULL;
        d->author_url = url ? xstrdup(url) : NULL;
        const char *src = json_string_value(json_object_get(o, "source"));
        d->source = src ? xstrdup(src) : NULL;
        d->score = d->p = 0.5;
        d->logit = 0;
        d->opinion = 0;
        d->why = NULL;
        json_decref(o);
    }
    free(line);
    fclose(f);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------- learning, as the service does it ---------- */

/* The fingerprints already learned: a comment is learned once. */
struct fpset {
    uint64_t *k;
    size_t mask, used;
};

static int fpset_add(struct fpset *s, uint64_t k)
{
    if (!k)
        k = 1;
    if ((s->used + 1) * 2 > s->mask + 1 || !s->k) {
        size_t n = s->k ? (s->mask + 1) * 2 : 4096;
        uint64_t *old = s->k;
        size_t oldn = s->k ? s->mask + 1 : 0;
        s->k = xcalloc(n, sizeof *s->k);
        s->mask = n - 1;
        s->used = 0;
        for (size_t i = 0; i < oldn; i++)
            if (old[i])
                fpset_add(s, old[i]);
        free(old);
    }
    size_t i = (size_t)k & s->mask;
    while (s->k[i]) {
        if (s->k[i] == k)
            return 0;
        i = (i + 1) & s->mask;
    }
    s->k[i] = k;
    s->used++;
    return 1;
}

static void tokenize_doc(tok_list *tl, const struct doc *d)
{
    struct tok_input in = { d->body, d->body_len, d->author_url };
    tok_run(tl, &in);
}

/* Learn 'd' into 'm' unless a comment with its token set is in 'seen'
 * already: the service learns a comment once. */
static void learn_one(model *m, tok_list *tl, struct fpset *seen, const struct doc *d)
{
    tokenize_doc(tl, d);
    unsigned char fp[16];
    tok_fingerprint_raw(tl, fp);
    uint64_t k;
    memcpy(&k, fp + 8, sizeof k); /* 64 of its bits: a set of a few million is safe */
    if (!fpset_add(seen, k))
        return;
    model_add(m, tok_hashes(tl), tok_count(tl), d->spam ? MODEL_SPAM : MODEL_HAM, 1);
}

/* Learn docs[i] for every i not in fold 'test_fold' (all when 'fold' is
 * NULL) and, when 'src' is not NULL, whose source differs from it. */
static void learn_all(model *m, tok_list *tl, const struct docs *ds, const int *fold, int test_fold,
                      const char *src)
{
    struct fpset seen = { NULL, 0, 0 };
    for (size_t i = 0; i < ds->n; i++) {
        if (fold && fold[i] == test_fold)
            continue;
        if (src && ds->d[i].source && !strcmp(ds->d[i].source, src))
            continue;
        learn_one(m, tl, &seen, &ds->d[i]);
    }
    free(seen.k);
}

/* ---------- a source-balanced model ---------- */

/* Learn every comment of the 'nsets' sets (but those whose source is
 * 'skip_src', when not NULL) into 'out' with each source (a record's
 * "source"; records without one are a source of their own) carrying equal
 * weight within each class. Each source's comments are learned into a
 * model of its own (once per token set, as the service learns) and added
 * to 'out' times an integer factor per class: the largest source's class
 * total over this source's, rounded, at least 1. Integer factors keep
 * 'out' an ordinary model (counts per comment, the same Redis format,
 * export and import); rounding leaves a source's weight within half a
 * source of the others'. Returns a new JSON object, source -> {"spam": f,
 * "ham": f, "nspam": n, "nham": n}. */
static json_t *learn_balanced(model *out, tok_list *tl, const struct docs *const *sets, size_t nsets,
                              const char *skip_src)
{
    size_t cap = 0, nsrc = 0;
    for (size_t k = 0; k < nsets; k++)
        cap += sets[k]->n;
    const char **src = xmalloc((cap ? cap : 1) * sizeof *src);
    model **per = xmalloc((cap ? cap : 1) * sizeof *per);
    struct fpset *seen = xcalloc(cap ? cap : 1, sizeof *seen);
    for (size_t k = 0; k < nsets; k++)
        for (size_t i = 0; i < sets[k]->n; i++) {
            const struct doc *d = &sets[k]->d[i];
            const char *s = d->source ? d->source : "";
            if (skip_src && !strcmp(s, skip_src))
                continue;
            size_t j = 0;
            while (j < nsrc && strcmp(src[j], s))
                j++;
            if (j == nsrc) {
                src[nsrc] = s;
                per[nsrc++] = model_new();
            }
            learn_one(per[j], tl, &seen[j], d);
        }
    uint64_t top[2] = { 0, 0 }, tot[2];
    for (size_t j = 0; j < nsrc; j++) {
        model_totals(per[j], &tot[MODEL_SPAM], &tot[MODEL_HAM]);
        for (int c = 0; c < 2; c++)
            top[c] = tot[c] > top[c] ? tot[c] : top[c];
    }
    json_t *factors = json_object();
    uint64_t ns, nh;
    model_totals(out, &ns, &nh);
    for (size_t j = 0; j < nsrc; j++) {
        uint32_t f[2];
        model_totals(per[j], &tot[MODEL_SPAM], &tot[MODEL_HAM]);
        for (int c = 0; c < 2; c++) {
            long r = tot[c] ? lround((double)top[c] / (double)tot[c]) : 1;
            f[c] = r < 1 ? 1 : (uint32_t)r;
        }
        size_t it = 0;
        uint64_t h;
        uint32_t s, hm, cs, ch;
        while (model_next(per[j], &it, &h, &s, &hm)) {
            model_get(out, &h, 1, &cs, &ch);
            if (s)
                model_set(out, h, MODEL_SPAM, cs + s * f[MODEL_SPAM]);
            if (hm)
                model_set(out, h, MODEL_HAM, ch + hm * f[MODEL_HAM]);
        }
        ns += tot[MODEL_SPAM] * f[MODEL_SPAM];
        nh += tot[MODEL_HAM] * f[MODEL_HAM];
        json_object_set_new(factors, src[j], json_pack("{s:I,s:I,s:I,s:I}", "spam", (json_int_t)f[MODEL_SPAM],
                                                       "ham", (json_int_t)f[MODEL_HAM], "nspam",
                                                       (json_int_t)tot[MODEL_SPAM], "nham",
                                                       (json_int_t)tot[MODEL_HAM]));
        model_free(per[j]);
        free(seen[j].k);
    }
    model_set_totals(out, ns, nh);
    free(seen);
    free(per);
    free(src);
    return factors;
}

static int by_hash(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A starter model to be. 'balanced': learn_balanced over 'sets' (skipping
 * 'skip_src'), else every comment once. New; free with model_free. */
static model *starter_build(tok_list *tl, const struct docs *const *sets, size_t nsets, const char *skip_src,
                            int balanced)
{
    model *st = model_new();
    if (balanced) {
        json_decref(learn_balanced(st, tl, sets, nsets, skip_src));
        return st;
    }
    for (size_t k = 0; k < nsets; k++)
        learn_all(st, tl, sets[k], NULL, -1, skip_src);
    return st;
}

static int explain;  /* --scores: keep each comment's strongest tokens */
static int train_balanced; /* --balanced: --train's sources weigh the same per class */
static struct bayes_calib fixed_cal; /* --calibration A,B (with --train): used as given */
static int have_fixed_cal;
static int use_linear;                /* --linear: a linear SVM beside the counts (linsvm.h) */
static double linear_cost = LINEAR_COST; /* --param svm_cost=C */
static int rank_by_p = 0; /* --rank: the figures rank by the raw score (default: tie-free)
                              or by the calibrated p (which may round to 1 at the top) */

/* What a classification reads: a model, and optionally a starter model
 * blended under it at scales per class (model_get_blend). */
struct reader {
    const model *m;
    const model *starter; /* NULL: none */
    double scale_spam, scale_ham;
    const struct bayes_calib *cal; /* NULL: bayes_calib_default */
};

static void classify(const struct reader *rd, tok_list *tl, const struct bayes_params *bp, struct doc *d)
{
    double sp[TOK_MAX], hm[TOK_MAX];
    double ns, nh;
    tokenize_doc(tl, d);
    model_get_blend(rd->m, rd->starter, rd->scale_spam, rd->scale_ham, tok_hashes(tl), tok_count(tl), sp, hm);
    model_totals_blend(rd->m, rd->starter, rd->scale_spam, rd->scale_ham, &ns, &nh);
    struct bayes_result r;
    bayes_classify(bp, rd->cal, sp, hm, tok_count(tl), tok_lead(tl), ns, nh, &r);
    d->p = r.p;
    d->logit = r.logit;
    d->score = rank_by_p ? r.p : bayes_rank(r.logit);
    d->opinion = r.opinion;
    if (explain) {
        /* "+token 0.99 ... -token 0.02": what a check's reasons would name */
        struct buf b;
        buf_init(&b);
        for (int i = 0; i < r.nspam_top + r.nham_top; i++) {
            const struct bayes_top *t = i < r.nspam_top ? &r.spam_top[i] : &r.ham_top[i - r.nspam_top];
            char tx[256];
            tok_text(tl, t->index, tx, sizeof tx);
            buf_printf(&b, "%s%c%s %.3f", b.len ? " " : "", i < r.nspam_top ? '+' : '-', tx, t->f);
        }
        free(d->why);
        d->why = b.p ? b.p : xstrdup("");
    }
}

/* ---------- --linear: the SVM beside the counts (linsvm.h; not in the service) ---------- */

/* d's token hashes, tokenized once and kept. */
static const uint64_t *doc_hashes(tok_list *tl, struct doc *d, size_t *n)
{
    if (!d->h) {
        tokenize_doc(tl, d);
        d->nh = tok_count(tl);
        d->h = xmalloc((d->nh ? d->nh : 1) * sizeof *d->h);
        memcpy(d->h, tok_hashes(tl), d->nh * sizeof *d->h);
    }
    *n = d->nh;
    return d->h;
}

/* A linear model trained on the 'n' comments of 'v' (NULL: a class has none). */
static linear *linear_of(tok_list *tl, struct doc *const *v, size_t n)
{
    struct linear_example *ex = xmalloc((n ? n : 1) * sizeof *ex);
    for (size_t i = 0; i < n; i++) {
        ex[i].h = doc_hashes(tl, v[i], &ex[i].n);
        ex[i].spam = v[i]->spam;
    }
    linear *m = linear_train(ex, n, linear_cost);
    free(ex);
    return m;
}

/* d's linear score by 'm' (none when m is NULL). */
static void linear_set(const linear *m, tok_list *tl, struct doc *d)
{
    size_t n;
    const uint64_t *h = doc_hashes(tl, d, &n);
    d->s = linear_score(m, h, n);
    d->has_s = m != NULL;
}

/* d's p and rank from the combination u z + v s + c (z = 0 when the
 * counts have no opinion: every score on the combination's scale). */
static void stack_apply(const struct linear_stack *st, struct doc *d)
{
    if (!d->has_s)
        return;
    double l = linear_stack_logit(st, d->logit, d->s);
    d->p = 1 / (1 + exp(-l));
    d->score = rank_by_p ? d->p : bayes_rank(l);
}

/* Fit the combination to the comments of 'v' that have both scores. */
static int stack_fit(struct doc *const *v, size_t n, size_t need, struct linear_stack *st)
{
    double *z = xmalloc((n ? n : 1) * sizeof *z), *s = xmalloc((n ? n : 1) * sizeof *s);
    unsigned char *y = xmalloc(n ? n : 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i]->opinion && v[i]->has_s) {
            z[k] = v[i]->logit;
            s[k] = v[i]->s;
            y[k++] = (unsigned char)v[i]->spam;
        }
    int rc = linear_fit_stack(z, s, y, k, need, st);
    free(z);
    free(s);
    free(y);
    return rc;
}

static json_t *stack_json(int ok, const struct linear_stack *st)
{
    return ok ? json_pack("{s:f,s:f,s:f}", "u", st->u, "v", st->v, "c", st->c) : json_null();
}

/* ---------- metrics ---------- */

/* The calibration (bayes_fit_calib) of the raw scores of the 'n' comments
 * of 'v' that had an opinion, each scored by a model that had not learned
 * it: {"a", "b", "comments"}, or null when a class has none. */
static json_t *calib_json(struct doc *const *v, size_t n)
{
    double *z = xmalloc((n ? n : 1) * sizeof *z);
    unsigned char *y = xmalloc(n ? n : 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i]->opinion) {
            z[k] = v[i]->logit;
            y[k++] = (unsigned char)v[i]->spam;
        }
    struct bayes_calib c;
    json_t *o = bayes_fit_calib(z, y, NULL, k, &c) ? json_null()
                                             : json_pack("{s:f,s:f,s:I}", "a", c.a, "b", c.b, "comments", (json_int_t)k);
    free(z);
    free(y);
    return o;
}

static int by_score_desc(const void *a, const void *b)
{
    double x = (*(struct doc *const *)a)->score, y = (*(struct doc *const *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

struct metrics {
    size_t n, nspam, nham, no_opinion;
    double accuracy, precision, recall, f1, fpr, auc, recall_fpr05, recall_fpr1;
    size_t tp, fp, fn, tn;
};

static void compute(struct doc **v, size_t n, double thr, struct metrics *m)
{
    memset(m, 0, sizeof *m);
    m->n = n;
    for (size_t i = 0; i < n; i++) {
        int called = v[i]->opinion && v[i]->p >= thr; /* a threshold reads the probability */
        if (v[i]->spam)
            m->nspam++, called ? m->tp++ : m->fn++;
        else
            m->nham++, called ? m->fp++ : m->tn++;
        m->no_opinion += !v[i]->opinion;
    }
    m->accuracy = n ? (double)(m->tp + m->tn) / (double)n : NAN;
    m->precision = m->tp + m->fp ? (double)m->tp / (double)(m->tp + m->fp) : NAN;
    m->recall = m->nspam ? (double)m->tp / (double)m->nspam : NAN;
    m->f1 = m->tp ? 2 * m->precision * m->recall / (m->precision + m->recall) : 0;
    m->fpr = m->nham ? (double)m->fp / (double)m->nham : NAN;

    /* Sweep every distinct score from the top: at each, everything at or
     * above it is called spam. Ties are one group. */
    qsort(v, n, sizeof *v, by_score_desc);
    size_t tp = 0, fp = 0;
    double rank_sum = 0; /* AUC: for each spam, the ham below it (+1/2 tied) */
    for (size_t i = 0; i < n;) {
        size_t j = i, gs = 0, gh = 0;
        while (j < n && v[j]->score == v[i]->score) {
            v[j]->spam ? gs++ : gh++;
            j++;
        }
        /* ham strictly below this group: nham - fp - gh */
        rank_sum += (double)gs * ((double)(m->nham - fp - gh) + 0.5 * (double)gh);
        tp += gs;
        fp += gh;
        double fpr = m->nham ? (double)fp / (double)m->nham : 0;
        double rec = m->nspam ? (double)tp / (double)m->nspam : 0;
        if (fpr <= 0.005 && rec > m->recall_fpr05)
            m->recall_fpr05 = rec;
        if (fpr <= 0.01 && rec > m->recall_fpr1)
            m->recall_fpr1 = rec;
        i = j;
    }
    m->auc = m->nspam && m->nham ? rank_sum / ((double)m->nspam * (double)m->nham) : NAN;
}

static void put(json_t *o, const char *k, double v)
{
    json_object_set_new(o, k, isnan(v) ? json_null() : json_real(round(v * 10000) / 10000));
}

static json_t *metrics_json(const struct metrics *m, double thr)
{
    json_t *o = json_object();
    json_object_set_new(o, "comments", json_integer((json_int_t)m->n));
    json_object_set_new(o, "spam", json_integer((json_int_t)m->nspam));
    json_object_set_new(o, "ham", json_integer((json_int_t)m->nham));
    put(o, "threshold", thr);
    put(o, "accuracy", m->accuracy);
    put(o, "precision", m->precision);
    put(o, "recall", m->recall);
    put(o, "f1", m->f1);
    put(o, "fpr", m->fpr);
    put(o, "auc", m->auc);
    put(o, "recall_at_fpr_0.5pct", m->recall_fpr05);
    put(o, "recall_at_fpr_1pct", m->recall_fpr1);
    json_object_set_new(o, "no_opinion", json_integer((json_int_t)m->no_opinion));
    json_object_set_new(o, "confusion", json_pack("{s:I,s:I,s:I,s:I}", "tp", (json_int_t)m->tp, "fp",
                                                  (json_int_t)m->fp, "fn", (json_int_t)m->fn, "tn",
                                                  (json_int_t)m->tn));
    return o;
}

/* The threshold sweep of the service's tuning (tuning.h) over the scored
 * comments: on the Bayes score alone, or as site 's' scores them. */
static json_t *sweep_json(const struct site_cfg *s, const struct docs *ds)
{
    struct sweep_item *it = xcalloc(ds->n + 1, sizeof *it);
    for (size_t i = 0; i < ds->n; i++) {
        const struct doc *d = &ds->d[i];
        if (s)
            tuning_score(s, d->body, d->body_len, d->author_url, NULL, NULL, 0, d->opinion ? d->p : -1, &it[i]);
        else
            it[i] = (struct sweep_item){ d->opinion ? d->p : 0.5, DEC_ACCEPT, 0, 0 };
        it[i].spam = d->spam;
    }
    struct sweep_bands b = { 0.5, 1.0, 0, 0, 0 };
    if (s)
        tuning_bands(s, &b);
    struct sweep_row rows[19];
    size_t n = sweep_run(it, ds->n, &b, SWEEP_HOLD, 0.05, 0.95, 0.05, rows, 19);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, tuning_row_json(&rows[i]));
    free(it);
    return a;
}

/* ---------- prequential: what a new site lives through ---------- */

/* splitmix64 (Steele, Lea and Flood 2014): a 64-bit state stepped by a
 * constant and mixed; all uint64_t arithmetic, so one seed gives the same
 * stream, and --shuffle the same order, on every machine. */
static uint64_t splitmix64(uint64_t *st)
{
    uint64_t z = (*st += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Shuffle 'n' pointers by Fisher-Yates over splitmix64(seed): for i from
 * n - 1 down to 1, swap v[i] with v[next % (i + 1)]. The modulo's bias is
 * below n / 2^64: nothing for any file eval reads. api.md §7 documents
 * this, so other tools (tests/bench/peers_prequential.sh) replay it. */
static void shuffle(struct doc **v, size_t n, uint64_t seed)
{
    uint64_t st = seed;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(splitmix64(&st) % (uint64_t)i);
        struct doc *t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* The comments of one prequential window: AUC per window of this many. */
#define WINDOW 100

struct preq_opts {
    int shuffled;
    uint64_t seed;
    double k;             /* starter strength per class; 0: none; inf: full */
    int balanced;         /* --starter-balanced: each source of the starter weighs the same */
    const struct bayes_params *bp;
    int calibrate;        /* the starter's calibration first, then the stream's own (as the service) */
};

static int starter_calib(struct docs *ds, tok_list *tl, struct bayes_calib *out, size_t *n);
static int fit_docs(struct doc *const *v, size_t n, struct bayes_calib *out);

/* Score each of the 'n' comments of 'v' in order, then learn it (a new
 * site's model that starts empty, read with 'starter' blended under it),
 * and return the figures: the pooled metrics at 'thr', the AUC of each
 * window of WINDOW comments (the last one may be shorter; a window with
 * one class only has none: null) and the first window's on its own.
 * Returns a new JSON object. 'v' keeps the stream order. */
static json_t *prequential(struct doc **v, size_t n, const model *starter, const struct bayes_calib *start_cal,
                           const struct preq_opts *o, tok_list *tl, double thr)
{
    model *m = model_new();
    struct bayes_calib cal = start_cal ? *start_cal : bayes_calib_default;
    struct reader rd = { m, NULL, 0, 0, &cal };
    if (starter && o->k > 0) {
        uint64_t ss, sh;
        model_totals(starter, &ss, &sh);
        rd.starter = starter;
        rd.scale_spam = model_blend_scale(ss, o->k);
        rd.scale_ham = model_blend_scale(sh, o->k);
    }
    struct fpset seen = { NULL, 0, 0 };
    size_t cls[2] = { 0, 0 }, since = 0, refits = 0;
    /* --linear: the SVM rebuilt and the combination refitted as the
     * service keeps a site's (linsvm.h), from the stream's own labels */
    linear *lm = NULL;
    struct linear_stack st;
    int have_st = 0;
    size_t lcls[2] = { 0, 0 }, built_at = 0, st_since = 0, builds = 0, st_fits = 0;
    for (size_t i = 0; i < n; i++) {
        classify(&rd, tl, o->bp, v[i]);
        if (use_linear) {
            linear_set(lm, tl, v[i]);
            if (have_st && v[i]->has_s)
                stack_apply(&st, v[i]);
            else /* the calibrated Bayes logit (no opinion: z = 0), one scale with the combination's */
                v[i]->score = rank_by_p ? v[i]->p : bayes_rank(cal.a * v[i]->logit + cal.b);
            lcls[v[i]->spam]++;
        }
        learn_one(m, tl, &seen, v[i]);
        if (use_linear) {
            size_t from = i + 1 > BAYES_CALIB_KEEP ? i + 1 - BAYES_CALIB_KEEP : 0;
            if (v[i]->has_s && v[i]->opinion && ++st_since >= BAYES_CALIB_EVERY) {
                if (!stack_fit(v + from, i + 1 - from, BAYES_CALIB_MIN, &st))
                    have_st = 1, st_fits++;
                st_since = 0;
            }
            size_t got = i + 1;
            if (lcls[0] >= LINEAR_MIN && lcls[1] >= LINEAR_MIN &&
                got - built_at >= (got < LINEAR_EVERY ? LINEAR_FIRST_EVERY : LINEAR_EVERY)) {
                linear_free(lm);
                lm = linear_of(tl, v + from, got - from);
                built_at = got;
                builds++;
            }
        }
        /* The stream's own calibration, as the service keeps a site's
         * (bayes.h): from the scores its comments had before they were
         * learned. */
        if (!o->calibrate || !v[i]->opinion)
            continue;
        cls[v[i]->spam]++;
        if (++since >= BAYES_CALIB_EVERY && cls[0] >= BAYES_CALIB_MIN && cls[1] >= BAYES_CALIB_MIN) {
            size_t from = i + 1 > BAYES_CALIB_KEEP ? i + 1 - BAYES_CALIB_KEEP : 0;
            refits += fit_docs(v + from, i + 1 - from, &cal) == 0;
            since = 0;
        }
    }
    free(seen.k);
    model_free(m);
    linear_free(lm);

    struct doc **w = xmalloc((n ? n : 1) * sizeof *w);
    json_t *wins = json_array();
    struct metrics mt;
    for (size_t i = 0; i < n; i += WINDOW) {
        size_t len = n - i < WINDOW ? n - i : WINDOW;
        memcpy(w, v + i, len * sizeof *w);
        compute(w, len, thr, &mt);
        json_array_append_new(wins, isnan(mt.auc) ? json_null() : json_real(round(mt.auc * 10000) / 10000));
    }
    memcpy(w, v, n * sizeof *w);
    compute(w, n, thr, &mt);
    free(w);
    json_t *out = metrics_json(&mt, thr);
    json_object_set_new(out, "calibration", calib_json(v, n));
    if (o->calibrate)
        json_object_set_new(out, "calibration_last", json_pack("{s:f,s:f,s:I}", "a", cal.a, "b", cal.b,
                                                               "refits", (json_int_t)refits));
    if (use_linear)
        json_object_set_new(out, "linear", json_pack("{s:f,s:I,s:I,s:o}", "cost", linear_cost, "builds",
                                                     (json_int_t)builds, "stack_fits", (json_int_t)st_fits,
                                                     "stack_last", stack_json(have_st, &st)));
    json_t *first = json_array_get(wins, 0);
    json_object_set(out, "first_window_auc", first ? first : json_null());
    json_object_set_new(out, "window", json_integer(WINDOW));
    json_object_set_new(out, "window_auc", wins);
    if (rd.starter) {
        uint64_t ss, sh;
        model_totals(starter, &ss, &sh);
        json_object_set_new(out, "starter", json_pack("{s:I,s:I,s:f,s:f}", "spam", (json_int_t)ss, "ham",
                                                      (json_int_t)sh, "scale_spam", rd.scale_spam,
                                                      "scale_ham", rd.scale_ham));
    }
    return out;
}

/* The mean of 'key' over the objects of 'a' that have a number there. */
static double mean_of(json_t *a, const char *key)
{
    double sum = 0;
    size_t n = 0, i;
    json_t *o;
    json_array_foreach(a, i, o) {
        json_t *x = json_object_get(o, key);
        if (json_is_number(x))
            sum += json_number_value(x), n++;
    }
    return n ? sum / (double)n : NAN;
}

/* --prequential over 'stream' (with --leave-one-source-out: each source of
 * it in turn, the others joining the starter files). Prints nothing;
 * returns the object eval prints, new. The stream's comments keep their
 * scores of the (last) run for --scores, in 'order' (stream order). */
static json_t *prequential_main(struct docs *stream, const struct docs *starter_docs, int loso,
                                const struct preq_opts *o, tok_list *tl, double thr, struct doc **order)
{
    for (size_t i = 0; i < stream->n; i++)
        order[i] = &stream->d[i];
    if (o->shuffled)
        shuffle(order, stream->n, o->seed);
    if (!loso) {
        model *st = NULL;
        struct bayes_calib sc, *scp = NULL;
        size_t nc;
        if (o->k > 0 && starter_docs->n) {
            st = starter_build(tl, &starter_docs, 1, NULL, o->balanced);
            if (o->calibrate && o->balanced && !starter_calib((struct docs *)starter_docs, tl, &sc, &nc))
                scp = &sc;
        }
        json_t *out = prequential(order, stream->n, st, scp, o, tl, thr);
        model_free(st);
        return out;
    }
    /* The sources, in the order they first appear in the file. */
    const char **src = xmalloc((stream->n ? stream->n : 1) * sizeof *src);
    size_t nsrc = 0;
    for (size_t i = 0; i < stream->n; i++) {
        const char *s = stream->d[i].source ? stream->d[i].source : "";
        size_t j = 0;
        while (j < nsrc && strcmp(src[j], s))
            j++;
        if (j == nsrc)
            src[nsrc++] = s;
    }
    json_t *per = json_array();
    struct doc **sub = xmalloc((stream->n ? stream->n : 1) * sizeof *sub);
    for (size_t j = 0; j < nsrc; j++) {
        size_t n = 0;
        for (size_t i = 0; i < stream->n; i++) {
            const char *s = order[i]->source ? order[i]->source : "";
            if (!strcmp(s, src[j]))
                sub[n++] = order[i];
        }
        model *st = NULL;
        if (o->k > 0) {
            const struct docs *sets[2] = { starter_docs, stream };
            st = starter_build(tl, sets, 2, src[j], o->balanced);
        }
        json_t *r = prequential(sub, n, st, NULL, o, tl, thr);
        model_free(st);
        json_object_set_new(r, "source", json_string(src[j]));
        json_array_append_new(per, r);
    }
    free(sub);
    free(src);
    json_t *pooled = calib_json(order, stream->n);
    json_t *mean = json_object();
    put(mean, "auc", mean_of(per, "auc"));
    put(mean, "recall_at_fpr_0.5pct", mean_of(per, "recall_at_fpr_0.5pct"));
    put(mean, "recall_at_fpr_1pct", mean_of(per, "recall_at_fpr_1pct"));
    put(mean, "first_window_auc", mean_of(per, "first_window_auc"));
    return json_pack("{s:o,s:o,s:o}", "sources", per, "mean", mean, "calibration", pooled);
}

/* ---------- command line ---------- */

static int usage(void)
{
    fprintf(stderr, "usage: modgate eval --train A.jsonl[,B.jsonl...] (--test C.jsonl | --cv K)\n"
                    "                    [--scores OUT.jsonl] [--threshold T] [--min-learns N]\n"
                    "                    [--speed] [--param NAME=VALUE]... [--rank p|logit] [--balanced]\n"
                    "                    [--calibration A,B] [--linear]\n"
                    "                    [--sweep [--config FILE --site SITE]]\n"
                    "       modgate eval --prequential FILE.jsonl [--shuffle SEED]\n"
                    "                    [--starter A.jsonl[,B.jsonl...]] [--starter-weight K|inf]\n"
                    "                    [--starter-balanced]\n"
                    "                    [--leave-one-source-out] [--scores OUT.jsonl] [--threshold T]\n"
                    "                    [--min-learns N] [--param NAME=VALUE]... [--rank p|logit] [--linear]\n"
                    "  --prequential scores each comment of FILE, then learns it, from an empty model\n"
                    "          (with --starter, these files' model blended under it at K pseudo-comments\n"
                    "          per class, default 50, as bayes.starter_weight; 0 = no starter, inf = full weight)\n"
                    "  --calibration A,B: P(spam) = 1/(1+exp(-(A z + B))) instead of the fitted one\n"
                    "  --balanced (with --test): each \"source\" of the --train files carries equal\n"
                    "          weight per class (as --starter-balanced)\n"
                    "  --starter-balanced: each \"source\" of the starter carries equal weight per\n"
                    "          class (as `modgate model build --balanced` builds the shipped one)\n"
                    "  --leave-one-source-out: each \"source\" of FILE in turn is the stream, the\n"
                    "          other sources join the starter\n"
                    "  --linear: a linear SVM beside the counts (api.md 7; the service does not\n"
                    "          use it), combined with the Bayes score by a fit on scores of\n"
                    "          comments not yet learned (--param svm_cost=C sets its cost)\n"
                    "  --rank: what the figures rank by: the raw score z (logit, default) or the calibrated p\n"
                    "  --param sets a classifier constant: alpha, min_tokens (svm_cost with --linear)\n"
                    "  --sweep adds precision, recall, FPR and decisions for hold thresholds 0.05-0.95;\n"
                    "          with --config and --site each comment is scored as that site's policy\n"
                    "          scores it (prior, heuristics, word lists, Bayes weight and constants,\n"
                    "          floors; --param and --min-learns do not apply then)\n");
    return 2;
}

static int set_param(struct bayes_params *bp, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return -1;
    char *end;
    double v = strtod(eq + 1, &end);
    if (*end || end == eq + 1)
        return -1;
    size_t n = (size_t)(eq - kv);
    if (n == 5 && !strncmp(kv, "alpha", n) && v > 0)
        bp->alpha = v;
    else if (n == 10 && !strncmp(kv, "min_tokens", n))
        bp->min_tokens = (int)v;
    else if (n == 8 && !strncmp(kv, "svm_cost", n) && v > 0 && isfinite(v))
        linear_cost = v;
    else
        return -1;
    return 0;
}

/* Score every comment of 'ds' by K-fold cross-validation (stratified:
 * the k-th spam and the k-th ham go to fold k % K), each by a model
 * learned from the other folds, with calibration 'cal'. */
static int *folds_of(const struct docs *ds, int k)
{
    int *fold = xmalloc((ds->n ? ds->n : 1) * sizeof *fold);
    size_t ks = 0, kh = 0;
    for (size_t i = 0; i < ds->n; i++)
        fold[i] = (int)(ds->d[i].spam ? ks++ % (size_t)k : kh++ % (size_t)k);
    return fold;
}

static void cv_scores(struct docs *ds, int k, tok_list *tl, const struct bayes_params *bp,
                      const struct bayes_calib *cal)
{
    int *fold = folds_of(ds, k);
    struct docs rest = { xmalloc((ds->n ? ds->n : 1) * sizeof *rest.d), 0, 0 };
    struct doc **lv = xmalloc((ds->n ? ds->n : 1) * sizeof *lv);
    for (int f = 0; f < k; f++) {
        model *m = model_new();
        if (train_balanced) { /* the folds learned as the model under test is */
            rest.n = 0;
            for (size_t i = 0; i < ds->n; i++)
                if (fold[i] != f)
                    rest.d[rest.n++] = ds->d[i]; /* a shallow copy: only read */
            const struct docs *sets[1] = { &rest };
            json_decref(learn_balanced(m, tl, sets, 1, NULL));
        } else {
            learn_all(m, tl, ds, fold, f, NULL);
        }
        struct reader rd = { m, NULL, 0, 0, cal };
        for (size_t i = 0; i < ds->n; i++)
            if (fold[i] == f)
                classify(&rd, tl, bp, &ds->d[i]);
        model_free(m);
        if (use_linear) { /* the SVM of the same folds */
            size_t nl = 0;
            for (size_t i = 0; i < ds->n; i++)
                if (fold[i] != f)
                    lv[nl++] = &ds->d[i];
            linear *lm = linear_of(tl, lv, nl);
            for (size_t i = 0; i < ds->n; i++)
                if (fold[i] == f)
                    linear_set(lm, tl, &ds->d[i]);
            linear_free(lm);
        }
    }
    free(lv);
    free(rest.d);
    free(fold);
}

/* Fit a calibration to the raw scores of the 'n' comments of 'v' that had
 * an opinion (bayes_fit_calib). Returns 0, or -1 (then 'out' is left). */
static int fit_docs(struct doc *const *v, size_t n, struct bayes_calib *out)
{
    double *z = xmalloc((n ? n : 1) * sizeof *z);
    unsigned char *y = xmalloc(n ? n : 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i]->opinion) {
            z[k] = v[i]->logit;
            y[k++] = (unsigned char)v[i]->spam;
        }
    int rc = bayes_fit_calib(z, y, NULL, k, out);
    free(z);
    free(y);
    return rc;
}

/* The calibration a model learned from all of 'ds' gets, as the service
 * would fit it from labels it had scored before learning them: fitted
 * on 5-fold cross-validated scores of 'ds' (the default when that fails,
 * e.g. a class with too few comments). The scores of 'ds' are left as
 * the cross-validation gave them. */
static struct bayes_calib train_calib(struct docs *ds, tok_list *tl, const struct bayes_params *bp)
{
    struct bayes_calib c = bayes_calib_default;
    cv_scores(ds, 5, tl, bp, NULL);
    struct doc **v = xmalloc((ds->n ? ds->n : 1) * sizeof *v);
    for (size_t i = 0; i < ds->n; i++)
        v[i] = &ds->d[i];
    fit_docs(v, ds->n, &c);
    free(v);
    return c;
}

/* Learn all of 'train', time it; then classify 'test', time it. With
 * 'speed', each is repeated until it took at least half a second. */
static model *train_and_test(const struct docs *train, struct docs *test, tok_list *tl,
                             const struct bayes_params *bp, const struct bayes_calib *cal, int speed,
                             double *learn_rate, double *classify_rate)
{
    model *m = NULL;
    size_t rounds = 0;
    double t0 = now_s(), t;
    do {
        model_free(m);
        m = model_new();
        if (train_balanced) {
            const struct docs *sets[1] = { train };
            json_decref(learn_balanced(m, tl, sets, 1, NULL));
        } else {
            learn_all(m, tl, train, NULL, -1, NULL);
        }
        rounds++;
        t = now_s() - t0;
    } while (speed && t < 0.5);
    *learn_rate = (double)(train->n * rounds) / t;
    rounds = 0;
    t0 = now_s();
    struct reader rd = { m, NULL, 0, 0, cal };
    do {
        for (size_t i = 0; i < test->n; i++)
            classify(&rd, tl, bp, &test->d[i]);
        rounds++;
        t = now_s() - t0;
    } while (speed && t < 0.5);
    *classify_rate = (double)(test->n * rounds) / t;
    return m;
}

/* Append the records of each file of the comma-separated 'list' (NULL:
 * none) to 'ds'. Returns 0 or -1 as load() does. */
static int load_list(const char *list, struct docs *ds)
{
    if (!list)
        return 0;
    char *copy = xstrdup(list);
    int rc = 0;
    for (char *p = copy, *comma; p && !rc; p = comma ? comma + 1 : NULL) {
        comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        rc = load(p, ds);
    }
    free(copy);
    return rc;
}

/* --scores: one line per comment of 'v', in its order: id, label, the
 * ranked score, p, logit and the tokens that moved it. Returns 0, or 2
 * (eval's exit code) when the file cannot be written; 'path' NULL: 0. */
static int write_scores(const char *path, struct doc **v, size_t n)
{
    if (!path)
        return 0;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "modgate eval: cannot write %s\n", path);
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s,s:s,s:f,s:f,s:f,s:b,s:s}", "id", v[i]->id, "label",
                              v[i]->spam ? "spam" : "ham", "score", v[i]->score, "p", v[i]->p, "logit",
                              v[i]->logit, "opinion", v[i]->opinion, "tokens", v[i]->why ? v[i]->why : "");
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
        fprintf(f, "%s\n", s);
        free(s);
        json_decref(o);
    }
    fclose(f);
    return 0;
}

int eval_main(int argc, char **argv)
{
    const char *train_arg = NULL, *test_arg = NULL, *scores_arg = NULL;
    const char *preq_arg = NULL, *starter_arg = NULL;
    double thr = 0.9;
    int cv = 0, speed = 0, sweep = 0, loso = 0;
    struct preq_opts po = { 0, 0, CFG_STARTER_WEIGHT, 0, NULL, 1 };
    const char *config_arg = NULL, *site_arg = NULL;
    struct bayes_params bp;
    bayes_defaults(&bp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--speed")) {
            speed = 1;
            continue;
        }
        if (!strcmp(a, "--sweep")) {
            sweep = 1;
            continue;
        }
        if (!strcmp(a, "--leave-one-source-out")) {
            loso = 1;
            continue;
        }
        if (!strcmp(a, "--starter-balanced")) {
            po.balanced = 1;
            continue;
        }
        if (!strcmp(a, "--balanced")) {
            train_balanced = 1;
            continue;
        }
        if (!strcmp(a, "--linear")) {
            use_linear = 1;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (!strcmp(a, "--train"))
            train_arg = v;
        else if (!strcmp(a, "--test"))
            test_arg = v;
        else if (!strcmp(a, "--scores"))
            scores_arg = v, explain = 1;
        else if (!strcmp(a, "--threshold"))
            thr = atof(v);
        else if (!strcmp(a, "--calibration")) {
            char *e1, *e2;
            fixed_cal.a = strtod(v, &e1);
            fixed_cal.b = *e1 == ',' ? strtod(e1 + 1, &e2) : NAN;
            if (*e1 != ',' || *e2 || !(fixed_cal.a > 0) || !isfinite(fixed_cal.b))
                return usage();
            have_fixed_cal = 1;
        }
        else if (!strcmp(a, "--min-learns"))
            bp.min_learns = strtol(v, NULL, 10);
        else if (!strcmp(a, "--config"))
            config_arg = v;
        else if (!strcmp(a, "--site"))
            site_arg = v;
        else if (!strcmp(a, "--cv"))
            cv = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--prequential"))
            preq_arg = v;
        else if (!strcmp(a, "--starter"))
            starter_arg = v;
        else if (!strcmp(a, "--shuffle")) {
            char *end;
            po.seed = strtoull(v, &end, 10);
            if (*end || end == v || *v == '-')
                return usage();
            po.shuffled = 1;
        } else if (!strcmp(a, "--starter-weight")) {
            char *end;
            po.k = strtod(v, &end);
            if (*end || end == v || !(po.k >= 0)) /* inf is full weight; NaN and < 0 are not */
                return usage();
        } else if (!strcmp(a, "--rank")) {
            if (strcmp(v, "logit") && strcmp(v, "p"))
                return usage();
            rank_by_p = !strcmp(v, "p");
        }
        else if (!strcmp(a, "--param")) {
            if (set_param(&bp, v)) {
                fprintf(stderr, "modgate eval: bad --param %s\n", v);
                return 2;
            }
        } else
            return usage();
    }
    if (preq_arg ? train_arg || test_arg || cv || speed || sweep || have_fixed_cal
                 : !train_arg || (!test_arg && cv < 2) || (test_arg && cv) || starter_arg || loso ||
                   (train_balanced && cv))
        return usage();
    if (!(thr > 0 && thr <= 1) || !config_arg != !site_arg || (config_arg && !sweep))
        return usage();
    if (use_linear && (have_fixed_cal || sweep)) /* the combination is fitted, not given */
        return usage();
    struct cfg *cfg = NULL;
    const struct site_cfg *site = NULL;
    if (config_arg) {
        char err[512];
        if (!(cfg = cfg_load(config_arg, err, sizeof err))) {
            fprintf(stderr, "modgate eval: config: %s\n", err);
            return 2;
        }
        if (!(site = cfg_site(cfg, site_arg, NULL))) {
            fprintf(stderr, "modgate eval: %s has no site %s\n", config_arg, site_arg);
            cfg_release(cfg);
            return 2;
        }
        bp = site->bayes.params; /* the site classifies with its own constants */
    }

    /* --prequential: 'train' holds the starter files, 'test' the stream. */
    struct docs train = { 0 }, test = { 0 };
    int rc = load_list(preq_arg ? starter_arg : train_arg, &train);
    if (!rc && (test_arg || preq_arg))
        rc = load(preq_arg ? preq_arg : test_arg, &test);
    if (rc) {
        docs_free(&train);
        docs_free(&test);
        return 2;
    }

    tok_list *tl = tok_list_new();
    json_t *out = json_object();
    struct docs *scored = &test;
    struct doc **v = xmalloc((train.n + test.n + 1) * sizeof *v);
    if (preq_arg) {
        po.bp = &bp;
        json_t *r = prequential_main(&test, &train, loso, &po, tl, thr, v);
        json_object_set_new(r, "prequential", json_string(preq_arg));
        if (po.shuffled)
            json_object_set_new(r, "shuffle", json_integer((json_int_t)po.seed));
        json_object_set_new(r, "starter_weight", isinf(po.k) ? json_string("inf") : json_real(po.k));
        json_object_set_new(r, "starter_balanced", json_boolean(po.balanced));
        json_object_set_new(r, "rank", json_string(rank_by_p ? "p" : "logit"));
        rc = write_scores(scores_arg, v, test.n);
        char *s = json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(6));
        printf("%s\n", s);
        free(s);
        json_decref(r);
        json_decref(out);
        tok_list_free(tl);
        cfg_release(cfg);
        free(v);
        docs_free(&train);
        docs_free(&test);
        return rc;
    }
    struct bayes_calib cal = bayes_calib_default;
    if (cv) {
        /* The thresholded figures read p calibrated on these very scores:
         * two parameters fitted on thousands of scores, near enough to a
         * calibration fitted apart. */
        cv_scores(&train, cv, tl, &bp, NULL);
        for (size_t i = 0; i < train.n; i++)
            v[i] = &train.d[i];
        if (have_fixed_cal)
            cal = fixed_cal;
        else
            fit_docs(v, train.n, &cal);
        for (size_t i = 0; i < train.n; i++)
            if (train.d[i].opinion)
                train.d[i].p = bayes_calibrated(&cal, train.d[i].logit);
        scored = &train;
        json_object_set_new(out, "cv_folds", json_integer(cv));
        if (use_linear) {
            /* Cross-validated stacking: fold f's scores are combined as
             * fitted on the other folds' (each of those scored by models
             * that had not learned it). */
            int *fold = folds_of(&train, cv);
            struct doc **o = xmalloc((train.n ? train.n : 1) * sizeof *o);
            size_t fits = 0;
            for (int f = 0; f < cv; f++) {
                size_t no = 0;
                for (size_t i = 0; i < train.n; i++)
                    if (fold[i] != f)
                        o[no++] = &train.d[i];
                struct linear_stack st;
                if (stack_fit(o, no, 1, &st))
                    continue;
                fits++;
                for (size_t i = 0; i < train.n; i++)
                    if (fold[i] == f)
                        stack_apply(&st, &train.d[i]);
            }
            json_object_set_new(out, "linear", json_pack("{s:f,s:I}", "cost", linear_cost, "stack_fits",
                                                         (json_int_t)fits));
            free(o);
            free(fold);
        }
    } else {
        double lr, cr;
        cal = have_fixed_cal ? fixed_cal : train_calib(&train, tl, &bp);
        model *m = train_and_test(&train, &test, tl, &bp, &cal, speed, &lr, &cr);
        uint64_t ns, nh;
        model_totals(m, &ns, &nh);
        json_object_set_new(out, "model", json_pack("{s:I,s:I,s:I,s:I}", "spam", (json_int_t)ns, "ham",
                                                   (json_int_t)nh, "tokens", (json_int_t)model_tokens(m),
                                                   "bytes", (json_int_t)model_bytes(m)));
        json_object_set_new(out, "learn_per_s", json_integer((json_int_t)lr));
        json_object_set_new(out, "classify_per_s", json_integer((json_int_t)cr));
        model_free(m);
        if (use_linear) {
            /* The SVM of all of 'train'; the combination fitted on the
             * training file's cross-validated scores (train_calib's). */
            for (size_t i = 0; i < train.n; i++)
                v[i] = &train.d[i];
            struct linear_stack st;
            int ok = stack_fit(v, train.n, 1, &st) == 0;
            linear *lm = linear_of(tl, v, train.n);
            for (size_t i = 0; i < test.n; i++) {
                linear_set(lm, tl, &test.d[i]);
                if (ok)
                    stack_apply(&st, &test.d[i]);
            }
            json_object_set_new(out, "linear", json_pack("{s:f,s:I,s:o}", "cost", linear_cost, "tokens",
                                                         (json_int_t)linear_tokens(lm), "stack",
                                                         stack_json(ok, &st)));
            linear_free(lm);
        }
    }
    tok_list_free(tl);

    for (size_t i = 0; i < scored->n; i++)
        v[i] = &scored->d[i];
    json_object_set_new(out, "rank", json_string(rank_by_p ? "p" : "logit"));
    json_object_set_new(out, "calibration", json_pack("{s:f,s:f,s:s}", "a", cal.a, "b", cal.b, "from",
                                                      have_fixed_cal ? "--calibration"
                                                      : cv           ? "these cross-validated scores"
                                                                     : "5-fold cross-validation of the training file"));
    rc = write_scores(scores_arg, v, scored->n);
    if (sweep) /* before compute(), which sorts v */
        json_object_set_new(out, "sweep", sweep_json(site, scored));
    cfg_release(cfg);
    struct metrics mt;
    compute(v, scored->n, thr, &mt);
    json_t *mo = metrics_json(&mt, thr);
    json_object_update(mo, out);
    json_decref(out);
    char *s = json_dumps(mo, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("%s\n", s);
    free(s);
    json_decref(mo);
    free(v);
    docs_free(&train);
    docs_free(&test);
    return rc;
}

/* ---------- modgate model build ---------- */

/* The calibration a starter built from 'ds' ships (bayes.h): fitted where
 * a new site reading it lives. Each source of 'ds' in turn is the new
 * site: its comments, in the order --shuffle 1 gives, are scored and then
 * learned over the other sources' balanced model at the default
 * starter_weight (a prequential leave-one-source-out run), and the fit
 * weighs each source alike. Returns 0 and fills 'out' and '*n' (the
 * comments it was fitted on), or -1 with fewer than two sources. */
static int starter_calib(struct docs *ds, tok_list *tl, struct bayes_calib *out, size_t *n)
{
    struct bayes_params bp;
    bayes_defaults(&bp);
    struct preq_opts po = { 1, 1, CFG_STARTER_WEIGHT, 1, &bp, 0 };
    struct docs none = { 0 };
    struct doc **order = xmalloc((ds->n ? ds->n : 1) * sizeof *order);
    json_decref(prequential_main(ds, &none, 1, &po, tl, 0.9, order));
    free(order);
    double *z = xmalloc((ds->n ? ds->n : 1) * sizeof *z), *w = xmalloc((ds->n ? ds->n : 1) * sizeof *w);
    unsigned char *y = xmalloc(ds->n ? ds->n : 1);
    size_t k = 0, nsrc = 0;
    for (size_t i = 0; i < ds->n; i++) {
        const char *src = ds->d[i].source ? ds->d[i].source : "";
        size_t same = 0, first = 1;
        for (size_t j = 0; j < ds->n; j++) {
            const char *o = ds->d[j].source ? ds->d[j].source : "";
            if (!strcmp(o, src)) {
                first &= j >= i;
                same++;
            }
        }
        nsrc += first; /* i is its source's first comment */
        if (!ds->d[i].opinion)
            continue;
        z[k] = ds->d[i].logit;
        y[k] = (unsigned char)ds->d[i].spam;
        w[k++] = 1.0 / (double)same;
    }
    int rc = nsrc >= 2 ? bayes_fit_calib(z, y, w, k, out) : -1;
    *n = k;
    free(z);
    free(w);
    free(y);
    return rc;
}

int eval_model_build(int argc, char **argv)
{
    const char *name = "modgate-starter";
    int balanced = 0;
    struct docs ds = { 0 };
    int rc = 0, nfiles = 0;
    for (int i = 1; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "--balanced"))
            balanced = 1;
        else if (!strcmp(argv[i], "--name") && i + 1 < argc)
            name = argv[++i];
        else if (argv[i][0] == '-')
            rc = 2;
        else
            rc = load_list(argv[i], &ds) ? 2 : (nfiles++, 0);
    }
    if (rc || !nfiles) {
        if (!rc)
            fprintf(stderr, "usage: modgate model build [--balanced] [--name NAME] A.jsonl[,B.jsonl...]... "
                            "> MODEL.jsonl\n");
        docs_free(&ds);
        return 2;
    }
    tok_list *tl = tok_list_new();
    model *m = model_new();
    const struct docs *sets[1] = { &ds };
    json_t *factors = balanced ? learn_balanced(m, tl, sets, 1, NULL) : json_object();
    if (!balanced)
        learn_all(m, tl, &ds, NULL, -1, NULL);
    struct bayes_calib cal;
    size_t ncal = 0;
    json_t *calib = starter_calib(&ds, tl, &cal, &ncal)
                        ? json_null()
                        : json_pack("{s:f,s:f,s:f,s:I}", "a", cal.a, "b", cal.b, "weight", CFG_STARTER_WEIGHT,
                                    "comments", (json_int_t)ncal);
    tok_list_free(tl);
    /* The tokens in hash order: the same corpora give the same bytes, so a
     * deployment can tell whether it holds this very model. */
    size_t n = model_tokens(m), k = 0, it = 0;
    uint64_t *h = xmalloc((n ? n : 1) * sizeof *h);
    uint32_t s, hm;
    while (k < n && model_next(m, &it, &h[k], &s, &hm))
        k++;
    qsort(h, k, sizeof *h, by_hash);
    uint64_t ns, nh;
    model_totals(m, &ns, &nh);
    json_t *head = json_pack("{s:s,s:i,s:I,s:I,s:i,s:I,s:b,s:o,s:o}", "model", name, "tok_version", TOK_VERSION,
                             "nspam", (json_int_t)ns, "nham", (json_int_t)nh, "seq", 0, "tokens", (json_int_t)k,
                             "balanced", balanced, "sources", factors, "calibration", calib);
    char *hs = json_dumps(head, JSON_COMPACT | JSON_SORT_KEYS);
    printf("%s\n", hs);
    free(hs);
    json_decref(head);
    for (size_t i = 0; i < k; i++) {
        model_get(m, &h[i], 1, &s, &hm);
        printf("{\"t\":\"%016llx\",\"s\":%u,\"h\":%u}\n", (unsigned long long)h[i], (unsigned)s, (unsigned)hm);
    }
    fprintf(stderr, "model %s: %zu tokens, %llu spam and %llu ham (weighted) from %zu comments\n", name, k,
            (unsigned long long)ns, (unsigned long long)nh, ds.n);
    free(h);
    model_free(m);
    docs_free(&ds);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
