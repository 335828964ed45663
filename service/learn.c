/* learn.c - POST /v1/learn and /v1/unlearn, GET /v1/sites/{site}/model.
 *
 *   learn_begin:  validate -> (a held comment by id: read it from Redis,
 *                 held_read) -> tokenize -> the learn script (bayesdb.c)
 *   learned:      the script's answer; wait until this instance's model
 *                 copy has applied the change (read-your-writes), then
 *   learn_reply:  the answer.
 * Each stage runs on the request's HTTP thread; in between the connection
 * is suspended (http_async_done), so no thread waits for Redis or for the
 * model sync.
 *
 * The body is validated like /v1/check's (same fields, limits and error
 * codes; check.c keeps its schema static, so the tables are mirrored
 * here), plus "label" and the alternative {"site","comment_id","label"}. */
#include "learn.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bayesdb.h"
#include "log.h"
#include "store.h"
#include "text.h"
#include "tokenize.h"
#include "util.h"

/* How long a learn answer waits for this instance's copy of the model to
 * show the change: the sync thread normally applies it within a
 * millisecond of the script (its XREAD wakes on the event); past this the
 * answer goes out anyway, with "visible": false. */
#define VISIBLE_WAIT_MS 1000

/* ---------- schema (as check.c's) ---------- */

enum ftype {
    F_STR,   /* string or null */
    F_ID,    /* string or non-negative integer (turned into a string), or null */
    F_IP,    /* an IPv4 or IPv6 address */
    F_TIME,  /* RFC 3339 date-time string, or null */
};

struct field {
    const char *name;
    enum ftype type;
    size_t maxlen;   /* bytes; 0 = only the body limit */
    int required;
};

static const struct field comment_fields[] = {
    { "id", F_ID, 128, 0 },
    { "thread_id", F_ID, 128, 0 },
    { "parent_id", F_ID, 128, 0 },
    { "body", F_STR, 0, 1 },
    { "permalink", F_STR, 2048, 0 },
    { "lang", F_STR, 35, 0 },
    { "created_at", F_TIME, 64, 0 },
    { "type", F_STR, 32, 0 },
    { NULL, F_STR, 0, 0 },
};

static const struct field author_fields[] = {
    { "name", F_STR, 256, 0 },
    { "email", F_STR, 320, 0 },
    { "url", F_STR, 2048, 0 },
    { "id", F_ID, 128, 0 },
    { NULL, F_STR, 0, 0 },
};

static const struct field client_fields[] = {
    { "ip", F_IP, 64, 1 },
    { "user_agent", F_STR, 1024, 0 },
    { "referrer", F_STR, 2048, 0 },
    { NULL, F_STR, 0, 0 },
};

static int valid_time(const char *s)
{
    const char *shape = "dddd-dd-ddTdd:dd:dd";
    for (size_t i = 0; shape[i]; i++) {
        char c = s[i];
        if (shape[i] == 'd' ? !isdigit((unsigned char)c)
                            : (shape[i] == 'T' ? (c != 'T' && c != 't' && c != ' ') : c != shape[i]))
            return 0;
    }
    s += 19;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if ((*s == 'Z' || *s == 'z') && s[1] == 0)
        return 1;
    return (*s == '+' || *s == '-') && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) &&
           s[3] == ':' && isdigit((unsigned char)s[4]) && isdigit((unsigned char)s[5]) && s[6] == 0;
}

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int is_ip(const char *s)
{
    unsigned char a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static const char *type_name(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* One id-like value 'v' named 'name': a string or a non-negative integer
 * (rewritten as a string in 'obj' under 'key'), 1-128 bytes without
 * control characters. Returns 0 or -1 with the error in 'resp'. */
static int check_id(json_t *obj, const char *key, json_t *v, const char *name, struct http_response *resp)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        json_object_set_new(obj, key, json_string(num));
        return 0;
    }
    if (!json_is_string(v)) {
        reply_error(resp, 400, "wrong_type", "%s must be a string or a non-negative integer, not %s", name,
                    type_name(v));
        return -1;
    }
    size_t n = json_string_length(v);
    if (n > 128) {
        reply_error(resp, 400, "invalid_field", "%s is %zu bytes; at most 128 are allowed", name, n);
        return -1;
    }
    if (strlen(json_string_value(v)) != n || has_control(json_string_value(v))) {
        reply_error(resp, 400, "invalid_field", "%s contains control characters", name);
        return -1;
    }
    if (n == 0) {
        reply_error(resp, 400, "invalid_field", "%s must not be empty", name);
        return -1;
    }
    return 0;
}

/* Check 'obj' against 'fields', naming problems as "prefix.field". */
static int validate_fields(json_t *obj, const char *prefix, const struct field *fields,
                           struct http_response *resp)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        int known = 0;
        for (const struct field *f = fields; f->name; f++)
            if (strcmp(f->name, k) == 0)
                known = 1;
        if (!known) {
            reply_error(resp, 400, "unknown_field", "%s.%.64s is not a known field", prefix, k);
            return -1;
        }
    }
    for (const struct field *f = fields; f->name; f++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%s", prefix, f->name);
        v = json_object_get(obj, f->name);
        if (!v || json_is_null(v)) {
            if (f->required) {
                reply_error(resp, 400, "missing_field", "%s is required", name);
                return -1;
            }
            continue;
        }
        if (f->type == F_ID) {
            if (check_id(obj, f->name, v, name, resp))
                return -1;
            continue;
        }
        if (!json_is_string(v)) {
            reply_error(resp, 400, "wrong_type", "%s must be a string, not %s", name, type_name(v));
            return -1;
        }
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (f->maxlen && n > f->maxlen) {
            reply_error(resp, 400, "invalid_field", "%s is %zu bytes; at most %zu are allowed", name, n, f->maxlen);
            return -1;
        }
        if (strcmp(f->name, "body") != 0 && (strlen(s) != n || (f->type != F_STR && has_control(s)))) {
            reply_error(resp, 400, "invalid_field", "%s contains control characters", name);
            return -1;
        }
        if (f->type == F_TIME && !valid_time(s)) {
            reply_error(resp, 400, "invalid_field", "%s must be an RFC 3339 time such as 2026-11-27T10:00:00Z",
                        name);
            return -1;
        }
        if (f->type == F_IP && !is_ip(s)) {
            reply_error(resp, 400, "invalid_field", "%s is not an IPv4 or IPv6 address", name);
            return -1;
        }
    }
    return 0;
}

static json_t *sub_object(json_t *root, const char *name, int required, struct http_response *resp)
{
    json_t *v = json_object_get(root, name);
    if (!v || json_is_null(v)) {
        if (required)
            reply_error(resp, 400, "missing_field", "%s is required", name);
        return NULL;
    }
    if (!json_is_object(v)) {
        reply_error(resp, 400, "wrong_type", "%s must be an object, not %s", name, type_name(v));
        return NULL;
    }
    return v;
}

/* ---------- the request, validated ---------- */

struct learn_state {
    json_t *root;               /* the request; owns the strings below */
    json_t *item;               /* a held comment read by comment_id, or NULL */
    const char *site_name;
    const struct site_cfg *site;
    enum bayesdb_op op;
    enum model_class label;
    const char *comment_id;     /* learning a held comment: its id; else NULL */
    const char *body;           /* the comment's body, in root or item */
    size_t body_len;
    const char *author_url;     /* may be NULL */
    tok_list *tl;
    char fp[33];
    int visible;                /* this instance's copy shows the change */
    struct store_get_res held;
    struct bayesdb_learn_res res;
};

static void learn_cleanup(struct http_request *req)
{
    struct learn_state *st = req->state;
    json_decref(st->root);
    json_decref(st->item);
    free(st->held.value);
    tok_list_free(st->tl);
    free(st);
    req->state = NULL;
}

/* The label of a learn: required, "spam" or "ham". */
static int parse_label(json_t *v, enum model_class *out, struct http_response *resp)
{
    if (!v || json_is_null(v)) {
        reply_error(resp, 400, "missing_field", "label is required (\"spam\" or \"ham\")");
        return -1;
    }
    if (!json_is_string(v)) {
        reply_error(resp, 400, "wrong_type", "label must be a string, not %s", type_name(v));
        return -1;
    }
    const char *s = json_string_value(v);
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

/* Is 'body' empty or ASCII whitespace only? */
static int blank(const char *body, size_t n)
{
    size_t i = 0;
    while (i < n && isspace((unsigned char)body[i]))
        i++;
    return i == n;
}

static int parse_request(const struct http_request *req, struct learn_state *st, struct http_response *resp)
{
    if (req->body_len == 0) {
        reply_error(resp, 400, "invalid_json", "the request body is empty");
        return -1;
    }
    if (!text_utf8_valid(req->body, req->body_len)) {
        reply_error(resp, 400, "invalid_utf8", "the request body is not valid UTF-8");
        return -1;
    }
    json_error_t je;
    st->root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!st->root) {
        int dup = json_error_code(&je) == json_error_duplicate_key;
        reply_error(resp, 400, dup ? "duplicate_key" : "invalid_json", "line %d, column %d: %s", je.line,
                    je.column, je.text);
        return -1;
    }
    json_t *root = st->root;
    if (!json_is_object(root)) {
        reply_error(resp, 400, "wrong_type", "the body must be a JSON object, not %s", type_name(root));
        return -1;
    }
    json_t *cid = json_object_get(root, "comment_id");
    int by_id = cid && !json_is_null(cid);
    /* With comment_id the comment is the stored one: nothing else about it
     * may come with the request. */
    static const char *const full[] = { "site", "comment", "author", "client", "captcha", "honeypot", "label",
                                        "comment_id", NULL };
    static const char *const short_form[] = { "site", "comment_id", "label", NULL };
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        int known = 0;
        for (const char *const *t = by_id ? short_form : full; *t; t++)
            if (strcmp(*t, k) == 0)
                known = 1;
        if (!known) {
            if (by_id && strcmp(k, "comment") == 0)
                reply_error(resp, 400, "invalid_field", "send either comment or comment_id, not both");
            else
                reply_error(resp, 400, "unknown_field", "%.64s is not a known field%s", k,
                            by_id ? " with comment_id" : "");
            return -1;
        }
    }
    v = json_object_get(root, "site");
    if (!v || json_is_null(v)) {
        reply_error(resp, 400, "missing_field", "site is required");
        return -1;
    }
    if (!json_is_string(v)) {
        reply_error(resp, 400, "wrong_type", "site must be a string, not %s", type_name(v));
        return -1;
    }
    st->site_name = json_string_value(v);
    if (st->op == BAYESDB_LEARN && parse_label(json_object_get(root, "label"), &st->label, resp))
        return -1;
    if (by_id) {
        if (check_id(root, "comment_id", cid, "comment_id", resp))
            return -1;
        st->comment_id = json_string_value(json_object_get(root, "comment_id"));
        return 0;
    }
    json_t *comment = sub_object(root, "comment", 1, resp);
    if (!comment || validate_fields(comment, "comment", comment_fields, resp))
        return -1;
    json_t *client = sub_object(root, "client", 0, resp);
    if (resp->body || (client && validate_fields(client, "client", client_fields, resp)))
        return -1;
    json_t *author = sub_object(root, "author", 0, resp);
    if (resp->body || (author && validate_fields(author, "author", author_fields, resp)))
        return -1;
    v = json_object_get(root, "honeypot");
    if (v && !json_is_null(v) && !json_is_string(v)) {
        reply_error(resp, 400, "wrong_type", "honeypot must be a string, not %s", type_name(v));
        return -1;
    }
    v = json_object_get(root, "captcha");
    if (v && !json_is_null(v) && !json_is_string(v) && !json_is_object(v)) {
        reply_error(resp, 400, "wrong_type", "captcha must be a string, an object or null, not %s", type_name(v));
        return -1;
    }
    json_t *b = json_object_get(comment, "body");
    st->body = json_string_value(b);
    st->body_len = json_string_length(b);
    if (blank(st->body, st->body_len)) {
        reply_error(resp, 400, "invalid_field", "comment.body is empty");
        return -1;
    }
    st->author_url = author ? json_string_value(json_object_get(author, "url")) : NULL;
    return 0;
}

/* ---------- the stages ---------- */

static void redis_done(void *arg)
{
    http_async_done(arg);
}

static void learned(struct http_request *req, struct http_response *resp);

/* Tokenize the comment and send the learn script. */
static void send_learn(struct http_request *req, struct learn_state *st)
{
    st->tl = tok_list_new();
    struct tok_input in = { st->body, st->body_len, st->author_url };
    tok_run(st->tl, &in);
    tok_fingerprint(st->tl, st->fp);
    req->resume = learned;
    bayesdb_learn_async(st->site->bayes.model, st->tl, st->fp, st->op, st->label, &st->res, redis_done, req);
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
    st->body = json_string_value(b);
    st->body_len = json_string_length(b);
    st->author_url = json_string_value(json_object_get(author, "url"));
    send_learn(req, st);
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
    if (st->comment_id)
        json_object_set_new(o, "comment_id", json_string(st->comment_id));
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
    int idx;
    st->site = cfg_site(req->cfg, st->site_name, &idx);
    if (!st->site) {
        reply_error(resp, 404, "unknown_site", "no site named \"%.64s\" is configured", st->site_name);
        learn_cleanup(req);
        return;
    }
    if (idx != req->ident.site) {
        reply_error(resp, 403, "wrong_site", "this key belongs to another site");
        learn_cleanup(req);
        return;
    }
    req->site = st->site->name;
    if (st->comment_id) {
        req->resume = held_read;
        store_held_get_async(st->site->name, st->comment_id, &st->held, redis_done, req);
        return;
    }
    send_learn(req, st);
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
    if (idx != req->ident.site) {
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
    const char *active = NULL;
    if (json_is_true(json_object_get(top, "opinion")))
        active = b->model;
    if (b->fallback[0]) {
        bayesdb_info(b->fallback, &fb);
        json_t *f = model_json(site, b->fallback, &fb);
        if (!active && json_is_true(json_object_get(f, "opinion")))
            active = b->fallback;
        json_object_set_new(top, "fallback", json_string(b->fallback));
        json_object_set_new(top, "fallback_model", f);
    } else {
        json_object_set_new(top, "fallback", json_null());
    }
    json_object_set_new(top, "classifier", b->enabled && active ? json_string(active) : json_null());
    reply_json(resp, 200, top);
}
