/* threads.c - editorial settings per thread (threads.h). */
#include "threads.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "luascripts.h"
#include "reply.h"
#include "request.h"
#include "scall.h"
#include "store.h"
#include "util.h"

#define NOTE_MAX 500
#define LONGEST_S (10L * 365 * 86400) /* an end at most ten years away */

static struct store_script put_script = { .src = THREADS_PUT_LUA, .durable = 1 };
static struct store_script poll_script = { .src = THREADS_POLL_LUA };
static struct store_script fetch_script = { .src = THREADS_FETCH_LUA };

void threads_init(void)
{
    store_script_register(&put_script);
    store_script_register(&poll_script);
    store_script_register(&fetch_script);
}

static void keys_of(const char *site, char hash[100], char ends[100], char ver[100])
{
    snprintf(hash, 100, "mg:{%s}:threads", site);
    snprintf(ends, 100, "mg:{%s}:threads:ends", site);
    snprintf(ver, 100, "mg:{%s}:threads:ver", site);
}

/* ---------- the copies ---------- */

struct tentry {
    char *id;
    struct thread_setting s;
    char by[64];
    long long at_ms;
    char *note;
};

struct tsite {
    char name[65];
    long long ver;            /* the version these came from; -1: fetch again */
    long long floor;          /* the newest version this instance wrote: an older fetch is stale */
    struct tentry *v;         /* sorted by id */
    size_t n;
};

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct tsite *tab;
static size_t ntab;

static void entries_free(struct tentry *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].id);
        free(v[i].note);
    }
    free(v);
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const struct tentry *)a)->id, ((const struct tentry *)b)->id);
}

/* Site 'name''s copy (made when 'create'); NULL when there is none. Under
 * the lock. */
static struct tsite *site_of(const char *name, int create)
{
    for (size_t i = 0; i < ntab; i++)
        if (strcmp(tab[i].name, name) == 0)
            return &tab[i];
    if (!create)
        return NULL;
    tab = xrealloc(tab, (ntab + 1) * sizeof *tab);
    struct tsite *t = &tab[ntab++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

/* The index of the first entry of 't' not before 'id' (t->n: none). */
static size_t lower_bound(const struct tsite *t, const char *id)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(t->v[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const struct tentry *find(const struct tsite *t, const char *id)
{
    size_t i = t ? lower_bound(t, id) : 0;
    return t && i < t->n && strcmp(t->v[i].id, id) == 0 ? &t->v[i] : NULL;
}

int threads_lookup(const char *site, const char *thread_id, long long now_ms, struct thread_setting *out)
{
    int found = 0;
    pthread_rwlock_rdlock(&lock);
    const struct tentry *e = ntab ? find(site_of(site, 0), thread_id) : NULL;
    if (e && (!e->s.until_ms || e->s.until_ms > now_ms)) {
        *out = e->s;
        found = 1;
    }
    pthread_rwlock_unlock(&lock);
    return found;
}

/* A stored settings document (threads_put's, see settings_json) into 'e'.
 * Returns 0, or -1 when it is not one. */
static int entry_parse(const char *id, const char *text, struct tentry *e)
{
    memset(e, 0, sizeof *e);
    json_t *o = json_loads(text, 0, NULL);
    json_t *pm = json_object_get(o, "premod"), *cl = json_object_get(o, "closed");
    json_t *until = json_object_get(o, "until_ms"), *at = json_object_get(o, "at_ms");
    int ok = json_is_object(o) && (!pm || (json_is_string(pm) && !premod_parse(json_string_value(pm), &e->s.premod))) &&
             (!cl || json_is_boolean(cl)) && (pm || cl) && (!until || json_is_integer(until));
    if (ok) {
        e->id = xstrdup(id);
        e->s.has_premod = pm != NULL;
        e->s.has_closed = cl != NULL;
        e->s.closed = json_is_true(cl);
        e->s.until_ms = until ? (long long)json_integer_value(until) : 0;
        e->at_ms = json_is_integer(at) ? (long long)json_integer_value(at) : 0;
        const char *by = json_string_value(json_object_get(o, "by")), *note = json_string_value(json_object_get(o, "note"));
        snprintf(e->by, sizeof e->by, "%s", by ? by : "");
        e->note = note && *note ? xstrdup(note) : NULL;
    }
    json_decref(o);
    return ok ? 0 : -1;
}

/* Put 'e' (owned, or NULL: remove 'id'), which this instance wrote as
 * version 'v', into site 'name''s copy, unless the copy is newer already
 * (a fetch at 'v' or later has it, or a later change of this instance
 * came first); then have the poller fetch the site again, keeping any
 * fetch older than 'v' out (it may have been read before the write). */
static void apply_local(const char *name, const char *id, struct tentry *e, long long v)
{
    struct tentry old = { 0 };
    pthread_rwlock_wrlock(&lock);
    struct tsite *t = site_of(name, 1);
    if (t->ver >= v || t->floor > v) {
        pthread_rwlock_unlock(&lock);
        if (e) {
            free(e->id);
            free(e->note);
        }
        return;
    }
    t->ver = -1;
    t->floor = v;
    size_t lo = lower_bound(t, id);
    int there = lo < t->n && strcmp(t->v[lo].id, id) == 0;
    if (there)
        old = t->v[lo];
    if (e && there) {
        t->v[lo] = *e;
    } else if (e) {
        t->v = xrealloc(t->v, (t->n + 1) * sizeof *t->v);
        memmove(t->v + lo + 1, t->v + lo, (t->n - lo) * sizeof *t->v);
        t->v[lo] = *e;
        t->n++;
    } else if (there) {
        memmove(t->v + lo, t->v + lo + 1, (t->n - lo - 1) * sizeof *t->v);
        t->n--;
    }
    pthread_rwlock_unlock(&lock);
    free(old.id);
    free(old.note);
}

/* Fetch site 'name''s settings and make them its copy. Returns 0 or -1. */
static int fetch(const char *name)
{
    char hash[100], ends[100], ver[100];
    keys_of(name, hash, ends, ver);
    const char *argv[] = { hash, ver };
    struct scall s;
    scall_run(&fetch_script, name, 2, 2, argv, &s);
    if (s.rc || s.n % 2 != 1) {
        scall_free(&s);
        return -1;
    }
    size_t n = 0, bad = 0;
    struct tentry *v = xcalloc(s.n / 2 + 1, sizeof *v);
    for (size_t i = 1; i + 1 < s.n; i += 2)
        bad += entry_parse(s.v[i], s.v[i + 1], &v[n]) ? 1 : (n++, 0);
    if (bad)
        LOG_WARN(NULL, "threads: %zu stored settings of site %s are not settings; left out", bad, name);
    qsort(v, n, sizeof *v, by_id);
    long long got = scall_num(&s, 0);
    scall_free(&s);
    pthread_rwlock_wrlock(&lock);
    struct tsite *t = site_of(name, 1);
    struct tentry *old = v;
    size_t oldn = n;
    if (got >= t->floor) { /* else read before a write of this instance: fetched again next poll */
        old = t->v;
        oldn = t->n;
        t->v = v;
        t->n = n;
        t->ver = got;
    }
    pthread_rwlock_unlock(&lock);
    entries_free(old, oldn);
    return 0;
}

static long long known_version(const char *name)
{
    pthread_rwlock_rdlock(&lock);
    const struct tsite *t = site_of(name, 0);
    long long v = t ? t->ver : 0;
    pthread_rwlock_unlock(&lock);
    return v;
}

int threads_poll(const struct cfg *c)
{
    struct scall s;
    scall_sites(&poll_script, c, "threads:ver", &s); /* keys_of's 'ver' */
    int rc = s.rc == 0 && s.n == c->nsites ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < c->nsites; i++)
        if (scall_num(&s, i) != known_version(c->sites[i].name))
            rc = fetch(c->sites[i].name);
    scall_free(&s);
    return rc;
}

void threads_free(void)
{
    pthread_rwlock_wrlock(&lock);
    for (size_t i = 0; i < ntab; i++)
        entries_free(tab[i].v, tab[i].n);
    free(tab);
    tab = NULL;
    ntab = 0;
    pthread_rwlock_unlock(&lock);
}

/* ---------- the API ---------- */

static json_t *entry_view(const char *site, const struct tentry *e)
{
    json_t *o = json_pack("{s:s,s:s}", "site", site, "thread_id", e->id);
    if (e->s.has_premod)
        json_object_set_new(o, "premod", json_string(premod_name(e->s.premod)));
    if (e->s.has_closed)
        json_object_set_new(o, "closed", json_boolean(e->s.closed));
    char t[40];
    if (e->s.until_ms) {
        fmt_rfc3339(e->s.until_ms, t, sizeof t);
        json_object_set_new(o, "until", json_string(t));
    } else {
        json_object_set_new(o, "until", json_null());
    }
    fmt_rfc3339(e->at_ms, t, sizeof t);
    json_object_set_new(o, "at", json_string(t));
    json_object_set_new(o, "by", json_string(e->by));
    if (e->note)
        json_object_set_new(o, "note", json_string(e->note));
    return o;
}

/* The settings as stored: what entry_parse reads. */
static char *settings_json(const struct tentry *e)
{
    json_t *o = json_pack("{s:s,s:I}", "by", e->by, "at_ms", (json_int_t)e->at_ms);
    if (e->s.has_premod)
        json_object_set_new(o, "premod", json_string(premod_name(e->s.premod)));
    if (e->s.has_closed)
        json_object_set_new(o, "closed", json_boolean(e->s.closed));
    if (e->s.until_ms)
        json_object_set_new(o, "until_ms", json_integer((json_int_t)e->s.until_ms));
    if (e->note)
        json_object_set_new(o, "note", json_string(e->note));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

struct th_state {
    const struct site_cfg *site;  /* borrowed from req->cfg */
    char id[129];
    struct tentry e;              /* the new settings (PUT) */
    int del;
    struct scall call;
};

static void th_cleanup(struct http_request *req)
{
    struct th_state *st = req->state;
    if (!st)
        return;
    free(st->e.id);
    free(st->e.note);
    scall_free(&st->call);
    free(st);
    req->state = NULL;
}

static void th_done(void *arg)
{
    http_async_done(arg);
}

/* The site and the thread id of /v1/sites/{site}/threads/{thread_id}
 * into a new state. NULL with the error in 'resp'. */
static struct th_state *th_begin(struct http_request *req, struct http_response *resp)
{
    const struct site_cfg *site = req_path_site(req, resp);
    if (!site)
        return NULL;
    const char *seg = strstr(req->path + strlen("/v1/sites/"), "/threads/"); /* routes.c matched that shape */
    const char *id = seg ? seg + strlen("/threads/") : "";
    size_t n = strlen(id);
    if (!req_id_ok(id, n)) {
        reply_error(resp, 400, "bad_parameter",
                    "the thread id must be 1-128 characters without control characters");
        return NULL;
    }
    struct th_state *st = xcalloc(1, sizeof *st);
    st->site = site;
    memcpy(st->id, id, n + 1);
    req->state = st;
    req->cleanup = th_cleanup;
    return st;
}

/* "2026-12-08T18:00:00Z", or with milliseconds as GET gives it back
 * ("...:00.250Z"), in ms; -1 when it is neither. */
static long long until_ms_of(const char *t)
{
    size_t n = strlen(t);
    if (n == 24 && t[19] == '.' && t[23] == 'Z' && isdigit((unsigned char)t[20]) &&
        isdigit((unsigned char)t[21]) && isdigit((unsigned char)t[22])) {
        char whole[21];
        memcpy(whole, t, 19);
        memcpy(whole + 19, "Z", 2);
        long long s = parse_utc_s(whole);
        return s < 0 ? -1 : s * 1000 + (t[20] - '0') * 100 + (t[21] - '0') * 10 + (t[22] - '0');
    }
    long long s = parse_utc_s(t);
    return s < 0 ? -1 : s * 1000;
}

/* The PUT body into st->e. Returns 0, or -1 with a 400 in 'resp'. */
static int parse_put(struct http_request *req, struct http_response *resp, struct th_state *st)
{
    json_t *root = NULL;
    if (req_load(req, &root, resp)) {
        json_decref(root);
        return -1;
    }
    static const char *const known[] = { "premod", "closed", "until", "for_s", "note", NULL };
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k))
            i++;
        if (!known[i]) {
            reply_error(resp, 400, "unknown_field", "unknown field \"%.64s\": the fields are premod, closed, "
                        "until, for_s and note", k);
            json_decref(root);
            return -1;
        }
    }
    struct tentry *e = &st->e;
    json_t *pm = json_object_get(root, "premod"), *cl = json_object_get(root, "closed");
    json_t *until = json_object_get(root, "until"), *for_s = json_object_get(root, "for_s");
    json_t *note = json_object_get(root, "note");
    const char *why = NULL, *code = "invalid_field";
    long long now = wall_ms();
    if (pm && !json_is_string(pm))
        why = "premod must be \"none\", \"new\", \"links\" or \"all\"", code = "wrong_type";
    else if (pm && premod_parse(json_string_value(pm), &e->s.premod))
        why = "premod must be \"none\", \"new\", \"links\" or \"all\"";
    else if (cl && !json_is_boolean(cl))
        why = "closed must be true or false", code = "wrong_type";
    else if (!pm && !cl)
        why = "set premod, closed or both", code = "missing_field";
    else if (until && for_s)
        why = "give until or for_s, not both";
    else if (until && (!json_is_string(until) || until_ms_of(json_string_value(until)) < 0))
        why = "until must be a UTC time like 2026-12-31T18:00:00Z (or 2026-12-31T18:00:00.000Z)";
    else if (until && (until_ms_of(json_string_value(until)) <= now ||
                       until_ms_of(json_string_value(until)) > now + LONGEST_S * 1000))
        why = "until must be in the future, at most ten years away";
    else if (for_s && (!json_is_integer(for_s) || json_integer_value(for_s) < 1 ||
                       json_integer_value(for_s) > LONGEST_S))
        why = "for_s must be a whole number of seconds from 1 to 315360000 (ten years)";
    else if (note && (!json_is_string(note) || json_string_length(note) > NOTE_MAX))
        why = "note must be a string of at most 500 bytes", code = "wrong_type";
    if (why) {
        reply_error(resp, 400, code, "%s", why);
        json_decref(root);
        return -1;
    }
    e->s.has_premod = pm != NULL;
    e->s.has_closed = cl != NULL;
    e->s.closed = json_is_true(cl);
    e->s.until_ms = until ? until_ms_of(json_string_value(until))
                  : for_s ? now + (long long)json_integer_value(for_s) * 1000 : 0;
    e->at_ms = now;
    snprintf(e->by, sizeof e->by, "%s", req->ident.key_id);
    e->note = note && json_string_length(note) ? xstrdup(json_string_value(note)) : NULL;
    e->id = xstrdup(st->id);
    json_decref(root);
    return 0;
}

static void put_done(struct http_request *req, struct http_response *resp)
{
    struct th_state *st = req->state;
    struct scall *r = &st->call;
    if (r->rc || r->n < 2) {
        reply_error(resp, 503, "redis_unavailable", "Redis did not answer in time: the change may or may not "
                    "have been stored; send it again (the same PUT or DELETE twice does the same)");
    } else if (scall_num(r, 0) == 0) {
        reply_error(resp, 409, "too_many_threads", "site \"%s\" has settings for %lld threads, the most it may "
                    "have (%d): delete some first", st->site->name, scall_num(r, 1), THREADS_MAX);
    } else if (st->del) {
        apply_local(st->site->name, st->id, NULL, scall_num(r, 1));
        reply_json(resp, 200, json_pack("{s:s,s:s,s:b}", "site", st->site->name, "thread_id", st->id, "deleted",
                                        scall_num(r, 2) == 1));
        LOG_INFO(req->id, "threads: %s cleared the settings of a thread of site %s", req->ident.key_id,
                 st->site->name);
    } else {
        json_t *o = entry_view(st->site->name, &st->e);
        json_object_set_new(o, "created", json_boolean(scall_num(r, 2) == 0));
        struct tentry *e = xmalloc(sizeof *e);
        *e = st->e; /* moved into the copy */
        memset(&st->e, 0, sizeof st->e);
        apply_local(st->site->name, st->id, e, scall_num(r, 1));
        free(e);
        reply_json(resp, 200, o);
        LOG_INFO(req->id, "threads: %s set a thread of site %s", req->ident.key_id, st->site->name);
    }
    th_cleanup(req);
}

/* Run threads_put.lua: st->e's settings, or none (st->del). */
static void store_change(struct http_request *req, struct th_state *st)
{
    char hash[100], ends[100], ver[100], until[24], max[16];
    keys_of(st->site->name, hash, ends, ver);
    char *doc = st->del ? xstrdup("") : settings_json(&st->e);
    snprintf(until, sizeof until, "%lld", st->del ? 0LL : st->e.s.until_ms);
    snprintf(max, sizeof max, "%d", THREADS_MAX);
    const char *argv[] = { hash, ends, ver, st->id, doc, until, max };
    req->resume = put_done;
    scall_async(&put_script, st->site->name, 3, 7, argv, &st->call, th_done, req);
    free(doc);
}

/* PUT /v1/sites/{site}/threads/{thread_id} {"premod","closed","until"|"for_s","note"} */
void threads_put_handle(struct http_request *req, struct http_response *resp)
{
    struct th_state *st = th_begin(req, resp);
    if (!st)
        return;
    if (parse_put(req, resp, st)) {
        th_cleanup(req);
        return;
    }
    store_change(req, st);
}

/* DELETE /v1/sites/{site}/threads/{thread_id}: back to the site's settings. */
void threads_delete_handle(struct http_request *req, struct http_response *resp)
{
    struct th_state *st = th_begin(req, resp);
    if (!st)
        return;
    st->del = 1;
    store_change(req, st);
}

/* GET /v1/sites/{site}/threads/{thread_id}: this instance's copy (at most
 * one poll behind Redis). */
void threads_get_handle(struct http_request *req, struct http_response *resp)
{
    struct th_state *st = th_begin(req, resp);
    if (!st)
        return;
    json_t *o = NULL;
    long long now = wall_ms();
    pthread_rwlock_rdlock(&lock);
    const struct tentry *e = find(site_of(st->site->name, 0), st->id);
    if (e && (!e->s.until_ms || e->s.until_ms > now))
        o = entry_view(st->site->name, e);
    pthread_rwlock_unlock(&lock);
    if (o)
        reply_json(resp, 200, o);
    else
        reply_error(resp, 404, "unknown_thread", "thread \"%.128s\" of site \"%s\" has no settings of its own "
                    "(or they ended): the site's apply", st->id, st->site->name);
    th_cleanup(req);
}

/* GET /v1/sites/{site}/threads?after=ID&limit=N: the threads with
 * settings that have not ended, by id. */
void threads_list_handle(struct http_request *req, struct http_response *resp)
{
    const struct site_cfg *site = req_path_site(req, resp);
    if (!site)
        return;
    long limit = 100;
    const char *lim = http_arg(req, "limit"), *after = http_arg(req, "after");
    if (lim && *lim && parse_long(lim, 1, 1000, &limit)) {
        reply_error(resp, 400, "bad_parameter", "limit must be a whole number from 1 to 1000");
        return;
    }
    long long now = wall_ms();
    json_t *list = json_array();
    size_t total = 0;
    const char *next = NULL;
    pthread_rwlock_rdlock(&lock);
    const struct tsite *t = site_of(site->name, 0);
    for (size_t i = 0; t && i < t->n; i++) {
        const struct tentry *e = &t->v[i];
        if (e->s.until_ms && e->s.until_ms <= now)
            continue;
        total++;
        if (after && strcmp(e->id, after) <= 0)
            continue;
        if (json_array_size(list) < (size_t)limit)
            json_array_append_new(list, entry_view(site->name, e));
        else if (!next)
            next = e->id;
    }
    json_t *o = json_pack("{s:s,s:o,s:I}", "site", site->name, "threads", list, "total", (json_int_t)total);
    if (next) /* the last one listed: where the next page starts after */
        json_object_set(o, "next_after", json_object_get(json_array_get(list, json_array_size(list) - 1),
                                                         "thread_id"));
    pthread_rwlock_unlock(&lock);
    reply_json(resp, 200, o);
}
