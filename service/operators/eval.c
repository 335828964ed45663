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
    double score;
    int opinion;
    char *why;     /* the tokens that moved it most, for --scores (new) */
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
        free(ds->d[i].why);
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
        d->score = 0.5;
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

/* Learn docs[i] for every i with skip(i) false. */
static void learn_all(model *m, tok_list *tl, const struct docs *ds, const int *fold, int test_fold)
{
    struct fpset seen = { NULL, 0, 0 };
    for (size_t i = 0; i < ds->n; i++) {
        if (fold && fold[i] == test_fold)
            continue;
        tokenize_doc(tl, &ds->d[i]);
        unsigned char fp[16];
        tok_fingerprint_raw(tl, fp);
        uint64_t k;
        memcpy(&k, fp + 8, sizeof k); /* 64 of its bits: a set of a few million is safe */
        if (!fpset_add(&seen, k))
            continue;
        model_add(m, tok_hashes(tl), tok_count(tl), ds->d[i].spam ? MODEL_SPAM : MODEL_HAM, 1);
    }
    free(seen.k);
}

static int explain; /* --scores: keep each comment's strongest tokens */

static void classify(const model *m, tok_list *tl, const struct bayes_params *bp, struct doc *d)
{
    uint32_t sp[TOK_MAX], hm[TOK_MAX];
    uint64_t ns, nh;
    tokenize_doc(tl, d);
    model_get(m, tok_hashes(tl), tok_count(tl), sp, hm);
    model_totals(m, &ns, &nh);
    struct bayes_result r;
    size_t ng;
    const uint16_t *g = tok_groups(tl, &ng);
    bayes_classify(bp, sp, hm, g, ng, tok_count(tl), ns, nh, &r);
    d->score = r.p;
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

/* ---------- metrics ---------- */

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
        int called = v[i]->score >= thr;
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
            tuning_score(s, d->body, d->body_len, d->author_url, NULL, NULL, 0, d->opinion ? d->score : -1, &it[i]);
        else
            it[i] = (struct sweep_item){ d->score, DEC_ACCEPT, 0, 0 };
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

/* ---------- command line ---------- */

static int usage(void)
{
    fprintf(stderr, "usage: modgate eval --train A.jsonl[,B.jsonl...] (--test C.jsonl | --cv K)\n"
                    "                    [--scores OUT.jsonl] [--threshold T] [--min-learns N]\n"
                    "                    [--speed] [--param NAME=VALUE]...\n"
                    "                    [--sweep [--config FILE --site SITE]]\n"
                    "  --param sets a classifier constant: s, x, min_dev, max_discriminators, min_tokens\n"
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
    if (n == 1 && kv[0] == 's')
        bp->s = v;
    else if (n == 1 && kv[0] == 'x')
        bp->x = v;
    else if (n == 7 && !strncmp(kv, "min_dev", n))
        bp->min_dev = v;
    else if (n == 18 && !strncmp(kv, "max_discriminators", n))
        bp->max_discriminators = (int)v;
    else if (n == 10 && !strncmp(kv, "min_tokens", n))
        bp->min_tokens = (int)v;
    else
        return -1;
    return 0;
}

/* Learn all of 'train', time it; then classify 'test', time it. With
 * 'speed', each is repeated until it took at least half a second. */
static model *train_and_test(const struct docs *train, struct docs *test, tok_list *tl,
                             const struct bayes_params *bp, int speed, double *learn_rate,
                             double *classify_rate)
{
    model *m = NULL;
    size_t rounds = 0;
    double t0 = now_s(), t;
    do {
        model_free(m);
        m = model_new();
        learn_all(m, tl, train, NULL, -1);
        rounds++;
        t = now_s() - t0;
    } while (speed && t < 0.5);
    *learn_rate = (double)(train->n * rounds) / t;
    rounds = 0;
    t0 = now_s();
    do {
        for (size_t i = 0; i < test->n; i++)
            classify(m, tl, bp, &test->d[i]);
        rounds++;
        t = now_s() - t0;
    } while (speed && t < 0.5);
    *classify_rate = (double)(test->n * rounds) / t;
    return m;
}

int eval_main(int argc, char **argv)
{
    const char *train_arg = NULL, *test_arg = NULL, *scores_arg = NULL;
    double thr = 0.9;
    int cv = 0, speed = 0, sweep = 0;
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
        else if (!strcmp(a, "--min-learns"))
            bp.min_learns = strtol(v, NULL, 10);
        else if (!strcmp(a, "--config"))
            config_arg = v;
        else if (!strcmp(a, "--site"))
            site_arg = v;
        else if (!strcmp(a, "--cv"))
            cv = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--param")) {
            if (set_param(&bp, v)) {
                fprintf(stderr, "modgate eval: bad --param %s\n", v);
                return 2;
            }
        } else
            return usage();
    }
    if (!train_arg || (!test_arg && cv < 2) || (test_arg && cv) || !(thr > 0 && thr <= 1) ||
        !config_arg != !site_arg || (config_arg && !sweep))
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

    struct docs train = { 0 }, test = { 0 };
    char *list = xstrdup(train_arg);
    int rc = 0;
    for (char *p = list, *comma; p && !rc; p = comma ? comma + 1 : NULL) {
        comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        rc = load(p, &train);
    }
    free(list);
    if (!rc && test_arg)
        rc = load(test_arg, &test);
    if (rc) {
        docs_free(&train);
        docs_free(&test);
        return 2;
    }

    tok_list *tl = tok_list_new();
    json_t *out = json_object();
    struct docs *scored = &test;
    if (cv) {
        /* Stratified folds: the k-th spam and the k-th ham go to fold k % K. */
        int *fold = xmalloc(train.n * sizeof *fold);
        size_t ks = 0, kh = 0;
        for (size_t i = 0; i < train.n; i++)
            fold[i] = (int)(train.d[i].spam ? ks++ % (size_t)cv : kh++ % (size_t)cv);
        for (int f = 0; f < cv; f++) {
            model *m = model_new();
            learn_all(m, tl, &train, fold, f);
            for (size_t i = 0; i < train.n; i++)
                if (fold[i] == f)
                    classify(m, tl, &bp, &train.d[i]);
            model_free(m);
        }
        free(fold);
        scored = &train;
        json_object_set_new(out, "cv_folds", json_integer(cv));
    } else {
        double lr, cr;
        model *m = train_and_test(&train, &test, tl, &bp, speed, &lr, &cr);
        uint64_t ns, nh;
        model_totals(m, &ns, &nh);
        json_object_set_new(out, "model", json_pack("{s:I,s:I,s:I,s:I}", "spam", (json_int_t)ns, "ham",
                                                   (json_int_t)nh, "tokens", (json_int_t)model_tokens(m),
                                                   "bytes", (json_int_t)model_bytes(m)));
        json_object_set_new(out, "learn_per_s", json_integer((json_int_t)lr));
        json_object_set_new(out, "classify_per_s", json_integer((json_int_t)cr));
        model_free(m);
    }
    tok_list_free(tl);

    struct doc **v = xmalloc((scored->n ? scored->n : 1) * sizeof *v);
    for (size_t i = 0; i < scored->n; i++)
        v[i] = &scored->d[i];
    if (scores_arg) {
        FILE *f = fopen(scores_arg, "w");
        if (!f) {
            fprintf(stderr, "modgate eval: cannot write %s\n", scores_arg);
            rc = 2;
        } else {
            for (size_t i = 0; i < scored->n; i++) {
                json_t *o = json_pack("{s:s,s:s,s:f,s:s}", "id", v[i]->id, "label",
                                      v[i]->spam ? "spam" : "ham", "score", v[i]->score, "tokens",
                                      v[i]->why ? v[i]->why : "");
                char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
                fprintf(f, "%s\n", s);
                free(s);
                json_decref(o);
            }
            fclose(f);
        }
    }
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
