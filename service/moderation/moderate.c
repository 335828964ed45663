/* moderate.c - the moderators' API and the CMS's changes feed; see
 * moderate.h. Storage is queue.c's; this file reads requests, asks the
 * queue and words the answers. */
#include "moderate.h"

#include <ctype.h>
#include <jansson.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bayesdb.h"
#include "log.h"
#include "queue.h"
#include "request.h"
#include "tokenize.h"
#include "util.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 100
#define LOOK_BUDGET 1000      /* comments one page looks at, at most */
#define BULK_MAX 500
#define NOTE_MAX 500
#define STREAM_PAGE_MAX 1000
#define CURSOR_MAX 256

static const char *const STATES[] = { "held", "approved", "rejected", "spam", "reported", NULL };

static int one_of(const char *s, const char *const *set)
{
    for (int i = 0; s && set[i]; i++)
        if (strcmp(s, set[i]) == 0)
            return 1;
    return 0;
}

/* ---------- common ---------- */

/* The site named in the path "/v1/sites/{site}/...", which the key may
 * use; *rest points after the name (the route matched the rest's shape).
 * NULL with the error in 'resp'. */
/* The site named in the path "/v1/sites/{site}/...", which the key may
 * use; *rest points after the name (the route matched the rest's shape).
 * NULL with the error in 'resp'. */
static const struct site_cfg *path_site(struct http_request *req, struct http_response *resp, const char **rest)
{
    const char *name = req->path + strlen("/v1/sites/"), *end = strchr(name, '/');
    *rest = end ? end : name + strlen(name);
    return req_path_site(req, resp);
}

/* A whole number in [lo, hi] from query argument 'name' (def when absent);
 * out of range is clamped (a page size), not refused. Returns 0, or -1
 * with 400 when it is not a number. */
static int arg_int(struct http_request *req, struct http_response *resp, const char *name, long lo, long hi,
                   long def, long *out)
{
    const char *v = http_arg(req, name);
    *out = def;
    if (!v || !*v)
        return 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*end || end == v) {
        reply_error(resp, 400, "bad_parameter", "%s must be a whole number", name);
        return -1;
    }
    *out = x < lo ? lo : x > hi ? hi : (long)x;
    return 0;
}

static int redis_failed(struct http_request *req, struct http_response *resp, const struct queue_res *r)
{
    if (r->rc == 0)
        return 0;
    LOG_WARN(req->id, "moderation: redis: %s", r->error);
    if (r->rc == -1)
        reply_error(resp, 503, "redis_unavailable", "Redis is unavailable; nothing was changed, try again");
    else
        reply_error(resp, 500, "internal", "Redis refused the request");
    return 1;
}

/* Cursors are opaque to clients: base64url of "MS ID". */
static void cursor_make(const char *ms, const char *id, char out[CURSOR_MAX])
{
    char raw[200];
    int n = snprintf(raw, sizeof raw, "%s %s", ms, id);
    if (n < 0 || (size_t)n >= sizeof raw) {
        out[0] = '\0';
        return;
    }
    sodium_bin2base64(out, CURSOR_MAX, (const unsigned char *)raw, (size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int cursor_read(const char *c, char *ms, size_t mslen, char *id, size_t idlen)
{
    unsigned char raw[200];
    size_t n = 0;
    if (strlen(c) >= CURSOR_MAX ||
        sodium_base642bin(raw, sizeof raw - 1, c, strlen(c), NULL, &n, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
        return -1;
    raw[n] = '\0';
    char *sp = memchr(raw, ' ', n);
    if (!sp || sp == (char *)raw || (size_t)(sp - (char *)raw) >= mslen || strlen(sp + 1) >= idlen ||
        !req_id_ok(sp + 1, strlen(sp + 1)))
        return -1;
    for (char *p = (char *)raw; p < sp; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    memcpy(ms, raw, (size_t)(sp - (char *)raw));
    ms[sp - (char *)raw] = '\0';
    memcpy(id, sp + 1, strlen(sp + 1) + 1);
    return 0;
}

/* A reason code: [a-z0-9_], 1-48 characters. */
static int code_ok(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
    return n > 0 && n <= 48 && s[n] == '\0';
}

/* The network of an address or prefix ("203.0.113.7", "203.0.113.0/24")
 * as the queue indexes it. Returns 0, or -1. */
static int net_of(const char *s, char *net, size_t len)
{
    char ip[64], addr[64];
    size_t n = strcspn(s, "/");
    if (n >= sizeof addr)
        return -1;
    memcpy(addr, s, n);
    addr[n] = '\0';
    if (canon_ip(addr, ip, sizeof ip, net, len) != 0)
        return -1;
    /* the queue indexes /24 and /64 networks: a prefix must be one */
    const char *bits = strchr(net, '/');
    return !s[n] || (bits && strcmp(s + n, bits) == 0) ? 0 : -1;
}

struct act;

struct mod_state {
    const struct site_cfg *site;
    struct queue_res res;
    char id[129];
    /* listing */
    char cms[24], cid[129], thread[17], author[17], net[64];
    const char *state;
    int newest_first;
    long limit;
    /* actions */
    json_t *root;
    const char *action, *to, *from, *note, *reason, *teach;
    long long version;            /* the version the moderator saw (0: not sent) */
    const char *ids_field;        /* "ids" for a bulk call by ids, else the selector's field */
    struct queue_select sel;
    int bulk, by_index;
    struct store_check_res tres;
    struct act *acts;
    int nacts;
    _Atomic int pending;
};

/* One comment of an action call. */
struct act {
    struct http_request *req;
    const json_t *fetched;        /* borrowed from the fetch's answer */
    struct queue_res res;
    int sent;                     /* the act script was asked */
    const char *status;           /* when not sent: why ("missing", "conflict") */
};

static void mod_cleanup(struct http_request *req)
{
    struct mod_state *st = req->state;
    if (!st)
        return;
    json_decref(st->res.json);
    json_decref(st->res.author);
    free(st->res.text);
    json_decref(st->root);
    for (int i = 0; i < st->nacts; i++)
        json_decref(st->acts[i].res.json);
    free(st->acts);
    free(st);
    req->state = NULL;
    req->cleanup = NULL;
}

static void redis_done(void *arg)
{
    http_async_done(arg);
}

static struct mod_state *mod_begin(struct http_request *req)
{
    struct mod_state *st = xcalloc(1, sizeof *st);
    req->state = st;
    req->cleanup = mod_cleanup;
    return st;
}

/* ---------- GET /v1/sites/{site}/queue ---------- */

/* Send 'head' (a JSON object's text without its closing brace), then
 * ',"key":' and 'text', then the fields of 'tail' (stolen), as one object. */
static void reply_spliced(struct http_response *resp, json_t *head, const char *key, const char *text, json_t *tail)
{
    char *h = json_dumps(head, JSON_COMPACT), *t = tail ? json_dumps(tail, JSON_COMPACT) : NULL;
    json_decref(head);
    json_decref(tail);
    struct buf b;
    buf_init(&b);
    size_t hn = h ? strlen(h) : 0;
    if (hn < 2 || !text || (tail && (!t || strlen(t) < 2))) {
        free(h);
        free(t);
        buf_free(&b);
        reply_error(resp, 500, "internal", "the answer could not be encoded");
        return;
    }
    buf_append(&b, h, hn - 1);
    buf_puts(&b, hn > 2 ? ",\"" : "\"");
    buf_puts(&b, key);
    buf_puts(&b, "\":");
    buf_puts(&b, text);
    if (t && strlen(t) > 2) {
        buf_append(&b, ",", 1);
        buf_puts(&b, t + 1);
    } else {
        buf_append(&b, "}", 1);
    }
    free(h);
    free(t);
    resp->status = 200;
    resp->body = b.p;
}

static void listed(struct http_request *req, struct http_response *resp)
{
    struct mod_state *st = req->state;
    if (redis_failed(req, resp, &st->res)) {
        mod_cleanup(req);
        return;
    }
    json_t *r = st->res.json;
    char cur[CURSOR_MAX] = "";
    if (!json_is_true(json_object_get(r, "done")) && *json_string_value(json_object_get(r, "last_id")))
        cursor_make(json_string_value(json_object_get(r, "last_ms")), json_string_value(json_object_get(r, "last_id")),
                    cur);
    json_int_t m = json_integer_value(json_object_get(r, "matching"));
    json_t *tail = json_pack("{s:o, s:O, s:o}", "next_cursor", cur[0] ? json_string(cur) : json_null(), "looked_at",
                             json_object_get(r, "looked_at"), "matching", m >= 0 ? json_integer(m) : json_null());
    if (json_object_get(r, "counts")) {
        json_object_set(tail, "counts", json_object_get(r, "counts"));
        json_object_set(tail, "reason_counts", json_object_get(r, "reason_counts"));
    }
    snprintf(req->note, sizeof req->note, "queue %s", st->state);
    reply_spliced(resp,
                  json_pack("{s:s, s:s, s:s}", "site", st->site->name, "state", st->state, "order",
                            st->newest_first ? "newest" : "oldest"),
                  "items", st->res.text, tail);
    mod_cleanup(req);
}

void queue_handle(struct http_request *req, struct http_response *resp)
{
    const char *rest;
    struct mod_state *st = mod_begin(req);
    if (!(st->site = path_site(req, resp, &rest))) {
        mod_cleanup(req);
        return;
    }
    struct queue_list_req q = { .site = st->site->name, .budget = LOOK_BUDGET, .counts = 1 };
    const char *state = http_arg(req, "state"), *order = http_arg(req, "order"), *cursor = http_arg(req, "cursor");
    const char *reason = http_arg(req, "reason"), *thread = http_arg(req, "thread"), *ip = http_arg(req, "ip");
    const char *aid = http_arg(req, "author_id"), *aem = http_arg(req, "author_email");
    const char *smin = http_arg(req, "score_min"), *smax = http_arg(req, "score_max"), *counts = http_arg(req, "counts");
    st->state = state && *state ? state : "held";
    if (!one_of(st->state, STATES)) {
        reply_error(resp, 400, "bad_parameter", "state must be held, approved, rejected, spam or reported");
        mod_cleanup(req);
        return;
    }
    if (order && *order && strcmp(order, "oldest") != 0 && strcmp(order, "newest") != 0) {
        reply_error(resp, 400, "bad_parameter", "order must be oldest or newest");
        mod_cleanup(req);
        return;
    }
    st->newest_first = order && strcmp(order, "newest") == 0;
    if (arg_int(req, resp, "limit", 1, PAGE_MAX, PAGE_DEFAULT, &st->limit)) {
        mod_cleanup(req);
        return;
    }
    if (cursor && *cursor && cursor_read(cursor, st->cms, sizeof st->cms, st->cid, sizeof st->cid)) {
        reply_error(resp, 400, "bad_parameter", "cursor is not one this API gave out");
        mod_cleanup(req);
        return;
    }
    if (reason && *reason && !code_ok(reason)) {
        reply_error(resp, 400, "bad_parameter", "reason must be a reason code like too_many_links");
        mod_cleanup(req);
        return;
    }
    if (thread && *thread) {
        if (!req_id_ok(thread, strlen(thread))) {
            reply_error(resp, 400, "bad_parameter", "thread must be a thread id of 1-128 characters");
            mod_cleanup(req);
            return;
        }
        req_key("th:", thread, st->thread);
    }
    if ((aid && *aid) || (aem && *aem))
        req_author_key(aid && *aid ? aid : NULL, aem, st->author);
    if (ip && *ip && net_of(ip, st->net, sizeof st->net)) {
        reply_error(resp, 400, "bad_parameter", "ip must be an IPv4 or IPv6 address, or its /24 or /64 network");
        mod_cleanup(req);
        return;
    }
    const char *bounds[] = { smin, smax };
    for (int i = 0; i < 2; i++) {
        char *end;
        double v = bounds[i] && *bounds[i] ? strtod(bounds[i], &end) : 0;
        if (bounds[i] && *bounds[i] && (*end || !(v >= 0 && v <= 1))) {
            reply_error(resp, 400, "bad_parameter", "%s must be a number from 0 to 1", i ? "score_max" : "score_min");
            mod_cleanup(req);
            return;
        }
    }
    q.state = st->state;
    q.newest_first = st->newest_first;
    q.limit = (int)st->limit;
    q.cursor_ms = st->cms[0] ? st->cms : NULL;
    q.cursor_id = st->cms[0] ? st->cid : NULL;
    q.thread_key = st->thread;
    q.author_key = st->author;
    q.net = st->net;
    q.reason = reason;
    q.score_min = smin && *smin ? smin : NULL;
    q.score_max = smax && *smax ? smax : NULL;
    q.counts = !(counts && strcmp(counts, "0") == 0);
    req->resume = listed;
    queue_list_async(&q, &st->res, redis_done, req);
}

/* ---------- GET /v1/sites/{site}/comments/{id} ---------- */

/* The comment id of a path ".../comments/ID" + 'tail' (the route fixed
 * that shape; an id segment holds no '/'). Returns 0, or -1 with 400 for
 * an id that cannot be one. */
static int path_id(const char *rest, const char *tail, char out[129], struct http_response *resp)
{
    static const char seg[] = "/comments/";
    const char *id = rest + sizeof seg - 1;
    size_t idn = strlen(id) - strlen(tail);
    if (!req_id_ok(id, idn)) {
        reply_error(resp, 400, "bad_parameter", "the comment id must be 1-128 characters without control "
                                                "characters");
        return -1;
    }
    memcpy(out, id, idn);
    out[idn] = '\0';
    return 0;
}

static void got(struct http_request *req, struct http_response *resp)
{
    struct mod_state *st = req->state;
    if (redis_failed(req, resp, &st->res)) {
        mod_cleanup(req);
        return;
    }
    if (!st->res.text) {
        reply_error(resp, 404, "unknown_comment", "no comment \"%.128s\" is in site \"%s\"'s queue", st->id,
                    st->site->name);
        mod_cleanup(req);
        return;
    }
    /* the history as stored (at: ms), with its times as everywhere else */
    json_t *hist = json_array();
    for (size_t i = 0; i < json_array_size(st->res.json); i++) {
        json_error_t je;
        json_t *e = json_loads(json_string_value(json_array_get(st->res.json, i)), 0, &je);
        json_t *at = json_object_get(e, "at");
        if (json_is_number(at))
            json_object_set_new(e, "at", reply_time((long long)json_number_value(at)));
        if (e)
            json_array_append_new(hist, e);
    }
    char *h = json_dumps(hist, JSON_COMPACT);
    json_decref(hist);
    size_t n = strlen(st->res.text);
    struct buf b;
    buf_init(&b);
    buf_append(&b, st->res.text, n - 1); /* the item without its closing brace */
    buf_puts(&b, ",\"history\":");
    buf_puts(&b, h ? h : "[]");
    free(h);
    /* who its author and network have been (authors.h) */
    h = st->res.author ? json_dumps(st->res.author, JSON_COMPACT) : NULL;
    buf_puts(&b, ",\"author_history\":");
    buf_puts(&b, h ? h : "null");
    buf_append(&b, "}", 1);
    free(h);
    resp->status = 200;
    resp->body = b.p;
    mod_cleanup(req);
}

void comment_handle(struct http_request *req, struct http_response *resp)
{
    const char *rest;
    struct mod_state *st = mod_begin(req);
    if (!(st->site = path_site(req, resp, &rest)) || path_id(rest, "", st->id, resp)) {
        mod_cleanup(req);
        return;
    }
    req->resume = got;
    queue_get_async(st->site->name, st->id, st->site->trust.window_days, &st->res, redis_done, req);
}

/* ---------- actions ---------- */

static const char *to_state(const char *action)
{
    return strcmp(action, "approve") == 0 || strcmp(action, "ham") == 0 ? "approved"
           : strcmp(action, "reject") == 0                              ? "rejected"
           : strcmp(action, "spam") == 0                                ? "spam"
                                                                        : "held";
}

/* What the filter should have learned from a comment decided so. */
static const char *teach_of(const struct site_cfg *site, const char *action)
{
    if (strcmp(action, "spam") == 0 || (strcmp(action, "reject") == 0 && site->mod.learn_on_reject))
        return "spam";
    if (strcmp(action, "ham") == 0 || (strcmp(action, "approve") == 0 && site->mod.learn_on_approve))
        return "ham";
    return "";
}

static void act_done(void *arg)
{
    struct act *a = arg;
    struct mod_state *st = a->req->state;
    if (atomic_fetch_sub(&st->pending, 1) == 1)
        http_async_done(a->req);
}

/* One item's answer, as the bulk result lists it (new). */
static json_t *act_result(const struct mod_state *st, const struct act *a)
{
    const char *id = json_string_value(json_object_get(a->fetched, "id"));
    if (!a->sent) {
        json_t *o = json_pack("{s:s, s:s}", "id", id, "status", a->status);
        if (strcmp(a->status, "conflict") == 0) {
            json_object_set(o, "state", json_object_get(a->fetched, "state"));
            json_object_set_new(o, "version", json_integer(strtoll(json_string_value(json_object_get(a->fetched,
                                                                                                    "ver")), NULL, 10)));
        }
        return o;
    }
    if (a->res.rc != 0)
        return json_pack("{s:s, s:s, s:s}", "id", id, "status", "error", "error",
                         a->res.rc == -1 ? "redis_unavailable" : "internal");
    json_t *o = json_deep_copy(a->res.json);
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "action", json_string(st->action));
    return o;
}

static void acted(struct http_request *req, struct http_response *resp)
{
    struct mod_state *st = req->state;
    if (!st->bulk) {
        struct act *a = &st->acts[0];
        json_t *r = act_result(st, a);
        const char *status = json_string_value(json_object_get(r, "status"));
        if (strcmp(status, "ok") == 0) {
            snprintf(req->note, sizeof req->note, "%s %s", st->action, json_string_value(json_object_get(r, "filter")));
            reply_json(resp, 200, r);
            mod_cleanup(req);
            return;
        }
        if (strcmp(status, "missing") == 0)
            reply_error(resp, 404, "unknown_comment", "no comment \"%.128s\" is in site \"%s\"'s queue", st->id,
                        st->site->name);
        else if (strcmp(status, "conflict") == 0 || strcmp(status, "same") == 0) {
            const char *now = json_string_value(json_object_get(r, "state"));
            char msg[300];
            if (strcmp(status, "same") == 0)
                snprintf(msg, sizeof msg, "the comment is %s already; %s changes nothing", now, st->action);
            else if (strcmp(now, st->from) == 0)
                snprintf(msg, sizeof msg, "the comment changed since version %lld was shown (it is version %lld): "
                         "show it again before deciding it", st->version,
                         (long long)json_integer_value(json_object_get(r, "version")));
            else
                snprintf(msg, sizeof msg,
                         "the comment is %s now, not %s: someone decided it meanwhile (send \"from\": \"%s\" to "
                         "act on it as it is)", now, st->from, now);
            /* with the current state, for the client to show */
            reply_json(resp, 409, json_pack("{s:{s:s, s:s}, s:O, s:O}", "error", "code",
                                            strcmp(status, "same") == 0 ? "illegal_transition" : "state_conflict",
                                            "message", msg, "state", json_object_get(r, "state"), "version",
                                            json_object_get(r, "version")));
        } else if (strcmp(status, "version") == 0)
            reply_error(resp, 409, "tok_version_mismatch",
                        "model \"%s\" holds tokens of another tokenizer version: nothing was changed",
                        st->site->bayes.model);
        else {
            LOG_WARN(req->id, "moderation: site %s: an action failed: %.160s", st->site->name, a->res.error);
            reply_error(resp, a->res.rc == -1 ? 503 : 500, a->res.rc == -1 ? "redis_unavailable" : "internal",
                        a->res.rc == -1 ? "the action was not confirmed as stored (Redis did not answer in time, or "
                                          "too few replicas acknowledged it: redis.min_replicas_acked); it may have "
                                          "been applied: show the comment again before deciding it"
                                        : "Redis refused the action; nothing was changed");
        }
        json_decref(r);
        mod_cleanup(req);
        return;
    }
    json_t *results = json_array();
    int ok = 0;
    for (int i = 0; i < st->nacts; i++) {
        json_t *r = act_result(st, &st->acts[i]);
        ok += strcmp(json_string_value(json_object_get(r, "status")), "ok") == 0;
        json_array_append_new(results, r);
    }
    snprintf(req->note, sizeof req->note, "bulk %s %d/%d", st->action, ok, st->nacts);
    reply_json(resp, 200, json_pack("{s:s, s:s, s:o, s:i, s:i}", "action", st->action, "from", st->from, "results",
                                     results, "ok", ok, "failed", st->nacts - ok));
    mod_cleanup(req);
}

/* The comments are read: act on each that is still as the moderator saw it. */
static void fetched(struct http_request *req, struct http_response *resp)
{
    struct mod_state *st = req->state;
    if (redis_failed(req, resp, &st->res)) {
        mod_cleanup(req);
        return;
    }
    size_t n = json_array_size(st->res.json);
    st->nacts = (int)n;
    st->acts = xcalloc(n ? n : 1, sizeof *st->acts);
    long long day = 86400000LL;
    int sends = 0;
    for (size_t i = 0; i < n; i++) {
        struct act *a = &st->acts[i];
        a->req = req;
        a->fetched = json_array_get(st->res.json, i);
        if (json_is_true(json_object_get(a->fetched, "missing")))
            a->status = "missing";
        else if (strcmp(json_string_value(json_object_get(a->fetched, "state")), st->from) != 0 ||
                 (st->version && strtoll(json_string_value(json_object_get(a->fetched, "ver")), NULL, 10) != st->version))
            a->status = "conflict";
        else
            a->sent = 1, sends++;
    }
    if (sends == 0) {
        acted(req, resp);
        return;
    }
    atomic_store(&st->pending, sends);
    req->resume = acted;
    tok_list *tl = tok_list_new();
    for (size_t i = 0; i < n; i++) {
        struct act *a = &st->acts[i];
        if (!a->sent)
            continue;
        json_error_t je;
        json_t *item = json_loads(json_string_value(json_object_get(a->fetched, "item")), 0, &je);
        const json_t *body = json_object_get(json_object_get(item, "comment"), "body");
        struct tok_input in = { json_string_value(body) ? json_string_value(body) : "", json_string_length(body),
                                json_string_value(json_object_get(json_object_get(item, "author"), "url")) };
        tok_run(tl, &in);
        json_decref(item);
        char fp[33], z[BAYESDB_Z_LEN] = "";
        tok_fingerprint(tl, fp);
        if (st->teach[0]) /* scored before the lesson: its calibration entry (bayesdb.h) */
            bayesdb_learn_z(st->site, tl, z);
        struct queue_act x = {
            .site = st->site->name, .model = st->site->bayes.model,
            .id = json_string_value(json_object_get(a->fetched, "id")), .action = st->action, .to = st->to,
            .from = st->from, .ver = json_string_value(json_object_get(a->fetched, "ver")),
            .by = req->ident.key_id, .note = st->note, .reason = st->reason, .teach = st->teach, .fp = fp,
            .lfp = json_string_value(json_object_get(a->fetched, "lfp")), .z = z, .toks = tok_hashes(tl),
            .ntoks = tok_count(tl), .tok_version = TOK_VERSION, .stream_maxlen = BAYESDB_STREAM_MAXLEN,
            .retention_ms = st->site->mod.retention_days * day, .events_ms = st->site->mod.events_days * day,
            .audit_ms = st->site->mod.audit_days * day,
        };
        queue_act_async(&x, &a->res, act_done, a);
    }
    tok_list_free(tl);
}

/* The API key's token is taken: read the comments. */
static void token_taken(struct http_request *req, struct http_response *resp)
{
    struct mod_state *st = req->state;
    if (st->tres.status == ST_API_LIMITED) {
        reply_api_limited(resp, st->tres.retry_after_ms);
        mod_cleanup(req);
        return;
    }
    req->resume = fetched;
    json_t *ids = json_object_get(st->root, "ids");
    if (st->by_index) {
        queue_fetch_async(st->site->name, NULL, 0, &st->sel, &st->res, redis_done, req);
        return;
    }
    size_t n = st->bulk ? json_array_size(ids) : 1;
    const char **v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = st->bulk ? json_string_value(json_array_get(ids, i)) : st->id;
    queue_fetch_async(st->site->name, v, (int)n, NULL, &st->res, redis_done, req);
    free(v);
}

/* The fields every action call shares: action, from, note, reason. */
static int action_fields(struct mod_state *st, json_t *o, struct http_response *resp)
{
    static const char *const actions[] = { "approve", "reject", "spam", "ham", "hold", NULL };
    json_t *a = json_object_get(o, "action"), *f = json_object_get(o, "from"), *n = json_object_get(o, "note"),
           *r = json_object_get(o, "reason");
    if (!a || json_is_null(a)) {
        reply_error(resp, 400, "missing_field", "action is required: approve, reject, spam, ham or hold");
        return -1;
    }
    if (!one_of(json_string_value(a), actions)) {
        reply_error(resp, 400, "invalid_field", "action must be approve, reject, spam, ham or hold");
        return -1;
    }
    if (f && !json_is_null(f) && !one_of(json_string_value(f), STATES)) {
        reply_error(resp, 400, "invalid_field", "from must be held, approved, rejected, spam or reported");
        return -1;
    }
    if (n && !json_is_null(n) &&
        (!json_is_string(n) || json_string_length(n) > NOTE_MAX || strlen(json_string_value(n)) != json_string_length(n))) {
        reply_error(resp, 400, json_is_string(n) ? "invalid_field" : "wrong_type",
                    "note must be a string of at most %d bytes", NOTE_MAX);
        return -1;
    }
    if (r && !json_is_null(r) && !(json_is_string(r) && code_ok(json_string_value(r)))) {
        reply_error(resp, 400, json_is_string(r) ? "invalid_field" : "wrong_type",
                    "reason must be a code of 1-48 characters a-z, 0-9 and _ (\"off_topic\", \"abuse\")");
        return -1;
    }
    st->action = json_string_value(a);
    st->to = to_state(st->action);
    st->from = f && json_is_string(f) ? json_string_value(f) : "held";
    st->note = n && json_is_string(n) ? json_string_value(n) : "";
    st->reason = r && json_is_string(r) ? json_string_value(r) : "";
    st->teach = teach_of(st->site, st->action);
    return 0;
}

static void action_start(struct http_request *req, struct http_response *resp)
{
    struct mod_state *st = req->state;
    if (!st->site->api.enabled) {
        token_taken(req, resp);
        return;
    }
    req->resume = token_taken;
    store_api_token_async(st->site, req->ident.key_id, &st->tres, redis_done, req);
}

/* The body's fields: none but 'known', and the action's. Returns 0, or -1
 * with the error in 'resp'. */
static int action_body(struct mod_state *st, const char *const *known, struct http_response *resp)
{
    const char *bad = req_unknown_field(st->root, known);
    if (bad) {
        reply_error(resp, 400, "unknown_field", "%.64s is not a known field", bad);
        return -1;
    }
    return action_fields(st, st->root, resp);
}

void action_handle(struct http_request *req, struct http_response *resp)
{
    static const char *const known[] = { "action", "from", "note", "reason", "version", NULL };
    const char *rest;
    struct mod_state *st = mod_begin(req);
    if (!(st->site = path_site(req, resp, &rest)) || path_id(rest, "/action", st->id, resp) ||
        req_load(req, &st->root, resp) || action_body(st, known, resp)) {
        mod_cleanup(req);
        return;
    }
    json_t *v = json_object_get(st->root, "version");
    if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 1)) {
        reply_error(resp, 400, json_is_integer(v) ? "invalid_field" : "wrong_type",
                    "version must be the comment's version as the moderator saw it, a whole number from 1");
        mod_cleanup(req);
        return;
    }
    st->version = json_is_integer(v) ? (long long)json_integer_value(v) : 0;
    action_start(req, resp);
}

void actions_handle(struct http_request *req, struct http_response *resp)
{
    static const char *const known[] = { "action", "from", "note", "reason", "ids", "author_id", "author_email",
                                         "ip", "thread", "limit", NULL };
    static const char *const selectors[] = { "ids", "author_id", "author_email", "ip", "thread" };
    const char *rest;
    struct mod_state *st = mod_begin(req);
    st->bulk = 1;
    if (!(st->site = path_site(req, resp, &rest)) || req_load(req, &st->root, resp) ||
        action_body(st, known, resp)) {
        mod_cleanup(req);
        return;
    }
    int nsel = 0;
    const char *which = NULL;
    for (size_t i = 0; i < sizeof selectors / sizeof *selectors; i++)
        if (json_object_get(st->root, selectors[i]) && !json_is_null(json_object_get(st->root, selectors[i])))
            nsel++, which = selectors[i];
    if (nsel != 1) {
        reply_error(resp, nsel ? 400 : 400, nsel ? "invalid_field" : "missing_field",
                    "give exactly one of ids, author_id, author_email, ip and thread");
        mod_cleanup(req);
        return;
    }
    json_t *v = json_object_get(st->root, which);
    if (strcmp(which, "ids") == 0) {
        if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > BULK_MAX) {
            reply_error(resp, 400, json_is_array(v) ? "invalid_field" : "wrong_type",
                        "ids must be an array of 1-%d comment ids", BULK_MAX);
            mod_cleanup(req);
            return;
        }
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *x = json_array_get(v, i);
            for (size_t j = 0; j < i && json_is_string(x); j++)
                if (json_equal(x, json_array_get(v, j))) {
                    reply_error(resp, 400, "invalid_field", "ids[%zu] repeats ids[%zu]", i, j);
                    mod_cleanup(req);
                    return;
                }
            if (!json_is_string(x) || !req_id_ok(json_string_value(x), json_string_length(x)) ||
                strlen(json_string_value(x)) != json_string_length(x)) {
                reply_error(resp, 400, json_is_string(x) ? "invalid_field" : "wrong_type",
                            "ids[%zu] must be a comment id: a string of 1-128 characters, no control characters", i);
                mod_cleanup(req);
                return;
            }
        }
        action_start(req, resp);
        return;
    }
    if (!json_is_string(v) || !json_string_length(v)) {
        reply_error(resp, 400, json_is_string(v) ? "invalid_field" : "wrong_type", "%s must be a non-empty string",
                    which);
        mod_cleanup(req);
        return;
    }
    const char *s = json_string_value(v);
    json_t *lim = json_object_get(st->root, "limit");
    if (lim && !json_is_null(lim) && !json_is_integer(lim)) {
        reply_error(resp, 400, "wrong_type", "limit must be a whole number");
        mod_cleanup(req);
        return;
    }
    json_int_t l = json_is_integer(lim) ? json_integer_value(lim) : BULK_MAX;
    if (l < 1 || l > BULK_MAX) {
        reply_error(resp, 400, "invalid_field", "limit must be 1-%d (got %lld)", BULK_MAX, (long long)l);
        mod_cleanup(req);
        return;
    }
    st->sel.limit = (int)l;
    st->sel.state = st->from;
    if (strcmp(which, "ip") == 0) {
        if (net_of(s, st->net, sizeof st->net)) {
            reply_error(resp, 400, "invalid_field", "ip must be an IPv4 or IPv6 address, or its /24 or /64 network");
            mod_cleanup(req);
            return;
        }
        st->sel.kind = "n";
        st->sel.value = st->net;
    } else if (strcmp(which, "thread") == 0) {
        if (!req_id_ok(s, json_string_length(v))) {
            reply_error(resp, 400, "invalid_field", "thread must be a thread id of 1-128 characters");
            mod_cleanup(req);
            return;
        }
        req_key("th:", s, st->thread);
        st->sel.kind = "t";
        st->sel.value = st->thread;
    } else {
        req_author_key(strcmp(which, "author_id") == 0 ? s : NULL, strcmp(which, "author_email") == 0 ? s : NULL,
                       st->author);
        st->sel.kind = "a";
        st->sel.value = st->author;
    }
    st->by_index = 1;
    action_start(req, resp);
}

/* ---------- the audit log and the changes feed ---------- */

static void streamed(struct http_request *req, struct http_response *resp)
{
    struct mod_state *st = req->state;
    if (redis_failed(req, resp, &st->res)) {
        mod_cleanup(req);
        return;
    }
    json_t *r = st->res.json, *entries = json_object_get(r, "entries");
    int events = strcmp(st->state, "events") == 0;
    if (events && json_is_true(json_object_get(r, "lost"))) {
        reply_error(resp, 410, "cursor_expired",
                    "events after this cursor were trimmed (the feed keeps %ld days): read the queue again, then "
                    "follow the feed from its start", st->site->mod.events_days);
        mod_cleanup(req);
        return;
    }
    size_t n = json_array_size(entries);
    json_t *last = n ? json_object_get(json_array_get(entries, n - 1), "cursor") : NULL;
    json_t *o = json_pack("{s:s, s:O}", "site", st->site->name, events ? "events" : "entries", entries);
    if (events) /* where to go on from, also when nothing is new */
        json_object_set_new(o, "next_cursor", last ? json_copy(last) : st->cid[0] ? json_string(st->cid)
                                                                                   : json_null());
    else
        json_object_set_new(o, "next_cursor", n == (size_t)st->limit && last ? json_copy(last) : json_null());
    reply_json(resp, 200, o);
    mod_cleanup(req);
}

/* "MS-SEQ": a stream id, as the entries' cursors are. */
static int stream_id_ok(const char *s)
{
    /* up to 19 digits each: always within Redis's 64-bit parts */
    size_t a = strspn(s, "0123456789");
    return a > 0 && a <= 19 && s[a] == '-' && strspn(s + a + 1, "0123456789") == strlen(s + a + 1) &&
           strlen(s + a + 1) > 0 && strlen(s + a + 1) <= 19;
}

static void stream_handle(struct http_request *req, struct http_response *resp, const char *which, long def)
{
    const char *rest;
    struct mod_state *st = mod_begin(req);
    if (!(st->site = path_site(req, resp, &rest))) {
        mod_cleanup(req);
        return;
    }
    st->state = which;
    int events = strcmp(which, "events") == 0;
    const char *after = http_arg(req, events ? "after" : "cursor");
    if (arg_int(req, resp, "limit", 1, STREAM_PAGE_MAX, def, &st->limit)) {
        mod_cleanup(req);
        return;
    }
    if (after && *after) {
        if (!stream_id_ok(after) || strlen(after) >= sizeof st->cid) {
            reply_error(resp, 400, "bad_parameter", "%s must be a cursor this API gave out (like 1764600000000-0)",
                        events ? "after" : "cursor");
            mod_cleanup(req);
            return;
        }
        snprintf(st->cid, sizeof st->cid, "%s", after);
    }
    const char *order = http_arg(req, "order");
    int newest = !events && !(order && strcmp(order, "oldest") == 0);
    if (order && *order && strcmp(order, "oldest") != 0 && strcmp(order, "newest") != 0) {
        reply_error(resp, 400, "bad_parameter", "order must be oldest or newest");
        mod_cleanup(req);
        return;
    }
    req->resume = streamed;
    queue_stream_async(st->site->name, which, st->cid, newest, (int)st->limit, &st->res, redis_done, req);
}

/* GET /v1/sites/{site}/audit: every action, newest first; ?comment=ID
 * gives that comment's history instead. */
void audit_handle(struct http_request *req, struct http_response *resp)
{
    const char *c = http_arg(req, "comment");
    if (!c || !*c) {
        stream_handle(req, resp, "audit", 50);
        return;
    }
    const char *rest;
    struct mod_state *st = mod_begin(req);
    if (!(st->site = path_site(req, resp, &rest))) {
        mod_cleanup(req);
        return;
    }
    if (!req_id_ok(c, strlen(c))) {
        reply_error(resp, 400, "bad_parameter", "comment must be a comment id of 1-128 characters");
        mod_cleanup(req);
        return;
    }
    snprintf(st->id, sizeof st->id, "%s", c);
    req->resume = got;
    queue_get_async(st->site->name, st->id, st->site->trust.window_days, &st->res, redis_done, req);
}

/* GET /v1/sites/{site}/events?after=CURSOR: decision changes, oldest first. */
void events_handle(struct http_request *req, struct http_response *resp)
{
    stream_handle(req, resp, "events", 100);
}

/* GET /v1/whoami: what the key is, for clients that sign in with one. */
void whoami_handle(struct http_request *req, struct http_response *resp)
{
    static const char *const roles[] = { "cms", "moderator", "admin" };
    json_t *sites = json_array();
    for (size_t i = 0; i < req->cfg->nsites; i++)
        if (auth_may(&req->ident, (int)i))
            json_array_append_new(sites, json_string(req->cfg->sites[i].name));
    const char *own = req->ident.site >= 0 ? req->cfg->sites[req->ident.site].name : NULL;
    reply_json(resp, 200, json_pack("{s:s, s:s, s:s?, s:o}", "key_id", req->ident.key_id, "role",
                                    roles[req->ident.role], "site", own, "sites", sites));
}
