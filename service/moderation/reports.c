/* reports.c - POST /v1/sites/{site}/comments/{id}/reports (api.md 2.16).
 *
 *   reports_handle: validate -> report.lua "read" (the comment's state in
 *                   the queue, else its decision record)
 *   got_state:      refuse what cannot be reported; for a comment
 *                   published at once, check the body against the
 *                   record's fingerprint and make its queue item ->
 *                   report.lua "add" (which refuses if the state moved
 *                   meanwhile: then read again, once)
 *   added:          the answer. */
#include "reports.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "luascripts.h"
#include "queue.h"
#include "reply.h"
#include "request.h"
#include "store.h"
#include "util.h"

static struct store_script script = { .src = REPORT_LUA, .durable = 1 };

static int one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return 1;
    return 0;
}

void reports_init(void)
{
    store_script_register(&script);
}

#define NOTE_MAX 500
static const char *const REASONS[] = { "spam", "offensive", "abusive", "other", NULL };

struct rp_state {
    const struct site_cfg *site;
    char id[129];
    json_t *root;              /* the body (new) */
    const char *reason, *note, *body;
    const char *thread_id, *author_name; /* shown on the card of a comment published at once */
    char reader[17];           /* the reader id's key: never the id itself */
    int tries;
    /* the script's reply */
    int rc;                    /* 0, -1 Redis unavailable, -2 refused */
    char tag[16];              /* read: the state; add: "ok", "conflict", "gone" */
    char *record;              /* read: the decision record (new) */
    long long count;
    int moved, counted;
    /* add */
    char state[16];            /* the state read ("": not in the queue) */
    char *item;                /* the queue item of a comment published at once (new) */
    char ix[QUEUE_IX_MAX], score[32], bfp[33];
    char rk[4];                /* what its check counted for its author ("a", "r"; "" none) */
};

static void rp_cleanup(struct http_request *req)
{
    struct rp_state *st = req->state;
    if (!st)
        return;
    json_decref(st->root);
    free(st->record);
    free(st->item);
    free(st);
    req->state = NULL;
}

static const char *el(const struct store_reply *r, size_t i)
{
    const struct store_reply *e = i < r->elements ? r->element[i] : NULL;
    return e && e->type == STORE_REPLY_STRING ? e->str : "";
}

static long long num(const struct store_reply *r, size_t i)
{
    const struct store_reply *e = i < r->elements ? r->element[i] : NULL;
    return !e ? 0 : e->type == STORE_REPLY_INTEGER ? e->integer : strtoll(el(r, i), NULL, 10);
}

static void rp_parse(const struct store_reply *r, const char *err, void *out)
{
    struct http_request *req = out;
    struct rp_state *st = req->state;
    if (!r || r->type == STORE_REPLY_ERROR || r->type != STORE_REPLY_ARRAY || r->elements < 1) {
        LOG_WARN(req->id, "reports: redis: %.100s", !r ? (err ? err : "no reply") : r->type == STORE_REPLY_ERROR
                                                                                         ? r->str : "unexpected reply");
        st->rc = r ? -2 : -1;
        return;
    }
    st->rc = 0;
    snprintf(st->tag, sizeof st->tag, "%s", el(r, 0));
    free(st->record);
    st->record = r->elements > 1 ? xstrdup(el(r, 1)) : NULL;
    st->count = num(r, 1);
    st->moved = num(r, 2) == 1;
    st->counted = num(r, 3) == 1;
}

static void rp_redis_done(void *arg)
{
    http_async_done(arg);
}

static void got_state(struct http_request *req, struct http_response *resp);
static void added(struct http_request *req, struct http_response *resp);

static void call(struct http_request *req, struct rp_state *st, int add)
{
    char prefix[80], k[24], ttl[24], ev[24], au[24], dttl[24];
    snprintf(prefix, sizeof prefix, "mg:{%s}:", st->site->name);
    const struct site_cfg *s = st->site;
    snprintf(k, sizeof k, "%ld", s->report_threshold);
    /* the reports live as long as the comment can be: its record, or its queue entry */
    long keep = s->decision_ttl_s > s->mod.retention_days * 86400 ? s->decision_ttl_s : s->mod.retention_days * 86400;
    snprintf(ttl, sizeof ttl, "%ld", keep);
    snprintf(ev, sizeof ev, "%lld", (long long)s->mod.events_days * 86400000LL);
    snprintf(au, sizeof au, "%lld", (long long)s->mod.audit_days * 86400000LL);
    snprintf(dttl, sizeof dttl, "%lld", (long long)s->decision_ttl_s * 1000LL);
    const char *argv[19] = { prefix, st->id, add ? "add" : "read", st->reader, st->reason, st->note, k,
                             s->report_hide ? "1" : "0", st->state, st->item ? st->item : "", st->ix, st->score,
                             st->bfp, "", ttl, ev, au, st->rk, dttl };
    size_t lens[19];
    int argc = add ? 19 : 3;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    req->resume = add ? added : got_state;
    store_script_async(&script, s->name, 0, argc, argv, lens, rp_parse, req, rp_redis_done, req);
}

static int redis_failed(struct http_response *resp, const struct rp_state *st)
{
    if (st->rc == 0)
        return 0;
    if (st->rc == -1)
        reply_error(resp, 503, "redis_unavailable", "Redis is unavailable; the report was not counted: send it again");
    else
        reply_error(resp, 500, "internal", "Redis refused the request");
    return 1;
}

/* The queue item of a comment modgate published at once, from its
 * decision record and the body the CMS sent: what check.c stores for a
 * held one (the comment, decision, score, reasons, times, the index line
 * last), so that the queue, the page and tuning read it alike. Returns 0,
 * or -1 with the error in 'resp'. */
static int make_item(struct rp_state *st, json_t *rec, struct http_response *resp)
{
    const char *fp = json_string_value(json_object_get(rec, "body_fp"));
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)st->body, strlen(st->body), NULL, 0);
    sodium_bin2hex(st->bfp, sizeof st->bfp, h, sizeof h);
    if (!fp || strcmp(fp, st->bfp) != 0) {
        reply_error(resp, 409, "body_mismatch",
                    "body is not the text modgate checked under this comment id (send the body as it was "
                    "checked, or as last edited)");
        return -1;
    }
    double score = json_number_value(json_object_get(rec, "score"));
    json_t *reasons = json_object_get(rec, "reasons");
    const char *codes[64];
    int ncodes = 0;
    for (size_t i = 0; i < json_array_size(reasons) && ncodes < 64; i++) {
        const char *c = json_string_value(json_object_get(json_array_get(reasons, i), "code"));
        if (c)
            codes[ncodes++] = c;
    }
    /* "THREAD|AUTHOR|NET" as the check recorded it ("" in records made before) */
    char th[17] = "", au[17] = "", net[64] = "";
    const char *rix = json_string_value(json_object_get(rec, "ix"));
    char *part[3] = { th, au, net };
    size_t cap[3] = { sizeof th, sizeof au, sizeof net };
    for (int i = 0; rix && i < 3; i++) {
        size_t l = strcspn(rix, "|");
        if (l < cap[i]) {
            memcpy(part[i], rix, l);
            part[i][l] = 0;
        }
        rix = rix[l] ? rix + l + 1 : NULL;
    }
    if (st->thread_id) { /* it must be the thread the comment was checked on */
        char key[17];
        req_key("th:", st->thread_id, key);
        if (strcmp(key, th) != 0) {
            reply_error(resp, 409, "thread_mismatch", "comment \"%.128s\" was not checked on thread \"%.128s\"",
                        st->id, st->thread_id);
            return -1;
        }
    }
    queue_index_line(st->ix, score, st->bfp, th, au, net, codes, ncodes);
    char now[40];
    fmt_rfc3339(wall_ms(), now, sizeof now);
    const char *counted = json_string_value(json_object_get(rec, "counted"));
    snprintf(st->rk, sizeof st->rk, "%s", counted && (!strcmp(counted, "a") || !strcmp(counted, "r")) ? counted : "");
    json_t *item = json_pack("{s:s,s:{s:s,s:s},s:s,s:f,s:o,s:f,s:O,s:s,s:b,s:s}", "site", st->site->name,
                             "comment", "id", st->id, "body", st->body, "decision", "accept", "score", score,
                             "reasons", json_is_array(reasons) ? json_incref(reasons) : json_array(),
                             "bayes_weight", st->site->bayes.weight,
                             "request_id", json_object_get(rec, "request_id") ? json_object_get(rec, "request_id")
                                                                              : json_null(),
                             "held_at", now, "published", 1, "id", st->id);
    if (item && st->thread_id)
        json_object_set_new(json_object_get(item, "comment"), "thread_id", json_string(st->thread_id));
    if (item && st->author_name)
        json_object_set_new(item, "author", json_pack("{s:s}", "name", st->author_name));
    char *s = item ? json_dumps(item, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(item);
    if (!s) {
        reply_error(resp, 500, "internal", "the reported comment could not be encoded");
        return -1;
    }
    struct buf b;
    buf_init(&b);
    buf_append(&b, s, strlen(s) - 1);
    free(s);
    buf_puts(&b, ",\"ix\":\"");
    buf_puts(&b, st->ix);
    buf_puts(&b, "\"}");
    free(st->item);
    st->item = b.p;
    snprintf(st->score, sizeof st->score, "%.4f", score);
    /* the comment hash keeps the line without the score and fingerprint (queue.h) */
    char *bar = strchr(st->ix, '|');
    bar = bar ? strchr(bar + 1, '|') : NULL;
    memmove(st->ix, bar ? bar + 1 : "", strlen(bar ? bar + 1 : "") + 1);
    return 0;
}

static void got_state(struct http_request *req, struct http_response *resp)
{
    struct rp_state *st = req->state;
    if (redis_failed(resp, st)) {
        rp_cleanup(req);
        return;
    }
    const char *s = st->tag;
    int bad = 1;
    if (!strcmp(s, "held")) {
        reply_error(resp, 409, "comment_held", "comment \"%.128s\" is held for a moderator, not published", st->id);
    } else if (!strcmp(s, "rejected") || !strcmp(s, "spam")) {
        reply_error(resp, 409, "comment_not_published", "a moderator decided comment \"%.128s\" is %s", st->id, s);
    } else if (!strcmp(s, "approved") || !strcmp(s, "reported")) {
        bad = 0;
    } else if (!st->record || !*st->record) {
        reply_error(resp, 404, "unknown_comment",
                    "site \"%s\" has no comment \"%.128s\": never checked, or its decision expired (decision_ttl_s)",
                    st->site->name, st->id);
    } else {
        json_error_t je;
        json_t *rec = json_loads(st->record, 0, &je);
        const char *d = json_string_value(json_object_get(rec, "decision"));
        if (!d) {
            reply_error(resp, 500, "internal", "the stored decision for this comment is unreadable");
        } else if (strcmp(d, "accept") != 0) {
            reply_error(resp, 409, "comment_not_published",
                        "modgate answered \"%s\" for comment \"%.128s\": it was not published", d, st->id);
        } else if (!st->body) {
            reply_error(resp, 400, "missing_field",
                        "body is required: modgate published comment \"%.128s\" at once and keeps no text of it",
                        st->id);
        } else {
            bad = make_item(st, rec, resp);
        }
        json_decref(rec);
    }
    if (bad) {
        rp_cleanup(req);
        return;
    }
    snprintf(st->state, sizeof st->state, "%s", s);
    call(req, st, 1);
}

static void added(struct http_request *req, struct http_response *resp)
{
    struct rp_state *st = req->state;
    if (redis_failed(resp, st)) {
        rp_cleanup(req);
        return;
    }
    if ((!strcmp(st->tag, "conflict") || !strcmp(st->tag, "gone")) && st->tries++ < 2) {
        call(req, st, 0); /* it moved meanwhile (a moderator, another report): read it again */
        return;
    }
    if (strcmp(st->tag, "ok") != 0) {
        reply_error(resp, 409, "state_conflict", "comment \"%.128s\" kept changing; send the report again", st->id);
        rp_cleanup(req);
        return;
    }
    json_t *o = json_pack("{s:s,s:s,s:I,s:b,s:s,s:b}", "site", st->site->name, "comment_id", st->id, "reports",
                          (json_int_t)st->count, "counted", st->counted, "state",
                          st->moved || !strcmp(st->state, "reported") ? "reported"
                          : *st->state                                ? st->state
                                                                      : "published",
                          "queued", st->moved);
    reply_json(resp, 200, o);
    rp_cleanup(req);
}

void reports_handle(struct http_request *req, struct http_response *resp)
{
    const struct site_cfg *site = req_path_site(req, resp);
    if (!site)
        return;
    const char *seg = strstr(req->path + strlen("/v1/sites/"), "/comments/"); /* routes.c matched the shape */
    const char *id = seg ? seg + strlen("/comments/") : "";
    size_t n = strlen(id) - strlen("/reports");
    if (!seg || strlen(id) < strlen("/reports") || !req_id_ok(id, n)) {
        reply_error(resp, 400, "bad_parameter", "the comment id must be 1-128 characters without control characters");
        return;
    }
    struct rp_state *st = xcalloc(1, sizeof *st);
    req->state = st;
    req->cleanup = rp_cleanup;
    st->site = site;
    memcpy(st->id, id, n);
    if (req_load(req, &st->root, resp)) {
        rp_cleanup(req);
        return;
    }
    static const char *const known[] = { "reader_id", "reason", "note", "body", "thread_id", "author_name", NULL };
    const char *k = req_unknown_field(st->root, known);
    json_t *rd = json_object_get(st->root, "reader_id"), *rs = json_object_get(st->root, "reason"),
           *nt = json_object_get(st->root, "note"), *bd = json_object_get(st->root, "body"),
           *th = json_object_get(st->root, "thread_id"), *an = json_object_get(st->root, "author_name");
    const char *why = NULL, *code = "invalid_field";
    if (k)
        why = "the fields are reader_id, reason, note, body, thread_id and author_name", code = "unknown_field";
    else if (!rd || !rs)
        why = "reader_id and reason are required", code = "missing_field";
    else if (!json_is_string(rd) || !json_is_string(rs) || (nt && !json_is_null(nt) && !json_is_string(nt)) ||
             (bd && !json_is_null(bd) && !json_is_string(bd)) || (th && !json_is_null(th) && !json_is_string(th)) ||
             (an && !json_is_null(an) && !json_is_string(an)))
        why = "reader_id, reason, note, body, thread_id and author_name are strings", code = "wrong_type";
    else if (json_is_string(th) && !req_id_ok(json_string_value(th), json_string_length(th)))
        why = "thread_id must be 1-128 bytes without control characters";
    else if (json_is_string(an) && (json_string_length(an) > 200 || !req_id_ok(json_string_value(an), json_string_length(an))))
        why = "author_name must be 1-200 bytes without control characters";
    else if (!req_id_ok(json_string_value(rd), json_string_length(rd)))
        why = "reader_id must be 1-128 characters without control characters";
    else if (!one_of(json_string_value(rs), REASONS))
        why = "reason must be spam, offensive, abusive or other";
    else if (json_is_string(nt) && json_string_length(nt) > NOTE_MAX)
        why = "note is at most 500 bytes";
    else if (json_is_string(bd) && (json_string_length(bd) == 0 || strlen(json_string_value(bd)) != json_string_length(bd)))
        why = "body must be the comment's text as checked (not empty, no NUL)";
    if (why) {
        reply_error(resp, 400, code, "%s", why);
        rp_cleanup(req);
        return;
    }
    req_key("rd:", json_string_value(rd), st->reader);
    st->reason = json_string_value(rs);
    st->note = json_is_string(nt) ? json_string_value(nt) : "";
    st->body = json_is_string(bd) ? json_string_value(bd) : NULL;
    st->thread_id = json_is_string(th) ? json_string_value(th) : NULL;
    st->author_name = json_is_string(an) ? json_string_value(an) : NULL;
    call(req, st, 0);
}
