/* tuning.c - threshold sweeps and policy dry-runs over labelled comments. */
#include "tuning.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bayes.h"
#include "heuristics.h"
#include "log.h"
#include "luascripts.h"
#include "policy.h"
#include "request.h"
#include "store.h"
#include "text.h"
#include "util.h"

#define MAX_ROWS 200
#define DEFAULT_LIMIT 2000  /* labelled comments read per state */
#define MAX_LIMIT 10000
#define EXCERPT 160

/* ---------- scoring ---------- */

/* Reasons whose filters run again on the text. */
static int text_filter(const char *f)
{
    return !strcmp(f, "links") || !strcmp(f, "words") || !strcmp(f, "style") || !strcmp(f, "honeypot");
}

void tuning_score(const struct site_cfg *s, const char *body, size_t n, const char *author_url,
                  const char *honeypot, json_t *reasons, double weight_then, double bayes_p,
                  struct sweep_item *out)
{
    struct verdict v;
    verdict_init(&v, s->prior);
    size_t norm_len;
    char *norm = text_normalize(body, n, &norm_len);
    struct heur_input hi = { body, n, norm, norm_len, author_url, honeypot };
    heur_run(&s->heur, &hi, &v, NULL);
    free(norm);
    out->solved = 0;
    if (!reasons && bayes_p >= 0 && s->bayes.enabled)
        verdict_add(&v, "bayes", "bayes", s->bayes.weight * bayes_logit(bayes_p), DEC_ACCEPT, "%s", "");
    size_t i;
    json_t *r;
    json_array_foreach(reasons, i, r) {
        const char *f = json_string_value(json_object_get(r, "filter"));
        const char *c = json_string_value(json_object_get(r, "code"));
        double was = json_number_value(json_object_get(r, "contribution"));
        if (!f || !c || text_filter(f))
            continue;
        double now = was;
        enum decision floor = DEC_ACCEPT;
        if (!strcmp(f, "bayes"))
            now = !s->bayes.enabled ? 0 : weight_then > 0 ? was * s->bayes.weight / weight_then : was;
        else if (!strcmp(c, "duplicate"))
            now = s->dup_enabled ? s->heur.w.duplicate : 0;
        else if (!strcmp(c, "form_token_missing"))
            now = s->form.required ? s->form.missing : 0;
        else if (!strcmp(c, "form_token_invalid"))
            now = s->form.invalid;
        else if (!strcmp(c, "form_too_fast"))
            now = s->form.too_fast;
        else if (!strcmp(c, "form_too_old"))
            now = s->form.too_old;
        else if (!strcmp(c, "captcha_solved") || (!strcmp(c, "captcha_test_mode") && was < 0)) {
            now = -s->captcha.credit; /* a test-mode payload refused was credited nothing */
            out->solved = 1;
        } else if (!strcmp(c, "rate_limited"))
            floor = DEC_REJECT;
        else if (!strcmp(c, "redis_unavailable"))
            floor = s->redis_down;
        verdict_add(&v, f, c, now, floor, "%s", "");
    }
    out->score = verdict_score(&v);
    out->floor = v.floor;
}

void tuning_bands(const struct site_cfg *s, struct sweep_bands *b)
{
    *b = (struct sweep_bands){ s->th.hold, s->th.reject, s->captcha.enabled && s->captcha.band_to > s->captcha.band_from,
                               s->captcha.band_from, s->captcha.band_to };
}

static json_t *num(double v)
{
    return isnan(v) ? json_null() : json_real(round(v * 10000) / 10000);
}

json_t *tuning_row_json(const struct sweep_row *r)
{
    return json_pack("{s:o,s:o,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "threshold", num(r->threshold),
                     "precision", num(r->precision), "recall", num(r->recall), "fpr", num(r->fpr), "tp",
                     (json_int_t)r->tp, "fp", (json_int_t)r->fp, "fn", (json_int_t)r->fn, "tn", (json_int_t)r->tn,
                     "accept", (json_int_t)r->decisions[DEC_ACCEPT], "challenge",
                     (json_int_t)r->decisions[DEC_CHALLENGE], "hold", (json_int_t)r->decisions[DEC_HOLD], "reject",
                     (json_int_t)r->decisions[DEC_REJECT]);
}

/* ---------- reading the labelled comments ---------- */

/* One page of a state's decided comments in the window, newest first
 * (luascripts.h: service/redis/lua/tuning_labelled.lua gives its ARGV and
 * reply). Pages keep each script (and so Redis and the connection the
 * checks share) short. */
static struct store_script labelled_script = { .src = TUNING_LABELLED_LUA };

#define PAGE 200
static const char *const labelled_states[] = { "approved", "rejected", "spam" };

struct labelled {
    char *id;
    int spam;
    long long since_ms;
    char *text;           /* the stored item as read (owned), parsed into item at the end */
    size_t len;
    json_t *item;         /* the stored item (owned) */
};

struct tune_state {
    const struct site_cfg *site;   /* borrowed from req->cfg */
    struct cfg *proposed;          /* dry-run: the config with the proposed policy */
    json_t *policy;                /* dry-run: the proposed policy, whole */
    long long from_ms, to_ms;
    long limit, sample;
    enum sweep_kind kind;
    double lo, hi, step;
    int rc;                        /* 0, -1 Redis unavailable */
    int truncated;
    struct labelled *c;
    size_t n, cap;
    /* paging: the state being read, how far, what the last page held */
    int state_i;
    long offset, seen, kept, page_ids, asked;
    void (*next)(struct http_request *, struct http_response *);
};

static void tune_free(struct tune_state *st)
{
    for (size_t i = 0; i < st->n; i++) {
        free(st->c[i].id);
        free(st->c[i].text);
        json_decref(st->c[i].item);
    }
    free(st->c);
    cfg_release(st->proposed);
    json_decref(st->policy);
    free(st);
}

static void tune_cleanup(struct http_request *req)
{
    if (req->state)
        tune_free(req->state);
    req->state = NULL;
}

static int by_since_desc(const void *a, const void *b)
{
    const struct labelled *x = a, *y = b;
    return x->since_ms < y->since_ms ? 1 : x->since_ms > y->since_ms ? -1 : strcmp(x->id, y->id);
}

/* One page: copied as it is (parsed later, on the request's thread, not
 * in the store's callback). */
static void parse_page(const struct store_reply *r, const char *err, void *out)
{
    struct tune_state *st = out;
    (void)err;
    if (!r || r->type != STORE_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != STORE_REPLY_INTEGER) {
        st->rc = -1;
        if (r)
            LOG_ERROR(NULL, "tuning: the script failed: %.200s", r->type == STORE_REPLY_ERROR ? r->str : "bad reply");
        return;
    }
    st->page_ids = (long)r->element[0]->integer;
    for (size_t i = 1; i + 2 < r->elements; i += 3) {
        struct store_reply *id = r->element[i], *it = r->element[i + 1], *since = r->element[i + 2];
        if (id->type != STORE_REPLY_STRING || it->type != STORE_REPLY_STRING || since->type != STORE_REPLY_STRING)
            continue;
        if (st->kept >= st->limit) { /* the one more asked for: some were left out */
            st->truncated = 1;
            continue;
        }
        if (st->n == st->cap) {
            st->cap = st->cap ? 2 * st->cap : 256;
            st->c = xrealloc(st->c, st->cap * sizeof *st->c);
        }
        struct labelled *l = &st->c[st->n++];
        memset(l, 0, sizeof *l);
        l->spam = st->state_i != 0;
        l->id = xstrndup(id->str, id->len);
        l->text = xstrndup(it->str, it->len);
        l->len = it->len;
        l->since_ms = strtoll(since->str, NULL, 10);
        st->kept++;
    }
}

static void tune_done(void *arg)
{
    http_async_done(arg);
}

static void fetch_page(struct http_request *req, struct tune_state *st);

/* After each page: the next one, or the next state, or the answer. */
static void page_read(struct http_request *req, struct http_response *resp)
{
    struct tune_state *st = req->state;
    if (st->rc) {
        reply_error(resp, 503, "redis_unavailable", "Redis is unavailable; try again");
        tune_cleanup(req);
        return;
    }
    st->seen += st->page_ids;
    st->offset += st->page_ids;
    if (st->page_ids < st->asked || st->seen > st->limit) {
        st->state_i++;
        st->offset = st->seen = st->kept = 0;
    }
    if (st->state_i < 3) {
        fetch_page(req, st);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < st->n; i++) {
        struct labelled *l = &st->c[i];
        l->item = json_loadb(l->text, l->len, 0, NULL);
        free(l->text);
        l->text = NULL;
        if (json_is_object(l->item))
            st->c[k++] = *l;
        else {
            json_decref(l->item);
            free(l->id);
        }
    }
    if (k)
        qsort(st->c, k, sizeof *st->c, by_since_desc);
    /* a comment decided while the pages were read moves the later ones
     * down by one: the one read twice is kept once */
    st->n = 0;
    for (size_t i = 0; i < k; i++) {
        struct labelled *l = &st->c[i];
        if (st->n && !strcmp(st->c[st->n - 1].id, l->id) && st->c[st->n - 1].spam == l->spam) {
            json_decref(l->item);
            free(l->id);
            continue;
        }
        st->c[st->n++] = *l;
    }
    st->next(req, resp);
}

static void fetch_page(struct http_request *req, struct tune_state *st)
{
    char p[80], from[24], to[24], off[24], cnt[24];
    st->asked = st->limit + 1 - st->seen < PAGE ? st->limit + 1 - st->seen : PAGE;
    snprintf(p, sizeof p, "mg:{%s}:", st->site->name);
    snprintf(from, sizeof from, "%lld", st->from_ms);
    snprintf(to, sizeof to, "%lld", st->to_ms);
    snprintf(off, sizeof off, "%ld", st->offset);
    snprintf(cnt, sizeof cnt, "%ld", st->asked);
    const char *state = labelled_states[st->state_i];
    const char *argv[] = { p, from, to, state, off, cnt };
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    st->page_ids = 0;
    req->resume = page_read;
    store_script_async(&labelled_script, st->site->name, 0, 6, argv, lens, parse_page, st, tune_done, req);
}

/* Read the labelled comments of st's window, then run 'next'. */
static void fetch(struct http_request *req, struct tune_state *st,
                  void (*next)(struct http_request *, struct http_response *))
{
    st->next = next;
    fetch_page(req, st);
}

/* The comment's score etc. under site 's' from its stored item. */
static void score_item(const struct site_cfg *s, double weight_now, const struct labelled *l, struct sweep_item *out)
{
    /* the weight its Bayes evidence was recorded with (check.c), else today's */
    json_t *w = json_object_get(l->item, "bayes_weight");
    double weight_then = json_is_number(w) ? json_number_value(w) : weight_now;
    json_t *cm = json_object_get(l->item, "comment");
    json_t *b = json_object_get(cm, "body");
    const char *url = json_string_value(json_object_get(json_object_get(l->item, "author"), "url"));
    const char *hp = json_string_value(json_object_get(l->item, "honeypot"));
    tuning_score(s, json_is_string(b) ? json_string_value(b) : "", json_is_string(b) ? json_string_length(b) : 0,
                 url, hp, json_object_get(l->item, "reasons"), weight_then, -1, out);
    out->spam = l->spam;
}

/* ---------- parameters ---------- */

/* A window bound: "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ", as Unix ms; a
 * date as the end ('end_of_day') means the end of that day. */
static int parse_when(const char *s, int end_of_day, long long *ms)
{
    char t[32];
    int date = strlen(s) == 10;
    if (date)
        snprintf(t, sizeof t, "%sT00:00:00Z", s);
    else
        snprintf(t, sizeof t, "%.31s", s);
    long long v = parse_utc_s(t);
    if (v < 0)
        return -1;
    *ms = (v + (date && end_of_day ? 86400 : 0)) * 1000;
    return 0;
}

/* from / to / days (strings, any NULL) into st's window. -1 with the 400. */
static int window(struct tune_state *st, const char *from, const char *to, const char *days,
                  struct http_response *resp)
{
    long d = 30;
    st->to_ms = wall_ms();
    if (to && *to && parse_when(to, 1, &st->to_ms)) {
        reply_error(resp, 400, "bad_parameter", "to must be a date (2026-11-30) or UTC time (2026-11-30T12:00:00Z)");
        return -1;
    }
    if (days && *days && parse_long(days, 1, 3650, &d)) {
        reply_error(resp, 400, "bad_parameter", "days must be a whole number from 1 to 3650");
        return -1;
    }
    st->from_ms = st->to_ms - d * 86400000LL;
    if (from && *from && parse_when(from, 0, &st->from_ms)) {
        reply_error(resp, 400, "bad_parameter", "from must be a date (2026-11-01) or UTC time (2026-11-01T00:00:00Z)");
        return -1;
    }
    if (st->from_ms > st->to_ms) {
        reply_error(resp, 400, "bad_parameter", "from must not be after to");
        return -1;
    }
    return 0;
}

static int num_arg(const char *v, const char *name, double lo, double hi, double *out, struct http_response *resp)
{
    if (!v || !*v)
        return 0;
    char *end;
    double d = strtod(v, &end);
    if (*end || end == v || !(d >= lo && d <= hi)) {
        reply_error(resp, 400, "bad_parameter", "%s must be a number from %g to %g", name, lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}

static json_t *head(const struct tune_state *st)
{
    size_t spam = 0;
    for (size_t i = 0; i < st->n; i++)
        spam += (size_t)st->c[i].spam;
    return json_pack("{s:s,s:{s:o,s:o},s:{s:I,s:I,s:b}}", "site", st->site->name, "window", "from",
                     reply_time(st->from_ms), "to", reply_time(st->to_ms),
                     "labelled", "spam", (json_int_t)spam, "ham", (json_int_t)(st->n - spam), "truncated",
                     st->truncated);
}

static json_t *bands_json(const struct site_cfg *s)
{
    json_t *o = json_pack("{s:o,s:o}", "hold", num(s->th.hold), "reject", num(s->th.reject));
    if (s->captcha.enabled && s->captcha.band_to > s->captcha.band_from)
        json_object_set_new(o, "challenge", json_pack("[o,o]", num(s->captcha.band_from), num(s->captcha.band_to)));
    return o;
}

/* ---------- GET tuning ---------- */

static void tuning_done(struct http_request *req, struct http_response *resp)
{
    struct tune_state *st = req->state;
    const struct site_cfg *s = st->site;
    struct sweep_item *it = xcalloc(st->n + 1, sizeof *it);
    for (size_t i = 0; i < st->n; i++)
        score_item(s, s->bayes.weight, &st->c[i], &it[i]);
    struct sweep_bands b;
    tuning_bands(s, &b);
    struct sweep_row cur = { .threshold = st->kind == SWEEP_HOLD ? s->th.hold : s->th.reject };
    sweep_row(it, st->n, &b, st->kind, &cur);
    struct sweep_row *rows = xcalloc(MAX_ROWS, sizeof *rows);
    size_t nr = sweep_run(it, st->n, &b, st->kind, st->lo, st->hi, st->step, rows, MAX_ROWS);
    json_t *o = head(st), *ra = json_array();
    for (size_t i = 0; i < nr; i++)
        json_array_append_new(ra, tuning_row_json(&rows[i]));
    json_t *c = bands_json(s);
    json_object_set_new(c, "version", json_integer(s->policy_version));
    json_object_set_new(c, "row", tuning_row_json(&cur));
    json_object_set_new(o, "sweep", json_string(st->kind == SWEEP_HOLD ? "hold" : "reject"));
    json_object_set_new(o, "current", c);
    json_object_set_new(o, "rows", ra);
    reply_json_exact(resp, 200, o);
    free(rows);
    free(it);
    tune_cleanup(req);
}

static struct tune_state *tune_begin(struct http_request *req, struct http_response *resp)
{
    struct tune_state *st = xcalloc(1, sizeof *st);
    req->state = st;
    req->cleanup = tune_cleanup;
    st->limit = DEFAULT_LIMIT;
    st->sample = 20;
    st->lo = 0.05, st->hi = 0.95, st->step = 0.05;
    if (!(st->site = req_path_site(req, resp))) {
        tune_cleanup(req);
        return NULL;
    }
    return st;
}

/* GET /v1/sites/{site}/tuning?from=&to=&days=&sweep=hold|reject&min=&max=&step=&limit= */
void tuning_handle(struct http_request *req, struct http_response *resp)
{
    struct tune_state *st = tune_begin(req, resp);
    if (!st)
        return;
    const char *sw = http_arg(req, "sweep"), *lim = http_arg(req, "limit");
    if (sw && *sw && strcmp(sw, "hold") && strcmp(sw, "reject")) {
        reply_error(resp, 400, "bad_parameter", "sweep must be \"hold\" or \"reject\"");
        tune_cleanup(req);
        return;
    }
    st->kind = sw && !strcmp(sw, "reject") ? SWEEP_REJECT : SWEEP_HOLD;
    if (window(st, http_arg(req, "from"), http_arg(req, "to"), http_arg(req, "days"), resp) ||
        num_arg(http_arg(req, "min"), "min", 0.001, 1, &st->lo, resp) ||
        num_arg(http_arg(req, "max"), "max", 0.001, 1, &st->hi, resp) ||
        num_arg(http_arg(req, "step"), "step", 0.001, 1, &st->step, resp)) {
        tune_cleanup(req);
        return;
    }
    if (lim && *lim && parse_long(lim, 1, MAX_LIMIT, &st->limit)) {
        reply_error(resp, 400, "bad_parameter", "limit must be a whole number from 1 to %d", MAX_LIMIT);
        tune_cleanup(req);
        return;
    }
    if (st->hi < st->lo || (long)floor((st->hi - st->lo) / st->step + 1e-9) + 1 > MAX_ROWS) {
        reply_error(resp, 400, "bad_parameter", "min must not be above max, and the sweep has at most %d rows",
                    MAX_ROWS);
        tune_cleanup(req);
        return;
    }
    fetch(req, st, tuning_done);
}

/* ---------- POST dry-run ---------- */

static void excerpt(json_t *o, json_t *item)
{
    const char *b = json_string_value(json_object_get(json_object_get(item, "comment"), "body"));
    if (!b)
        return;
    size_t n = strlen(b);
    if (n > EXCERPT) { /* cut on a UTF-8 boundary */
        n = EXCERPT;
        while (n && ((unsigned char)b[n] & 0xC0) == 0x80)
            n--;
    }
    json_object_set_new(o, "excerpt", json_stringn(b, n));
}

static void dry_done(struct http_request *req, struct http_response *resp)
{
    struct tune_state *st = req->state;
    const struct site_cfg *s = st->site, *p = cfg_site(st->proposed, s->name, NULL);
    struct sweep_item *cur = xcalloc(st->n + 1, sizeof *cur), *pro = xcalloc(st->n + 1, sizeof *pro);
    struct sweep_bands bc, bp;
    tuning_bands(s, &bc);
    tuning_bands(p, &bp);
    json_t *sample = json_array(), *trans = json_object();
    size_t changed = 0, changed_cur = 0;
    for (size_t i = 0; i < st->n; i++) {
        struct labelled *l = &st->c[i];
        score_item(s, s->bayes.weight, l, &cur[i]);
        score_item(p, s->bayes.weight, l, &pro[i]);
        enum decision dc = sweep_decide(&cur[i], &bc), dp = sweep_decide(&pro[i], &bp), then = dc;
        const char *tn = json_string_value(json_object_get(l->item, "decision"));
        if (!tn || decision_parse(tn, &then))
            then = dc;
        changed_cur += dc != dp;
        if (then == dp)
            continue;
        changed++;
        char k[40];
        snprintf(k, sizeof k, "%s->%s", decision_name(then), decision_name(dp));
        json_t *n = json_object_get(trans, k);
        json_object_set_new(trans, k, json_integer(n ? json_integer_value(n) + 1 : 1));
        if ((long)json_array_size(sample) < st->sample) {
            json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "id", l->id, "label", l->spam ? "spam" : "ham",
                                  "then", decision_name(then), "current", decision_name(dc), "proposed",
                                  decision_name(dp), "score_current", num(cur[i].score), "score_proposed",
                                  num(pro[i].score), "decided_at", reply_time(l->since_ms));
            excerpt(o, l->item);
            json_array_append_new(sample, o);
        }
    }
    struct sweep_row rc = { .threshold = s->th.hold }, rp = { .threshold = p->th.hold };
    sweep_row(cur, st->n, &bc, SWEEP_HOLD, &rc);
    sweep_row(pro, st->n, &bp, SWEEP_HOLD, &rp);
    json_t *o = head(st), *c = bands_json(s), *pr = bands_json(p);
    json_object_set_new(c, "version", json_integer(s->policy_version));
    json_object_set_new(c, "row", tuning_row_json(&rc));
    json_object_set_new(pr, "row", tuning_row_json(&rp));
    json_object_set_new(o, "current", c);
    json_object_set_new(o, "proposed", pr);
    json_object_set_new(o, "changed", json_integer((json_int_t)changed));
    json_object_set_new(o, "changed_from_current", json_integer((json_int_t)changed_cur));
    json_object_set_new(o, "transitions", trans);
    json_object_set_new(o, "sample", sample);
    json_object_set(o, "policy", st->policy);
    reply_json_exact(resp, 200, o);
    free(cur);
    free(pro);
    tune_cleanup(req);
}

/* POST /v1/sites/{site}/tuning/dry-run {"policy":{...},"from","to","days","sample","limit"} */
void dry_run_handle(struct http_request *req, struct http_response *resp)
{
    struct tune_state *st = tune_begin(req, resp);
    if (!st)
        return;
    json_t *root = NULL;
    if (req_load(req, &root, resp))
        goto bad;
    static const char *const known[] = { "policy", "from", "to", "days", "sample", "limit", NULL };
    const char *unknown = req_unknown_field(root, known);
    if (unknown) {
        reply_error(resp, 400, "unknown_field", "%.64s is not a known field", unknown);
        goto bad;
    }
    json_t *pol = json_object_get(root, "policy");
    if (!pol) {
        reply_error(resp, 400, "missing_field", "policy is required (the proposed changes, as for PUT .../policy)");
        goto bad;
    }
    json_t *days = json_object_get(root, "days"), *smp = json_object_get(root, "sample"),
           *lim = json_object_get(root, "limit");
    const char *from = json_string_value(json_object_get(root, "from")),
               *to = json_string_value(json_object_get(root, "to"));
    if ((json_object_get(root, "from") && !from) || (json_object_get(root, "to") && !to)) {
        reply_error(resp, 400, "wrong_type", "from and to must be strings (2026-11-01 or 2026-11-01T00:00:00Z)");
        goto bad;
    }
    if ((days && !json_is_integer(days)) || (smp && !json_is_integer(smp)) || (lim && !json_is_integer(lim))) {
        reply_error(resp, 400, "wrong_type", "days, sample and limit must be whole numbers");
        goto bad;
    }
    if ((smp && (json_integer_value(smp) < 0 || json_integer_value(smp) > 100)) ||
        (lim && (json_integer_value(lim) < 1 || json_integer_value(lim) > MAX_LIMIT))) {
        reply_error(resp, 400, "bad_parameter", "sample must be from 0 to 100 and limit from 1 to %d", MAX_LIMIT);
        goto bad;
    }
    char dtext[24] = "";
    if (days)
        snprintf(dtext, sizeof dtext, "%lld", (long long)json_integer_value(days));
    if (window(st, from, to, dtext, resp))
        goto bad;
    if (smp)
        st->sample = (long)json_integer_value(smp);
    if (lim)
        st->limit = (long)json_integer_value(lim);
    if (!(st->proposed = policy_try(req, st->site, pol, &st->policy, resp)))
        goto bad;
    json_decref(root);
    fetch(req, st, dry_done);
    return;
bad:
    json_decref(root);
    tune_cleanup(req);
}
