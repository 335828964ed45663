/* learn.c - POST /v1/learn and /v1/unlearn, GET /v1/sites/{site}/model.
 *
 *   learn_begin:  validate -> (a comment by id: read it from Redis,
 *                 held_read; still held: the queue's act script learns it
 *                 and moves it out of the queue, moved) -> tokenize -> the
 *                 learn script (bayesdb.c)
 *   learned:      the script's answer; wait until this instance's model
 *                 copy has applied the change (read-your-writes), then
 *   learn_reply:  the answer.
 * Each stage runs on the request's HTTP thread; in between the connection
 * is suspended (http_async_done), so no thread waits for Redis or for the
 * model sync.
 *
 * The body is validated like /v1/check's (request.c: the same fields,
 * limits and error codes), plus "label", "source" and the alternative
 * {"site","comment_id","label"} (a held comment is the site's own). */
#include "learn.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bayesdb.h"
#include "log.h"
#include "request.h"
#include "store.h"
#include "tokenize.h"
#include "util.h"

/* How long a learn answer waits for this instance's copy of the model to
 * show the change: the sync thread normally applies it within a
 * millisecond of the script (its XREAD wakes on the event); past this the
 * answer goes out anyway, with "visible": false. */
#define VISIBLE_WAIT_MS 1000

/* ---------- the request, validated ---------- */

struct learn_state {
    struct req_comment in;      /* the request; in.root owns its strings */
    json_t *item;               /* a held comment read by comment_id, or NULL */
    const struct site_cfg *site;
    enum bayesdb_op op;
    enum model_class label;
    const char *comment_id;     /* learning a held comment: its id; else NULL */
    const char *source;         /* the comment's source (api.md 3.4); NULL: "site" */
    tok_list *tl;
    char fp[33];
    char z[BAYESDB_Z_LEN];      /* its raw score before the learn ("" none) */
    int visible;                /* this instance's copy shows the change */
    struct store_get_res held;
    struct store_check_res tres; /* the API key's token */
    struct bayesdb_learn_res res;
    struct learn_move_res mv;   /* a held comment moved out of the queue */
};

/* The moderation queue's mover (learn.h), set once by main.c before the
 * server starts, read-only afterwards. */
static learn_move_fn mover;

void learn_wire(learn_move_fn move)
{
    mover = move;
}

static void learn_cleanup(struct http_request *req)
{
    struct learn_state *st = req->state;
    json_decref(st->in.root);
    json_decref(st->item);
    free(st->held.value);
    tok_list_free(st->tl);
    free(st);
    req->state = NULL;
}

/* The label of a learn: required, "spam" or "ham". */
static int parse_label(json_t *root, enum model_class *out, struct http_response *resp)
{
    const char *s;
    if (req_string(root, "label", 0, &s, resp))
        return -1;
    if (!s) {
        reply_error(resp, 400, "missing_field", "label is required (\"spam\" or \"ham\")");
        return -1;
    }
    if (strcmp(s, "spam") == 0)
        *out = MODEL_SPAM;
    else if (strcmp(s, "ham") == 0)
        *out = MODEL_HAM;
    else {
        reply_error(resp, 400, "invalid_field", "label must be \"spam\" or \"ham\"");
        return -1;
    }
    return 0;
}

/* The optional source of a learn: 1-32 characters of a-z 0-9 - _. */
static int parse_source(json_t *root, const char **out, struct http_response *resp)
{
    if (req_string(root, "source", 0, out, resp))
        return -1;
    if (*out && !bayesdb_source_valid(*out)) {
        reply_error(resp, 400, "invalid_field", "source must be 1-%d characters of a-z 0-9 - _",
                    BAYESDB_SOURCE_MAX);
        return -1;
    }
    return 0;
}

/* Either form of the body (api.md 2.4) into 'st': st->in for a comment
 * sent in full, st->comment_id for a held one. Returns 0, or -1 with the
 * error in 'resp'. */
static int parse_request(const struct http_request *req, struct learn_state *st, struct http_response *resp)
{
    if (req_load(req, &st->in.root, resp))
        return -1;
    json_t *root = st->in.root;
    json_t *cid = json_object_get(root, "comment_id");
    int by_id = cid && !json_is_null(cid);
    /* With comment_id the comment is the stored one: nothing else about it
     * may come with the request. */
    static const char *const full[] = { "site", "comment", "author", "client", "captcha", "form_token", "honeypot",
                                        "label", "comment_id", "source", NULL };
    static const char *const short_form[] = { "site", "comment_id", "label", NULL };
    const char *k = req_unknown_field(root, by_id ? short_form : full);
    if (k) {
        if (by_id && strcmp(k, "comment") == 0)
            reply_error(resp, 400, "invalid_field", "send either comment or comment_id, not both");
        else
            reply_error(resp, 400, "unknown_field", "%.64s is not a known field%s", k,
                        by_id ? " with comment_id" : "");
        return -1;
    }
    if (req_string(root, "site", 1, &st->in.site, resp))
        return -1;
    if (st->op == BAYESDB_LEARN && parse_label(root, &st->label, resp))
        return -1;
    if (parse_source(root, &st->source, resp))
        return -1;
    if (by_id)
        return req_id(root, "comment_id", &st->comment_id, resp);
    return req_comment(&st->in, 0 /* client optional */, resp);
}

/* ---------- the stages ---------- */

static void redis_done(void *arg)
{
    http_async_done(arg);
}

static void learned(struct http_request *req, struct http_response *resp);
static void moved(struct http_request *req, struct http_response *resp);

/* Tokenize the comment ('body' and 'author_url', borrowed from the request
 * or the held item) and send the learn script. */
static void tokenize(struct learn_state *st, const char *body, size_t body_len, const char *author_url)
{
    st->tl = tok_list_new();
    struct tok_input in = { body, body_len, author_url };
    tok_run(st->tl, &in);
    tok_fingerprint(st->tl, st->fp);
    /* Scored before it is learned: the calibration entry the learn
     * script records with it (bayesdb.h). Only for the site's own
     * comments: the site's calibration is fitted to its own traffic as
     * its moderators label it, and a corpus pushed in as another source
     * would crowd it out of the newest entries kept. */
    if (st->op == BAYESDB_LEARN && (!st->source || !strcmp(st->source, BAYESDB_SITE_SOURCE)))
        bayesdb_learn_z(st->site, st->tl, st->z);
}

static void send_learn(struct http_request *req, struct learn_state *st)
{
    req->resume = learned;
    bayesdb_learn_async(st->site->bayes.model, st->source, st->tl, st->fp, st->op, st->label, st->z, &st->res,
                        redis_done, req);
}

/* A held comment by id: its stored item (check.c's held_item) is read. */
static void held_read(struct http_request *req, struct http_response *resp)
{
    struct learn_state *st = req->state;
    if (st->held.rc < 0) {
        LOG_WARN(req->id, "learn: held comment not read: %s", st->held.error);
        reply_error(resp, 503, "redis_unavailable", "Redis is unavailable, nothing was changed; try again");
        learn_cleanup(req);
        return;
    }
    if (st->held.rc == 0) {
        reply_error(resp, 404, "unknown_comment", "no held comment \"%.128s\" is stored for site \"%s\"",
                    st->comment_id, st->site->name);
        learn_cleanup(req);
        return;
    }
    json_error_t je;
    st->item = json_loads(st->held.value, 0, &je);
    json_t *comment = json_object_get(st->item, "comment"), *author = json_object_get(st->item, "author");
    json_t *b = json_object_get(comment, "body");
    if (!json_is_string(b)) {
        reply_error(resp, 500, "internal", "the stored held comment is unreadable");
        learn_cleanup(req);
        return;
    }
    tokenize(st, json_string_value(b), json_string_length(b), json_string_value(json_object_get(author, "url")));
    if (st->op == BAYESDB_LEARN && mover) { /* held still? the queue decides, atomically */
        struct learn_move m = { st->site, st->comment_id, st->label == MODEL_SPAM ? "spam" : "ham",
                                req->ident.key_id, st->fp, st->z, tok_hashes(st->tl), tok_count(st->tl) };
        req->resume = moved;
        mover(&m, &st->mv, redis_done, req);
        return;
    }
    send_learn(req, st);
}

/* The queue's answer for a comment learned by id: moved out of the queue
 * (and learned in the same script), or not held (any more): then it is
 * learned as any comment is. */
static void moved(struct http_request *req, struct http_response *resp)
{
    struct learn_state *st = req->state;
    if (!st->mv.moved && st->mv.learn.rc == 0) {
        send_learn(req, st);
        return;
    }
    st->res = st->mv.learn;
    if (st->mv.moved && !st->res.changed[0]) { /* nothing new for the model: its counts as they are */
        struct bayesdb_info info;
        bayesdb_info(st->site->bayes.model, &info);
        snprintf(st->res.changed, sizeof st->res.changed, "unchanged");
        st->res.nspam = (long long)info.nspam;
        st->res.nham = (long long)info.nham;
        st->res.seq = (long long)info.seq;
    }
    snprintf(st->res.label, sizeof st->res.label, "%s", st->label == MODEL_SPAM ? "spam" : "ham");
    snprintf(st->res.source, sizeof st->res.source, "%s", BAYESDB_SITE_SOURCE); /* the queue's lessons */
    learned(req, resp);
}

static void learn_reply(struct http_request *req, struct http_response *resp)
{
    struct learn_state *st = req->state;
    struct bayesdb_learn_res *r = &st->res;
    if (!st->visible) { /* woken by the sync thread, or by the deadline */
        struct bayesdb_info info;
        bayesdb_info(st->site->bayes.model, &info);
        st->visible = info.seq >= r->seq;
    }
    json_t *o = json_pack("{s:s,s:s,s:s?,s:s,s:s,s:I,s:I,s:I,s:b}", "site", st->site->name, "model",
                          st->site->bayes.model, "label", r->label[0] ? r->label : NULL, "fingerprint", st->fp,
                          "changed", r->changed, "nspam", (json_int_t)r->nspam, "nham", (json_int_t)r->nham,
                          "seq", (json_int_t)r->seq, "visible", st->visible);
    json_object_set_new(o, "source", r->source[0] ? json_string(r->source) : json_null());
    if (st->comment_id)
        json_object_set_new(o, "comment_id", json_string(st->comment_id));
    if (st->mv.moved)
        json_object_set_new(o, "state", json_string(st->mv.state));
    snprintf(req->note, sizeof req->note, "%s %s%s", st->op == BAYESDB_LEARN ? "learn" : "unlearn", r->changed,
             st->visible ? "" : " not-visible-yet");
    reply_json(resp, 200, o);
    learn_cleanup(req);
}

/* The learn script answered. */
static void learned(struct http_request *req, struct http_response *resp)
{
    struct learn_state *st = req->state;
    struct bayesdb_learn_res *r = &st->res;
    if (r->rc == -1) {
        LOG_WARN(req->id, "learn failed: %s", r->error);
        /* A timeout may still have run the script; learning again is
         * harmless (the same comment counts once), so say so. */
        reply_error(resp, 503, "redis_unavailable",
                    "Redis is unavailable; the model may not have changed: send the same request again");
        learn_cleanup(req);
        return;
    }
    if (r->rc == -2) {
        reply_error(resp, 409, "tok_version_mismatch",
                    "model \"%s\" holds tokens of tokenizer version %d, this service makes version %d: "
                    "delete it or give the site another model",
                    st->site->bayes.model, r->tok_version, TOK_VERSION);
        learn_cleanup(req);
        return;
    }
    if (r->rc == -3) {
        reply_error(resp, 409, "too_many_sources",
                    "model \"%s\" has %d sources already, the most a model may have: learn this comment as "
                    "one of them", st->site->bayes.model, BAYESDB_MAX_SOURCES);
        learn_cleanup(req);
        return;
    }
    st->visible = 1;
    if (strcmp(r->changed, "unchanged") != 0) {
        /* resume first: the sync thread may wake us before this returns */
        st->visible = 0;
        req->resume = learn_reply;
        if (bayesdb_wait_async(st->site->bayes.model, r->seq, VISIBLE_WAIT_MS, redis_done, req) == 0)
            return;
        req->resume = NULL;
        st->visible = 1;
    }
    learn_reply(req, resp);
}

/* The API key's token is taken (or Redis could not be asked: then the
 * learn that follows finds that out and says so): go on with the comment. */
static void token_taken(struct http_request *req, struct http_response *resp)
{
    struct learn_state *st = req->state;
    if (st->tres.status == ST_API_LIMITED) {
        reply_api_limited(resp, st->tres.retry_after_ms);
        learn_cleanup(req);
        return;
    }
    if (st->comment_id) {
        req->resume = held_read;
        store_held_get_async(st->site->name, st->comment_id, &st->held, redis_done, req);
        return;
    }
    tokenize(st, st->in.body, st->in.body_len, st->in.author_url);
    send_learn(req, st);
}

static void learn_begin(struct http_request *req, struct http_response *resp, enum bayesdb_op op)
{
    struct learn_state *st = xcalloc(1, sizeof *st);
    st->op = op;
    req->state = st;
    req->cleanup = learn_cleanup;
    if (parse_request(req, st, resp)) {
        learn_cleanup(req);
        return;
    }
    if (!(st->site = req_site(req, st->in.site, resp))) {
        learn_cleanup(req);
        return;
    }
    /* A learn costs the key a token of its API bucket, as a check does. */
    if (!st->site->api.enabled) {
        token_taken(req, resp);
        return;
    }
    req->resume = token_taken;
    store_api_token_async(st->site, req->ident.key_id, &st->tres, redis_done, req);
}

void learn_handle(struct http_request *req, struct http_response *resp)
{
    learn_begin(req, resp, BAYESDB_LEARN);
}

void unlearn_handle(struct http_request *req, struct http_response *resp)
{
    learn_begin(req, resp, BAYESDB_UNLEARN);
}

/* ---------- GET /v1/sites/{site}/model ---------- */

/* The sources of model 'name' with their class totals and the factors a
 * check with min_learns 'need' reads them at (api.md 3.4). */
static json_t *sources_json(const char *name, long need)
{
    struct bayesdb_source v[BAYESDB_MAX_SOURCES];
    size_t n = bayesdb_sources(name, need, v, BAYESDB_MAX_SOURCES);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:I,s:I,s:I,s:f,s:f}", "name", v[i].name, "nspam",
                                           (json_int_t)v[i].nspam, "nham", (json_int_t)v[i].nham, "tokens",
                                           (json_int_t)v[i].tokens, "factor_spam", v[i].factor_spam,
                                           "factor_ham", v[i].factor_ham));
    return a;
}

static json_t *model_json(const struct site_cfg *site, const char *name, const struct bayesdb_info *in)
{
    long need = site->bayes.params.min_learns;
    int opinion = in->nspam >= (uint64_t)need && in->nham >= (uint64_t)need;
    json_t *o = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:b,s:b}", "name", name, "loaded", in->loaded, "nspam",
                          (json_int_t)in->nspam, "nham", (json_int_t)in->nham, "tokens", (json_int_t)in->tokens,
                          "memory_bytes", (json_int_t)in->bytes, "seq", (json_int_t)in->seq, "opinion", opinion,
                          "synced", in->synced);
    json_object_set_new(o, "tok_version", in->tok_version ? json_integer(in->tok_version) : json_null());
    json_object_set_new(o, "sync_age_ms", in->sync_age_ms >= 0 ? json_integer(in->sync_age_ms) : json_null());
    json_object_set_new(o, "sources", sources_json(name, need));
    return o;
}

void model_handle(struct http_request *req, struct http_response *resp)
{
    static const char prefix[] = "/v1/sites/";
    const char *name = req->path + sizeof prefix - 1, *end = strchr(name, '/');
    char sname[65];
    size_t n = end ? (size_t)(end - name) : strlen(name);
    snprintf(sname, sizeof sname, "%.*s", (int)(n < sizeof sname - 1 ? n : sizeof sname - 1), name);
    int idx;
    const struct site_cfg *site = n < sizeof sname ? cfg_site(req->cfg, sname, &idx) : NULL;
    if (!site) {
        reply_error(resp, 404, "unknown_site", "no site named \"%.64s\" is configured", sname);
        return;
    }
    if (!auth_may(&req->ident, idx)) {
        reply_error(resp, 403, "wrong_site", "this key belongs to another site");
        return;
    }
    req->site = site->name;
    const struct bayes_site_cfg *b = &site->bayes;
    struct bayesdb_info own, fb;
    bayesdb_info(b->model, &own);
    json_t *o = model_json(site, b->model, &own);
    json_object_del(o, "name");
    json_t *top = json_pack("{s:s,s:s,s:b,s:I}", "site", site->name, "model", b->model, "enabled", b->enabled,
                            "min_learns", (json_int_t)b->params.min_learns);
    json_object_update(top, o);
    json_decref(o);
    if (b->fallback[0]) {
        bayesdb_info(b->fallback, &fb);
        json_object_set_new(top, "fallback", json_string(b->fallback));
        json_object_set_new(top, "fallback_model", model_json(site, b->fallback, &fb));
    } else {
        json_object_set_new(top, "fallback", json_null());
    }
    /* The starter, and what a check reads now: the model, the starter's
     * scales and the blend's totals ("opinion" above is the model's own). */
    struct bayesdb_reading rd;
    bayesdb_reading(site, &rd);
    int starter = b->starter[0] && b->starter_weight > 0;
    json_object_set_new(top, "starter", starter ? json_string(b->starter) : json_null());
    json_object_set_new(top, "starter_weight", json_real(b->starter_weight));
    if (starter) {
        bayesdb_info(b->starter, &fb);
        json_t *st = model_json(site, b->starter, &fb);
        json_object_set_new(st, "scale_spam", json_real(rd.scale_spam));
        json_object_set_new(st, "scale_ham", json_real(rd.scale_ham));
        json_object_set_new(top, "starter_model", st);
    }
    json_object_set_new(top, "blend", json_pack("{s:b,s:f,s:f}", "starter_read", rd.starter_read, "nspam",
                                                rd.nspam, "nham", rd.nham));
    json_object_set_new(top, "classifier", rd.opinion ? json_string(rd.model) : json_null());
    json_object_set_new(top, "calibration",
                        json_pack("{s:s,s:f,s:f,s:{s:I,s:I}}", "from", rd.calib_from, "a", rd.calib.a, "b",
                                  rd.calib.b, "labels", "spam", (json_int_t)rd.labels_spam, "ham",
                                  (json_int_t)rd.labels_ham));
    reply_json(resp, 200, top);
}
