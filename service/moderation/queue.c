/* queue.c - the moderation queue in Redis; see queue.h. */
#include "queue.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authors.h"
#include "learn.h"
#include "log.h"
#include "luascripts.h"
#include "reply.h"
#include "scall.h"
#include "store.h"
#include "util.h"

/* Characters that can go into the index line as they are: no JSON escape,
 * no '|' or ','. Everything modgate writes there is hex, an address
 * prefix or a reason code; anything else is dropped rather than trusted. */
static void put_safe(char **w, char *end, const char *s)
{
    for (; s && *s && *w < end; s++)
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
            *s == ':' || *s == '/' || *s == '_' || *s == '-')
            *(*w)++ = *s;
}

void queue_index_line(char out[QUEUE_IX_MAX], double score, const char *body_fp, const char *thread_key,
                      const char *author_key, const char *net, const char *const *codes, int ncodes)
{
    int n = snprintf(out, QUEUE_IX_MAX, "%.4f|", score);
    char *w = out + (n > 0 && n < 64 ? n : 0), *end = out + QUEUE_IX_MAX - 1;
    put_safe(&w, end, body_fp);
    if (w < end)
        *w++ = '|';
    put_safe(&w, end, thread_key);
    if (w < end)
        *w++ = '|';
    put_safe(&w, end, author_key);
    if (w < end)
        *w++ = '|';
    put_safe(&w, end, net);
    if (w < end)
        *w++ = '|';
    for (int i = 0; i < ncodes; i++) {
        if (i && w < end)
            *w++ = ',';
        put_safe(&w, end, codes[i]);
    }
    *w = '\0';
}

/* ---------- the scripts ---------- */

/* The queue's scripts (luascripts.h): service/redis/lua/queue_*.lua, whose
 * headers give their ARGV, KEYS and replies; registered at start
 * (queue_init) and run with EVALSHA. */
static struct store_script list_lua = { .src = QUEUE_LIST_LUA };
static struct store_script get_lua = { .src = QUEUE_GET_LUA };
static struct store_script fetch_lua = { .src = QUEUE_FETCH_LUA };
static struct store_script act_lua = { .src = QUEUE_ACT_LUA, .durable = 1 };
static struct store_script lesson_lua = { .src = LESSON_LUA, .durable = 1 };
static struct store_script lesson_done_lua = { .src = LESSON_DONE_LUA };
static struct store_script lessons_due_lua = { .src = LESSONS_DUE_LUA };
static struct store_script stream_lua = { .src = QUEUE_STREAM_LUA };

/* ---------- replies ---------- */

static int is_arr(const struct store_reply *r, size_t n)
{
    return r && r->type == STORE_REPLY_ARRAY && r->elements >= n;
}

static const char *str_of(const struct store_reply *r)
{
    return r && (r->type == STORE_REPLY_STRING || r->type == STORE_REPLY_STATUS) ? r->str : "";
}

static long long int_of(const struct store_reply *r)
{
    if (!r)
        return 0;
    if (r->type == STORE_REPLY_INTEGER)
        return r->integer;
    return r->type == STORE_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

/* A failed call: rc -1 when Redis could not be asked, -2 when it refused. */
static int failed(struct queue_res *q, const struct store_reply *r, const char *err)
{
    if (r && r->type != STORE_REPLY_ERROR)
        return 0;
    q->rc = r ? -2 : -1;
    snprintf(q->error, sizeof q->error, "%.150s", r ? r->str : err);
    return 1;
}

/* The stored item's text up to its index line: it ends ',"ix":"..."}'
 * (check.c), and what comes before is the item without its last brace.
 * Returns that length, or 0 when the item is not of that shape. */
static size_t item_prefix(const char *item, size_t n)
{
    static const char tag[] = ",\"ix\":\"";
    if (n < sizeof tag + 2 || item[0] != '{' || item[n - 1] != '}' || item[n - 2] != '"')
        return 0;
    for (size_t i = n - 2; i-- > 1;) {
        if (item[i] == '"' || item[i] == '\\')
            return i + 1 >= sizeof tag - 1 && memcmp(item + i + 1 - (sizeof tag - 1), tag, sizeof tag - 1) == 0
                       ? i + 1 - (sizeof tag - 1)
                       : 0;
    }
    return 0;
}

void queue_item_text(struct buf *b, const char *state, const char *ver, const char *item, size_t item_len,
                     const char *since_ms, const char *learned, const char *by, const char *reports)
{
    size_t n = item_prefix(item, item_len);
    if (n)
        buf_append(b, item, n);
    else
        buf_puts(b, "{\"unreadable\":true"); /* never written by modgate: show what is known */
    buf_puts(b, ",\"state\":");
    json_put_str(b, state);
    buf_puts(b, ",\"version\":");
    buf_put_int(b, strtoll(ver, NULL, 10));
    char t[40];
    fmt_rfc3339(strtoll(since_ms, NULL, 10), t, sizeof t);
    buf_puts(b, ",\"state_since\":");
    json_put_str(b, t);
    buf_puts(b, ",\"learned\":");
    json_put_str(b, learned && *learned ? learned : NULL);
    buf_puts(b, ",\"decided_by\":");
    json_put_str(b, by && *by ? by : NULL);
    if (reports && *reports == '{') { /* report.lua's summary (cjson's JSON) */
        buf_puts(b, ",\"reports\":");
        buf_puts(b, reports);
    }
    buf_append(b, "}", 1);
}

/* Text of the reply string r (valid UTF-8 JSON, as modgate stored it). */
static void put_item(struct buf *b, struct store_reply *const *e)
{
    queue_item_text(b, str_of(e[1]), str_of(e[5]), str_of(e[6]), e[6] && e[6]->type == STORE_REPLY_STRING ? e[6]->len : 0,
                    str_of(e[4]), str_of(e[7]), str_of(e[8]), str_of(e[9]));
}

/* Built as text, not as a jansson tree: this runs on a Redis lane's
 * thread, which must get back to its other commands at once. */
static void parse_list(const struct store_reply *r, const char *err, void *out)
{
    struct queue_res *q = out;
    if (failed(q, r, err))
        return;
    if (!is_arr(r, 4) || !is_arr(r->element[0], 0) || !is_arr(r->element[1], 5)) {
        q->rc = -2;
        snprintf(q->error, sizeof q->error, "unexpected reply to the queue listing");
        return;
    }
    struct buf b;
    buf_init(&b);
    buf_append(&b, "[", 1);
    for (size_t i = 0, k = 0; i < r->element[0]->elements; i++) {
        struct store_reply *e = r->element[0]->element[i];
        if (!is_arr(e, 10))
            continue;
        if (k++)
            buf_append(&b, ",", 1);
        put_item(&b, e->element);
    }
    buf_append(&b, "]", 1);
    q->text = b.p;
    struct store_reply *m = r->element[1];
    json_t *o = json_pack("{s:b, s:s, s:s, s:I, s:I}", "done", int_of(m->element[2]) == 1, "last_ms",
                          str_of(m->element[0]), "last_id", str_of(m->element[1]), "looked_at",
                          (json_int_t)int_of(m->element[3]), "matching", (json_int_t)int_of(m->element[4]));
    static const char *const states[] = { "held", "approved", "rejected", "spam", "reported" };
    if (is_arr(r->element[2], 5)) {
        json_t *c = json_object();
        for (int i = 0; i < 5; i++)
            json_object_set_new(c, states[i], json_integer(int_of(r->element[2]->element[i])));
        json_object_set_new(o, "counts", c);
        json_t *rc = json_object();
        for (size_t i = 0; is_arr(r->element[3], 0) && i + 1 < r->element[3]->elements; i += 2)
            json_object_set_new(rc, str_of(r->element[3]->element[i]),
                                json_integer(int_of(r->element[3]->element[i + 1])));
        json_object_set_new(o, "reason_counts", rc);
    }
    q->json = o;
}

/* Arguments of a script call, kept until it is sent (store copies them). */
#define QARGS 40
struct args {
    int n;
    const char *v[QARGS];
    size_t len[QARGS];
    char buf[QARGS][96];
};

static void arg_s(struct args *a, const char *s)
{
    a->v[a->n] = s;
    a->len[a->n++] = strlen(s);
}

static void arg_n(struct args *a, long long v)
{
    snprintf(a->buf[a->n], sizeof a->buf[0], "%lld", v);
    arg_s(a, a->buf[a->n]);
}

static void arg_prefix(struct args *a, const char *site)
{
    snprintf(a->buf[a->n], sizeof a->buf[0], "mg:{%s}:", site);
    arg_s(a, a->buf[a->n]);
}

void queue_list_async(const struct queue_list_req *q, struct queue_res *res, store_done_fn done, void *arg)
{
    memset(res, 0, sizeof *res);
    struct args a = { 0 };
    arg_prefix(&a, q->site);
    arg_s(&a, q->state);
    arg_s(&a, q->newest_first ? "1" : "0");
    arg_n(&a, q->limit);
    arg_s(&a, q->cursor_ms ? q->cursor_ms : "");
    arg_s(&a, q->cursor_id ? q->cursor_id : "");
    arg_s(&a, q->score_min ? q->score_min : "");
    arg_s(&a, q->score_max ? q->score_max : "");
    arg_n(&a, q->budget);
    arg_s(&a, q->counts ? "1" : "0");
    const char *kinds[] = { "t", "a", "n", "r" };
    const char *vals[] = { q->thread_key, q->author_key, q->net, q->reason };
    for (int i = 0; i < 4; i++)
        if (vals[i] && *vals[i]) {
            arg_s(&a, kinds[i]);
            arg_s(&a, vals[i]);
        }
    store_script_async(&list_lua, q->site, 0, a.n, a.v, a.len, parse_list, res, done, arg);
}

static void parse_get(const struct store_reply *r, const char *err, void *out)
{
    struct queue_res *q = out;
    if (failed(q, r, err))
        return;
    if (!is_arr(r, 3) || !is_arr(r->element[0], 0) || !is_arr(r->element[1], 0)) {
        q->rc = -2;
        snprintf(q->error, sizeof q->error, "unexpected reply to a comment read");
        return;
    }
    struct store_reply *h = r->element[0];
    if (h->elements == 0)
        return; /* rc 0, text NULL: no such comment */
    /* the hash's fields in put_item's order: id, state, score, at, since, ver, item, learned, by */
    static const char *const names[] = { "", "state", "score", "at", "since", "ver", "item", "learned", "by",
                                         "reports" };
    struct store_reply *f[10] = { 0 };
    const char *ix = "";
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        for (int k = 1; k < 10; k++)
            if (strcmp(str_of(h->element[i]), names[k]) == 0)
                f[k] = h->element[i + 1];
        if (strcmp(str_of(h->element[i]), "ix") == 0)
            ix = str_of(h->element[i + 1]);
    }
    /* the author and network of its index line "THREAD|AUTHOR|NET|CODES" */
    char au[17] = "", net[64] = "";
    const char *p1 = strchr(ix, '|'), *p2 = p1 ? strchr(p1 + 1, '|') : NULL, *p3 = p2 ? strchr(p2 + 1, '|') : NULL;
    if (p3 && (size_t)(p2 - p1 - 1) < sizeof au && (size_t)(p3 - p2 - 1) < sizeof net) {
        memcpy(au, p1 + 1, (size_t)(p2 - p1 - 1));
        au[p2 - p1 - 1] = 0;
        memcpy(net, p2 + 1, (size_t)(p3 - p2 - 1));
        net[p3 - p2 - 1] = 0;
    }
    if (au[0] || net[0])
        q->author = authors_view(r->element[2], 0, au, net, q->days);
    struct buf b;
    buf_init(&b);
    put_item(&b, f);
    q->text = b.p;
    json_t *hist = json_array(); /* its entries as stored: the caller reads them */
    for (size_t i = 0; i < r->element[1]->elements; i++)
        json_array_append_new(hist, json_string(str_of(r->element[1]->element[i])));
    q->json = hist;
}

void queue_get_async(const char *site, const char *id, long window_days, struct queue_res *res, store_done_fn done,
                     void *arg)
{
    memset(res, 0, sizeof *res);
    res->days = window_days;
    struct args a = { 0 };
    arg_prefix(&a, site);
    arg_s(&a, id);
    arg_n(&a, window_days);
    store_script_async(&get_lua, site, 0, a.n, a.v, a.len, parse_get, res, done, arg);
}

static void parse_fetch(const struct store_reply *r, const char *err, void *out)
{
    struct queue_res *q = out;
    if (failed(q, r, err))
        return;
    if (!is_arr(r, 0)) {
        q->rc = -2;
        snprintf(q->error, sizeof q->error, "unexpected reply to a comment fetch");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < r->elements; i++) {
        struct store_reply *e = r->element[i];
        if (!is_arr(e, 1))
            continue;
        if (e->elements < 6) {
            json_array_append_new(arr, json_pack("{s:s, s:b}", "id", str_of(e->element[0]), "missing", 1));
            continue;
        }
        /* the item stays text here: the caller parses it, off this lane's thread */
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", str_of(e->element[0]), "state",
                                             str_of(e->element[1]), "ver", str_of(e->element[2]), "item",
                                             str_of(e->element[3]), "learned", str_of(e->element[4]), "lfp",
                                             str_of(e->element[5])));
    }
    q->json = arr;
}

void queue_fetch_async(const char *site, const char *const *ids, int nids, const struct queue_select *sel,
                       struct queue_res *res, store_done_fn done, void *arg)
{
    memset(res, 0, sizeof *res);
    int n = sel ? 6 : 2 + nids;
    const char **v = xcalloc((size_t)n, sizeof *v);
    size_t *len = xcalloc((size_t)n, sizeof *len);
    char p[96], lim[24];
    snprintf(p, sizeof p, "mg:{%s}:", site);
    v[0] = p;
    v[1] = sel ? "index" : "ids";
    if (sel) {
        snprintf(lim, sizeof lim, "%d", sel->limit);
        v[2] = sel->state;
        v[3] = sel->kind;
        v[4] = sel->value;
        v[5] = lim;
    } else {
        for (int i = 0; i < nids; i++)
            v[2 + i] = ids[i];
    }
    for (int i = 0; i < n; i++)
        len[i] = strlen(v[i]);
    store_script_async(&fetch_lua, site, 0, n, v, len, parse_fetch, res, done, arg);
    free(v);
    free(len);
}

static void parse_act(const struct store_reply *r, const char *err, void *out)
{
    struct queue_res *q = out;
    if (failed(q, r, err))
        return;
    if (!is_arr(r, 1)) {
        q->rc = -2;
        snprintf(q->error, sizeof q->error, "unexpected reply to an action");
        return;
    }
    const char *st = str_of(r->element[0]);
    json_t *o = json_pack("{s:s}", "status", st);
    if (strcmp(st, "ok") == 0 && r->elements >= 8) {
        json_object_set_new(o, "from", json_string(str_of(r->element[1])));
        json_object_set_new(o, "state", json_string(str_of(r->element[2])));
        json_object_set_new(o, "version", json_integer(int_of(r->element[3])));
        json_object_set_new(o, "at", reply_time(int_of(r->element[4])));
        json_object_set_new(o, "audit_id", json_string(str_of(r->element[5])));
        json_object_set_new(o, "event_id", json_string(str_of(r->element[6])));
        json_object_set_new(o, "filter", json_string(str_of(r->element[7])));
    } else if ((strcmp(st, "conflict") == 0 || strcmp(st, "same") == 0) && r->elements >= 3) {
        json_object_set_new(o, "state", json_string(str_of(r->element[1])));
        json_object_set_new(o, "version", json_integer(int_of(r->element[2])));
    } else if (strcmp(st, "version") == 0 && r->elements >= 2) {
        json_object_set_new(o, "tok_version", json_integer(int_of(r->element[1])));
    }
    q->json = o;
}

/* The act script for 'x', its reply read by 'parse' into 'out'. */
static void act_send(const struct queue_act *x, store_parse_fn parse, void *out, store_done_fn done, void *arg)
{
    /* Redis Cluster, the model on another slot: the comment's key alone
     * (the lesson goes into the site's outbox: see split_act) */
    int nkeys = store_same_slot(x->site, x->model) ? 9 : 1;
    int n = 9 + 18 + (int)x->ntoks;
    const char **v = xcalloc((size_t)n, sizeof *v);
    size_t *len = xcalloc((size_t)n, sizeof *len);
    char keys[9][360], p[96], nums[6][24], *hex = xcalloc(x->ntoks + 1, 17);
    const char *mn = x->model;
    snprintf(keys[0], sizeof keys[0], "mg:{%s}:c:%s", x->site, x->id);
    snprintf(keys[1], sizeof keys[1], "mg:{%s}:bayes:spam", mn);
    snprintf(keys[2], sizeof keys[2], "mg:{%s}:bayes:ham", mn);
    snprintf(keys[3], sizeof keys[3], "mg:{%s}:bayes:meta", mn);
    snprintf(keys[4], sizeof keys[4], "mg:{%s}:bayes:doc:%s", mn, x->fp);
    snprintf(keys[5], sizeof keys[5], "mg:{%s}:bayes:events", mn);
    snprintf(keys[6], sizeof keys[6], "mg:{%s}:bayes:doc:%s", mn, x->lfp && *x->lfp ? x->lfp : x->fp);
    snprintf(keys[7], sizeof keys[7], "mg:{%s}:bayes:calib", mn);
    snprintf(keys[8], sizeof keys[8], "mg:{%s}:bayes:calib:order", mn);
    snprintf(p, sizeof p, "mg:{%s}:", x->site);
    snprintf(nums[0], sizeof nums[0], "%d", x->tok_version);
    snprintf(nums[1], sizeof nums[1], "%d", x->stream_maxlen);
    snprintf(nums[2], sizeof nums[2], "%lld", x->retention_ms);
    snprintf(nums[3], sizeof nums[3], "%lld", x->events_ms);
    snprintf(nums[4], sizeof nums[4], "%lld", x->audit_ms);
    snprintf(nums[5], sizeof nums[5], "%d", BAYESDB_CALIB_MAX);
    int k = 0;
    for (int i = 0; i < nkeys; i++)
        v[k++] = keys[i];
    const char *argv[] = { p, x->id, x->action, x->to, x->from, x->ver, x->by, x->note ? x->note : "",
                           x->reason ? x->reason : "", x->teach, nums[0], nums[1], nums[2], nums[3], nums[4], x->fp,
                           x->z ? x->z : "", nums[5] };
    for (size_t i = 0; i < sizeof argv / sizeof *argv; i++)
        v[k++] = argv[i];
    for (size_t i = 0; i < x->ntoks; i++) {
        snprintf(hex + 17 * i, 17, "%016llx", (unsigned long long)x->toks[i]);
        v[k++] = hex + 17 * i;
    }
    n = k;
    for (int i = 0; i < n; i++)
        len[i] = strlen(v[i]);
    store_script_async(&act_lua, x->site, nkeys, n, v, len, parse, out, done, arg);
    free(hex);
    free(v);
    free(len);
}

/* ---------- a model on another Redis Cluster slot ----------
 *
 * A model shared by several sites lives under its own hash tag; in a
 * Redis Cluster its slot is not its sites', and one script cannot both
 * move a comment and teach the model. Then an action goes in two steps:
 * the act script moves the comment and writes the lesson into the site's
 * outbox (P lessons, in the same call), and the lesson script teaches the
 * model on its slot; a third call takes the lesson out of the outbox. A
 * lesson left there (Redis or this instance failed between the steps) is
 * taught by the drain (queue_lessons_drain) a few seconds later: the
 * lesson script is idempotent, so one taught twice teaches once. The
 * moderator's answer says what the filter did when the lesson was taught
 * in time, else that it was queued. */

struct split_act {
    int split;                   /* the act answered "ok" with a lesson queued */
    struct scall s1;             /* the act script's answer, as strings */
    struct scall s2;             /* the lesson script's */
    char model[65];
    store_parse_fn parse;        /* the caller's */
    void *out;
    store_done_fn done;
    void *arg;
};

/* The lesson script for outbox entry 'entry' of a comment of a site whose
 * model is 'model'. Returns 0, or -1 for an entry that is not one. */
static int lesson_send(const char *mname, const char *entry, struct scall *s, store_done_fn done, void *arg,
                       int wait)
{
    json_t *e = json_loads(entry, 0, NULL);
    const char *fp = json_string_value(json_object_get(e, "fp")), *lfp = json_string_value(json_object_get(e, "lfp"));
    if (!fp || !lfp) {
        json_decref(e);
        return -1;
    }
    char keys[8][360], nums[3][24];
    static const char *const what[8] = { "spam", "ham", "meta", NULL, "events", NULL, "calib", "calib:order" };
    for (int i = 0; i < 8; i++)
        if (what[i])
            snprintf(keys[i], sizeof keys[i], "mg:{%s}:bayes:%s", mname, what[i]);
    snprintf(keys[3], sizeof keys[3], "mg:{%s}:bayes:doc:%s", mname, fp);
    snprintf(keys[5], sizeof keys[5], "mg:{%s}:bayes:doc:%s", mname, lfp[0] ? lfp : fp);
    json_decref(e);
    snprintf(nums[0], sizeof nums[0], "%d", TOK_VERSION);
    snprintf(nums[1], sizeof nums[1], "%d", BAYESDB_STREAM_MAXLEN);
    snprintf(nums[2], sizeof nums[2], "%d", BAYESDB_CALIB_MAX);
    const char *argv[12] = { keys[0], keys[1], keys[2], keys[3], keys[4], keys[5], keys[6], keys[7], entry, nums[0],
                             nums[1], nums[2] };
    if (wait)
        scall_run(&lesson_lua, mname, 8, 12, argv, s);
    else
        scall_async(&lesson_lua, mname, 8, 12, argv, s, done, arg);
    return 0;
}

static void free_scall(void *arg)
{
    scall_free(arg);
    free(arg);
}

/* Take the entry out of the site's outbox, unless replaced meanwhile:
 * without waiting (from a store thread's callback: a wait there would
 * wait on itself) unless 'wait'. */
static void lesson_done(const char *site, const char *id, const char *entry, int wait)
{
    char key[96];
    snprintf(key, sizeof key, "mg:{%s}:lessons", site);
    const char *argv[3] = { key, id, entry };
    struct scall *s = xcalloc(1, sizeof *s);
    if (wait) {
        scall_run(&lesson_done_lua, site, 1, 3, argv, s);
        free_scall(s);
    } else {
        scall_async(&lesson_done_lua, site, 1, 3, argv, s, free_scall, s);
    }
}

/* The act script's answer: kept as strings when it queued a lesson,
 * else handed to the caller's parser as it is. */
static void split_parse(const struct store_reply *r, const char *err, void *out)
{
    struct split_act *sa = out;
    sa->split = is_arr(r, 13) && strcmp(str_of(r->element[0]), "ok") == 0 && str_of(r->element[12])[0];
    if (sa->split)
        scall_parse(r, err, &sa->s1);
    else
        sa->parse(r, err, sa->out);
}

/* The answer to the caller: the act script's, with what the lesson did. */
static void split_finish(struct split_act *sa)
{
    size_t n = sa->s1.n;
    struct store_reply *e = xcalloc(n, sizeof *e), **ep = xcalloc(n, sizeof *ep);
    for (size_t i = 0; i < n; i++) {
        e[i] = (struct store_reply){ .type = STORE_REPLY_STRING, .str = sa->s1.v[i], .len = strlen(sa->s1.v[i]) };
        ep[i] = &e[i];
    }
    struct store_reply all = { .type = STORE_REPLY_ARRAY, .elements = n, .element = ep };
    sa->parse(&all, "", sa->out);
    free(ep);
    free(e);
    scall_free(&sa->s1);
    scall_free(&sa->s2);
    store_done_fn fn = sa->done;
    void *fa = sa->arg;
    free(sa);
    fn(fa);
}

static void set_str(struct scall *s, size_t i, const char *v)
{
    free(s->v[i]);
    s->v[i] = xstrdup(v);
}

/* The lesson script answered (or not): say what it did; out of the
 * outbox. The entry's "me" names the site and the comment: mg:{S}:ID. */
static void lesson_taught(void *arg)
{
    struct split_act *sa = arg;
    json_t *e = json_loads(sa->s1.v[12], 0, NULL);
    const char *me = json_string_value(json_object_get(e, "me"));
    char sname[65] = "", id[256] = "";
    if (me && strncmp(me, "mg:{", 4) == 0 && strchr(me, '}')) {
        const char *close = strchr(me, '}');
        snprintf(sname, sizeof sname, "%.*s", (int)(close - me - 4), me + 4);
        snprintf(id, sizeof id, "%s", close + 2);
    }
    json_decref(e);
    if (sa->s2.rc == 0 && sa->s2.n >= 6 && strcmp(sa->s2.v[0], "ok") == 0) {
        for (size_t i = 1; i < 6; i++)
            set_str(&sa->s1, 6 + i, sa->s2.v[i]); /* what the filter did, then the lesson */
        lesson_done(sname, id, sa->s1.v[12], 0);
    } else if (sa->s2.rc == 0 && sa->s2.n >= 2 && strcmp(sa->s2.v[0], "version") == 0) {
        LOG_WARN(NULL, "moderation: site %s: model %s holds tokenizer version %s tokens; a moderator's lesson was "
                 "not taught", sname, sa->model, sa->s2.v[1]);
        set_str(&sa->s1, 7, "not taught: the model holds another tokenizer version's tokens");
        lesson_done(sname, id, sa->s1.v[12], 0);
    } else {
        LOG_WARN(NULL, "moderation: site %s: the lesson for model %s waits in the outbox (Redis did not answer)",
                 sname, sa->model);
    }
    split_finish(sa);
}

static void split_acted(void *arg)
{
    struct split_act *sa = arg;
    if (!sa->split) { /* answered already (split_parse) */
        store_done_fn fn = sa->done;
        void *fa = sa->arg;
        free(sa);
        fn(fa);
        return;
    }
    if (sa->s1.n < 13 || lesson_send(sa->model, sa->s1.v[12], &sa->s2, lesson_taught, sa, 0) != 0)
        split_finish(sa);
}

/* The act script for 'x' with 'parse' and 'done': in two steps when the
 * model is on another slot. */
static void act_run(const struct queue_act *x, store_parse_fn parse, void *out, store_done_fn done, void *arg)
{
    if (store_same_slot(x->site, x->model)) {
        act_send(x, parse, out, done, arg);
        return;
    }
    struct split_act *sa = xcalloc(1, sizeof *sa);
    snprintf(sa->model, sizeof sa->model, "%s", x->model);
    sa->parse = parse;
    sa->out = out;
    sa->done = done;
    sa->arg = arg;
    act_send(x, split_parse, sa, split_acted, sa);
}

int queue_lessons_drain(const struct cfg *c)
{
    int rc = 0;
    for (size_t i = 0; i < c->nsites; i++) {
        const struct site_cfg *site = &c->sites[i];
        if (store_same_slot(site->name, site->bayes.model))
            continue;
        char key[96];
        snprintf(key, sizeof key, "mg:{%s}:lessons", site->name);
        const char *argv[3] = { key, "5000", "20" }; /* older than 5 s, 20 a poll */
        struct scall due;
        scall_run(&lessons_due_lua, site->name, 1, 3, argv, &due);
        rc |= due.rc;
        for (size_t k = 0; due.rc == 0 && k + 1 < due.n; k += 2) {
            struct scall t;
            memset(&t, 0, sizeof t);
            if (lesson_send(site->bayes.model, due.v[k + 1], &t, NULL, NULL, 1) != 0 || (t.rc == 0 && t.n >= 1)) {
                LOG_INFO(NULL, "moderation: site %s: taught model %s the lesson of comment %s left in the outbox",
                         site->name, site->bayes.model, due.v[k]);
                lesson_done(site->name, due.v[k], due.v[k + 1], 1);
            }
            scall_free(&t);
        }
        scall_free(&due);
    }
    return rc ? -1 : 0;
}

void queue_act_async(const struct queue_act *x, struct queue_res *res, store_done_fn done, void *arg)
{
    memset(res, 0, sizeof *res);
    act_run(x, parse_act, res, done, arg);
}

/* The act script's answer to a learn (learn.h): "ok" moved it, "conflict"
 * (not held, or held but learned before) and "missing" moved nothing. */
static void parse_moved(const struct store_reply *r, const char *err, void *out)
{
    struct learn_move_res *m = out;
    struct bayesdb_learn_res *l = &m->learn;
    if (!r || r->type == STORE_REPLY_ERROR || !is_arr(r, 1)) {
        l->rc = -1;
        snprintf(l->error, sizeof l->error, "%.150s", r && r->type == STORE_REPLY_ERROR ? r->str
                                                      : r ? "unexpected reply to an action" : err);
        return;
    }
    const char *st = str_of(r->element[0]);
    if (strcmp(st, "version") == 0 && r->elements >= 2) {
        l->rc = -2;
        l->tok_version = (int)int_of(r->element[1]);
    } else if (strcmp(st, "ok") == 0 && r->elements >= 12) {
        m->moved = 1;
        snprintf(m->state, sizeof m->state, "%s", str_of(r->element[2]));
        snprintf(l->changed, sizeof l->changed, "%s", str_of(r->element[8]));
        l->nspam = int_of(r->element[9]);
        l->nham = int_of(r->element[10]);
        l->seq = int_of(r->element[11]);
    }
}

void queue_learn_move_async(const struct learn_move *m, struct learn_move_res *res, store_done_fn done, void *arg)
{
    memset(res, 0, sizeof *res);
    long long day = 86400000LL;
    const struct moderation_cfg *mod = &m->site->mod;
    int spam = strcmp(m->label, "spam") == 0;
    struct queue_act x = {
        .site = m->site->name, .model = m->site->bayes.model, .id = m->id, .action = m->label,
        .to = spam ? "spam" : "approved", .from = "held", .ver = "", .by = m->by, .note = "", .reason = "",
        .teach = m->label, .fp = m->fp, .lfp = "", .z = m->z, .toks = m->toks, .ntoks = m->ntoks, .tok_version = TOK_VERSION,
        .stream_maxlen = BAYESDB_STREAM_MAXLEN, .retention_ms = mod->retention_days * day,
        .events_ms = mod->events_days * day, .audit_ms = mod->audit_days * day,
    };
    act_run(&x, parse_moved, res, done, arg);
}

static void parse_stream(const struct store_reply *r, const char *err, void *out)
{
    struct queue_res *q = out;
    if (failed(q, r, err))
        return;
    if (!is_arr(r, 2) || !is_arr(r->element[1], 0)) {
        q->rc = -2;
        snprintf(q->error, sizeof q->error, "unexpected reply to a stream read");
        return;
    }
    json_t *entries = json_array();
    for (size_t i = 0; i < r->element[1]->elements; i++) {
        struct store_reply *e = r->element[1]->element[i];
        if (!is_arr(e, 2) || !is_arr(e->element[1], 0))
            continue;
        json_t *o = json_pack("{s:s}", "cursor", str_of(e->element[0]));
        long long ms = strtoll(str_of(e->element[0]), NULL, 10);
        json_object_set_new(o, "at", reply_time(ms));
        for (size_t f = 0; f + 1 < e->element[1]->elements; f += 2)
            json_object_set_new(o, str_of(e->element[1]->element[f]), json_string(str_of(e->element[1]->element[f + 1])));
        json_array_append_new(entries, o);
    }
    q->json = json_pack("{s:b, s:o}", "lost", int_of(r->element[0]) == 1, "entries", entries);
}

void queue_stream_async(const char *site, const char *stream, const char *after, int newest_first, int count,
                        struct queue_res *res, store_done_fn done, void *arg)
{
    memset(res, 0, sizeof *res);
    struct args a = { 0 };
    char key[96];
    snprintf(key, sizeof key, "mg:{%s}:%.10s", site, stream);
    arg_s(&a, key);
    arg_s(&a, after ? after : "");
    arg_s(&a, newest_first ? "1" : "0");
    arg_n(&a, count);
    store_script_async(&stream_lua, site, 0, a.n, a.v, a.len, parse_stream, res, done, arg);
}

/* migrate (queue_migrate.lua): moves held comments of the first queue
 * format into this one once, then adds those missing from the eviction
 * index 1000 per call (queue_migrate, at start). */
static struct store_script migrate_lua = { .src = QUEUE_MIGRATE_LUA };

struct migration {
    char site[65];
    long long next;          /* the rank to go on from, or -1: done */
    long long moved, indexed;
};

static void migrate_from(struct migration *m);

static void parse_migrated(const struct store_reply *r, const char *err, void *out)
{
    struct migration *m = out;
    m->next = -1;
    if (!is_arr(r, 3)) {
        LOG_WARN(NULL, "queue: site %s: the first queue format and the eviction index were not checked: %s", m->site,
                 r && r->type == STORE_REPLY_ERROR ? r->str : err ? err : "unexpected reply");
        return;
    }
    m->moved += int_of(r->element[0]);
    m->indexed += int_of(r->element[1]);
    m->next = int_of(r->element[2]);
    if (m->next >= 0)
        return;
    if (m->moved > 0)
        LOG_INFO(NULL, "queue: site %s: %lld held comments moved to the moderation queue's format", m->site,
                 m->moved);
    if (m->indexed > 0)
        LOG_INFO(NULL, "queue: site %s: %lld held comments added to the eviction index (moderation.max_held)",
                 m->site, m->indexed);
}

/* One call done: the next, or the end. */
static void migrated(void *arg)
{
    struct migration *m = arg;
    if (m->next >= 0)
        migrate_from(m);
    else
        free(m);
}

static void migrate_from(struct migration *m)
{
    struct args a = { 0 };
    arg_prefix(&a, m->site);
    arg_n(&a, m->next);
    store_script_async(&migrate_lua, m->site, 0, a.n, a.v, a.len, parse_migrated, m, migrated, m);
}

void queue_migrate(const char *site)
{
    struct migration *m = xcalloc(1, sizeof *m);
    snprintf(m->site, sizeof m->site, "%s", site);
    m->next = 0;
    migrate_from(m);
}

void queue_init(void)
{
    store_script_register(&list_lua);
    store_script_register(&get_lua);
    store_script_register(&fetch_lua);
    store_script_register(&act_lua);
    store_script_register(&lesson_lua);
    store_script_register(&lesson_done_lua);
    store_script_register(&lessons_due_lua);
    store_script_register(&stream_lua);
}
