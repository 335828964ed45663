/* authors.c - GET and PUT /v1/sites/{site}/authors/{author} (api.md
 * 2.15): the authors.lua script, one call each. */
#include "authors.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "luascripts.h"
#include "reply.h"
#include "request.h"
#include "scall.h"
#include "store.h"
#include "util.h"

static struct store_script script = { .src = AUTHORS_LUA, .durable = 1 }; /* a put is stored; a get writes nothing */
static struct store_script poll_script = { .src = AUTHORS_POLL_LUA };

void authors_init(void)
{
    store_script_register(&script);
    store_script_register(&poll_script);
}

/* ---------- the sites with pre-moderated authors ---------- */

struct premod_site {
    char name[65];
    long n;                /* its pre-moderated authors, as last seen */
};

static pthread_rwlock_t plock = PTHREAD_RWLOCK_INITIALIZER;
static struct premod_site *ptab;
static size_t nptab;
static _Atomic size_t nonzero; /* sites of ptab with n > 0: 0 spares a check the lock */

/* Site 'name''s count set to 'n' (at_least: raised to n, never lowered). */
static void premod_note(const char *name, long n, int at_least)
{
    pthread_rwlock_wrlock(&plock);
    size_t i = 0;
    while (i < nptab && strcmp(ptab[i].name, name) != 0)
        i++;
    if (i == nptab) {
        ptab = xrealloc(ptab, (nptab + 1) * sizeof *ptab);
        snprintf(ptab[i].name, sizeof ptab[i].name, "%s", name);
        ptab[i].n = 0;
        nptab++;
    }
    if (!at_least || n > ptab[i].n)
        ptab[i].n = n;
    size_t k = 0;
    for (size_t j = 0; j < nptab; j++)
        k += ptab[j].n > 0;
    atomic_store(&nonzero, k);
    pthread_rwlock_unlock(&plock);
}

int authors_premod_any(const char *site)
{
    if (atomic_load(&nonzero) == 0) /* no site has any: most checks of most sites */
        return 0;
    int any = 0;
    pthread_rwlock_rdlock(&plock);
    for (size_t i = 0; i < nptab; i++)
        if (strcmp(ptab[i].name, site) == 0)
            any = ptab[i].n > 0;
    pthread_rwlock_unlock(&plock);
    return any;
}

int authors_poll(const struct cfg *c)
{
    struct scall s;
    scall_sites(&poll_script, c, "rep:premod", &s);
    int rc = s.rc == 0 && s.n == c->nsites ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < c->nsites; i++)
        premod_note(c->sites[i].name, (long)scall_num(&s, i), 0);
    scall_free(&s);
    return rc;
}

static const char *const status_names[] = { "normal", "trusted", "premod", "banned" };
static const char status_chars[] = "ntpb";

static const char *status_name(const char *c)
{
    const char *p = *c ? strchr(status_chars, *c) : NULL;
    return p ? status_names[p - status_chars] : "normal";
}

static const char *el(const struct store_reply *r, size_t i)
{
    const struct store_reply *e = i < r->elements ? r->element[i] : NULL;
    return e && e->type == STORE_REPLY_STRING ? e->str : "";
}

static json_int_t num(const struct store_reply *r, size_t i)
{
    return (json_int_t)strtoll(el(r, i), NULL, 10);
}

static json_t *counts(const struct store_reply *r, size_t i)
{
    return json_pack("{s:I,s:I,s:I}", "approved", num(r, i), "rejected", num(r, i + 1), "spam", num(r, i + 2));
}

json_t *authors_view(const struct store_reply *r, size_t from, const char *key, const char *net, long days)
{
    if (!r || r->type != STORE_REPLY_ARRAY || r->elements < from + 14)
        return NULL;
    json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:o}", "key", key, "status", status_name(el(r, from)),
                          "approved", num(r, from + 1), "rejected", num(r, from + 2), "spam", num(r, from + 3),
                          "window_days", (json_int_t)days, "recent", counts(r, from + 4));
    json_error_t je;
    json_t *m = *el(r, from + 7) ? json_loads(el(r, from + 7), 0, &je) : NULL;
    if (json_is_object(m)) {
        json_object_set(o, "note", json_object_get(m, "note"));
        json_object_set(o, "set_by", json_object_get(m, "by"));
        json_t *at = json_object_get(m, "at_ms");
        if (json_is_integer(at))
            json_object_set_new(o, "set_at", reply_time((long long)json_integer_value(at)));
    }
    json_decref(m);
    if (net && *net) {
        json_t *n = counts(r, from + 8);
        json_object_set_new(n, "prefix", json_string(net));
        json_object_set_new(n, "recent", counts(r, from + 11));
        json_object_set_new(o, "network", n);
    }
    json_t *last = json_array();
    for (size_t i = from + 14; i + 2 < r->elements; i += 3)
        json_array_append_new(last, json_pack("{s:s,s:s,s:o}", "id", el(r, i), "state", el(r, i + 1), "at",
                                              reply_time(strtoll(el(r, i + 2), NULL, 10))));
    json_object_set_new(o, "last", last);
    return o;
}

struct au_state {
    const struct site_cfg *site;
    char key[17];
    char status;            /* PUT: n, t, p, b */
    char *meta;             /* PUT: the note JSON (new) */
    const char *note;
    json_t *root;           /* PUT: the body */
    json_t *view;           /* the answer (new) */
    char prev;              /* PUT: the status before */
    int rc;                 /* 0, -1 Redis unavailable, -2 an unexpected reply */
};

static void au_cleanup(struct http_request *req)
{
    struct au_state *st = req->state;
    if (!st)
        return;
    free(st->meta);
    json_decref(st->root);
    json_decref(st->view);
    free(st);
    req->state = NULL;
}

/* The author key {author} names, into key[17]. Returns 0, or -1 with the
 * error in 'resp'. */
static int author_key_of(const char *a, char key[17], struct http_response *resp)
{
    const char *hex = !strncmp(a, "email:", 6) ? a + 6 : !strncmp(a, "key:", 4) ? a + 4 : NULL;
    if (hex) {
        if (strlen(hex) != 16 || strspn(hex, "0123456789abcdef") != 16) {
            reply_error(resp, 400, "bad_parameter",
                        "after \"email:\" or \"key:\" comes an author key: 16 lowercase hex digits (api.md 2.15 "
                        "says how one is made from an e-mail address)");
            return -1;
        }
        memcpy(key, hex, 17);
        return 0;
    }
    if (!req_id_ok(a, strlen(a))) {
        reply_error(resp, 400, "bad_parameter", "the author id must be 1-128 characters without control characters");
        return -1;
    }
    req_author_key(a, NULL, key);
    return 0;
}

static struct au_state *au_begin(struct http_request *req, struct http_response *resp)
{
    const struct site_cfg *site = req_path_site(req, resp);
    if (!site)
        return NULL;
    const char *seg = strstr(req->path + strlen("/v1/sites/"), "/authors/"); /* routes.c matched that shape */
    struct au_state *st = xcalloc(1, sizeof *st);
    req->state = st;
    req->cleanup = au_cleanup;
    st->site = site;
    if (author_key_of(seg ? seg + strlen("/authors/") : "", st->key, resp)) {
        au_cleanup(req);
        return NULL;
    }
    return st;
}

static void au_parse(const struct store_reply *r, const char *err, void *out)
{
    struct http_request *req = out;
    struct au_state *st = req->state;
    if (!r) {
        LOG_WARN(req->id, "authors: redis: %s", err ? err : "no reply");
        st->rc = -1;
        return;
    }
    if (r->type == STORE_REPLY_ERROR) {
        LOG_WARN(req->id, "authors: redis: %.100s", r->str);
        st->rc = -2;
        return;
    }
    st->view = authors_view(r, 1, st->key, NULL, st->site->trust.window_days);
    if (!st->view) {
        st->rc = -2;
        return;
    }
    st->prev = *el(r, 0);
}

static void au_redis_done(void *arg)
{
    http_async_done(arg);
}

static void au_answer(struct http_request *req, struct http_response *resp)
{
    struct au_state *st = req->state;
    if (st->rc == -1) {
        reply_error(resp, 503, "redis_unavailable",
                    st->meta ? "Redis is unavailable; the change may or may not have been stored: read it back"
                             : "Redis is unavailable; try again");
    } else if (st->rc) {
        reply_error(resp, 500, "internal", "Redis refused the request");
    } else {
        json_object_set_new(st->view, "site", json_string(st->site->name));
        if (st->meta) {
            char p[2] = { st->prev, 0 };
            json_object_set_new(st->view, "previous_status", json_string(status_name(p)));
            if (st->status == 'p') /* this instance's checks know at once; the others at their next poll */
                premod_note(st->site->name, 1, 1);
        }
        reply_json(resp, 200, st->view);
        st->view = NULL;
    }
    au_cleanup(req);
}

static void au_call(struct http_request *req, struct au_state *st)
{
    char prefix[80], days[24], audit[24], status[2] = { st->status, 0 };
    snprintf(prefix, sizeof prefix, "mg:{%s}:", st->site->name);
    snprintf(days, sizeof days, "%ld", st->site->trust.window_days);
    snprintf(audit, sizeof audit, "%lld", (long long)st->site->mod.audit_days * 86400000LL);
    const char *argv[9] = { prefix, st->key, days, st->meta ? "put" : "get", status, st->meta ? st->meta : "",
                            audit, req->ident.key_id, st->note ? st->note : "" };
    size_t lens[9];
    int argc = st->meta ? 9 : 4;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    req->resume = au_answer;
    store_script_async(&script, st->site->name, 0, argc, argv, lens, au_parse, req, au_redis_done, req);
}

/* GET /v1/sites/{site}/authors/{author} */
void authors_get_handle(struct http_request *req, struct http_response *resp)
{
    struct au_state *st = au_begin(req, resp);
    if (st)
        au_call(req, st);
}

/* PUT /v1/sites/{site}/authors/{author} {"status", "note"} */
void authors_put_handle(struct http_request *req, struct http_response *resp)
{
    struct au_state *st = au_begin(req, resp);
    if (!st)
        return;
    if (req_load(req, &st->root, resp)) {
        au_cleanup(req);
        return;
    }
    static const char *const known[] = { "status", "note", NULL };
    const char *k = req_unknown_field(st->root, known);
    json_t *s = json_object_get(st->root, "status"), *n = json_object_get(st->root, "note");
    const char *why = NULL, *code = "invalid_field";
    if (k)
        why = "the fields are status and note", code = "unknown_field";
    else if (!s)
        why = "status is required: \"normal\", \"trusted\", \"premod\" or \"banned\"", code = "missing_field";
    else if (!json_is_string(s))
        why = "status must be \"normal\", \"trusted\", \"premod\" or \"banned\"", code = "wrong_type";
    else if (n && !json_is_null(n) && !json_is_string(n))
        why = "note must be a string", code = "wrong_type";
    else if (json_is_string(n) && json_string_length(n) > 500)
        why = "note is at most 500 bytes";
    if (!why) {
        for (int i = 0; i < 4; i++)
            if (!strcmp(json_string_value(s), status_names[i]))
                st->status = status_chars[i];
        if (!st->status)
            why = "status must be \"normal\", \"trusted\", \"premod\" or \"banned\"";
    }
    if (why) {
        reply_error(resp, 400, code, "%s", why);
        au_cleanup(req);
        return;
    }
    st->note = json_is_string(n) ? json_string_value(n) : NULL;
    json_t *m = json_pack("{s:s,s:s,s:I}", "status", json_string_value(s), "by", req->ident.key_id, "at_ms",
                          (json_int_t)wall_ms());
    if (st->note)
        json_object_set_new(m, "note", json_string(st->note));
    st->meta = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
    au_call(req, st);
}
