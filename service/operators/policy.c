/* policy.c - stored per-site policies: the API, the poller, the swap.
 *
 * Every config swap goes through here (under 'mu'), whether it comes from
 * a PUT on this instance, the poller seeing another instance's change or
 * a SIGHUP, so the three never undo each other: each builds the new config
 * from the running config's file and the overlay table below. */
#include "policy.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "luascripts.h"
#include "request.h"
#include "scall.h"
#include "threads.h"
#include "store.h"
#include "util.h"

#define POLL_MS 200         /* a change is seen by every instance within this, plus a round trip */
#define INFO_POLLS 150      /* Redis's persistence settings looked at again every 30 s: they rarely change */
#define NOTE_MAX 500
#define LIST_MAX 100

/* The policy scripts (luascripts.h): service/redis/lua/policy_*.lua, whose
 * headers give their KEYS, ARGV and replies. */
static struct store_script poll_script = { .src = POLICY_POLL_LUA };
static struct store_script fetch_script = { .src = POLICY_FETCH_LUA };
static struct store_script put_script = { .src = POLICY_PUT_LUA, .durable = 1 };
static struct store_script list_script = { .src = POLICY_LIST_LUA };

/* A number the scripts answered as text (0 for anything else). */
static long long num(const char *s)
{
    return strtoll(s, NULL, 10);
}

static void keys_of(const char *site, char pol[100], char log_[100])
{
    snprintf(pol, 100, "mg:{%s}:policy", site);
    snprintf(log_, 100, "mg:{%s}:policy:log", site);
}

/* ---------- the overlay table and the swap ---------- */

struct overlay {
    char site[65];
    long version;
    json_t *doc;          /* owned; NULL: the file's */
    char by[64];
    long long at_ms;
    int unfit;            /* the file in force does not take doc: the site gets the file's */
    long older_seen;      /* the poller last saw Redis at this lower version (0: it did not) */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct overlay *ov;
static size_t nov;
static char last_err[512];    /* the last swap failure logged, under mu: logged once */

static struct overlay *overlay_of(const char *site)
{
    for (size_t i = 0; i < nov; i++)
        if (strcmp(ov[i].site, site) == 0)
            return &ov[i];
    ov = xrealloc(ov, (nov + 1) * sizeof *ov);
    struct overlay *o = &ov[nov++];
    memset(o, 0, sizeof *o);
    snprintf(o->site, sizeof o->site, "%s", site);
    return o;
}

/* Where config.c's error 'err' ("sites.S.field: why") points inside site
 * 'site': just after "sites.S." (or at ": why" for the site itself), or
 * NULL when it is about something else. */
static const char *in_site(const char *err, const char *site)
{
    size_t n = strlen(site);
    if (strncmp(err, "sites.", 6) != 0 || strncmp(err + 6, site, n) != 0)
        return NULL;
    const char *r = err + 6 + n;
    return *r == '.' ? r + 1 : *r == ':' ? r : NULL;
}

/* 'file''s file with the overlays laid over it (new), or NULL when there
 * is nothing to lay over. An overlay the file does not take is marked
 * unfit (kept: a later file may take it), so one bad version cannot keep
 * every other site's change out. */
static struct cfg *compose_locked(const struct cfg *file)
{
    struct cfg_policy *p = xcalloc(nov + 1, sizeof *p);
    struct cfg *c = NULL;
    for (;;) {
        size_t n = 0;
        for (size_t i = 0; i < nov; i++)
            if (ov[i].version > 0 && cfg_site(file, ov[i].site, NULL))
                p[n++] = (struct cfg_policy){ ov[i].site, ov[i].unfit ? NULL : ov[i].doc, ov[i].version, ov[i].by,
                                              ov[i].at_ms };
        if (n == 0)
            break;
        char err[512];
        if ((c = cfg_with_policies(file, n, p, err, sizeof err)))
            break;
        struct overlay *bad = NULL;
        for (size_t i = 0; i < nov && !bad; i++)
            if (ov[i].doc && !ov[i].unfit && in_site(err, ov[i].site))
                bad = &ov[i];
        if (!bad) {
            LOG_ERROR(NULL, "policy: the stored policies do not fit the config file, using the file's: %s", err);
            break;
        }
        LOG_ERROR(NULL, "policy: version %ld of site %s does not fit the config file, the site gets the "
                  "file's policy until a new version or a config file that takes it: %s", bad->version, bad->site,
                  err);
        bad->unfit = 1;
    }
    free(p);
    return c;
}

/* Lay the overlays over the running config's file and swap it in.
 * Returns 0, or -1 when even the file alone does not load now (a secret
 * file gone, say): nothing was swapped. */
static int reswap_locked(void)
{
    struct cfg *cur = cfg_acquire();
    char err[512];
    struct cfg *c = cfg_with_policies(cur, 0, NULL, err, sizeof err); /* the file alone */
    cfg_release(cur);
    if (!c) {
        if (strcmp(err, last_err) != 0)
            LOG_ERROR(NULL, "policy: cannot apply a new version: the config file does not load now: %s", err);
        snprintf(last_err, sizeof last_err, "%s", err);
        return -1;
    }
    last_err[0] = 0;
    struct cfg *o = compose_locked(c);
    if (o) {
        cfg_release(c);
        c = o;
    }
    cfg_swap(c);
    return 0;
}

void policy_swap_file(struct cfg *file)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nov; i++)
        ov[i].unfit = 0; /* the new file may take what the old one did not */
    struct cfg *c = compose_locked(file);
    if (c)
        cfg_release(file);
    cfg_swap(c ? c : file);
    pthread_mutex_unlock(&mu);
}

enum apply_from { FROM_PUT, FROM_POLL };

/* Record version 'version' of 'site' (doc borrowed; NULL: the file's) and
 * swap in a config that has it, unless this version is there already.
 * A PUT never goes back to an older version: the poller may have seen
 * another instance's next one first. The poller goes back only when it
 * saw Redis at that older version twice in a row (Redis restored or
 * emptied), not on one poll that raced with a PUT here. When the swap
 * fails nothing is recorded, so the poller tries again. */
static void apply(const char *site, long version, json_t *doc, const char *by, long long at_ms, enum apply_from from)
{
    pthread_mutex_lock(&mu);
    struct overlay *o = overlay_of(site);
    int go = o->version != version;
    if (go && version < o->version) {
        go = from == FROM_POLL && o->older_seen == version;
        if (from == FROM_POLL && !go)
            o->older_seen = version;
    }
    if (go) {
        struct overlay old = *o;
        o->doc = doc ? json_deep_copy(doc) : NULL; /* shares nothing with a request's tree */
        o->version = version;
        snprintf(o->by, sizeof o->by, "%s", by ? by : "");
        o->at_ms = at_ms;
        o->unfit = 0;
        o->older_seen = 0;
        if (reswap_locked() == 0) {
            json_decref(old.doc);
            LOG_INFO(NULL, "policy: site %s now has version %ld (%s)", site, version, doc ? "stored" : "the file's");
        } else {
            json_decref(o->doc);
            *o = old;
        }
    } else if (o->version == version) {
        o->older_seen = 0;
    }
    pthread_mutex_unlock(&mu);
}

/* ---------- the poller ---------- */

static long known_version(const char *site)
{
    pthread_mutex_lock(&mu);
    long v = 0;
    for (size_t i = 0; i < nov; i++)
        if (strcmp(ov[i].site, site) == 0)
            v = ov[i].version;
    pthread_mutex_unlock(&mu);
    return v;
}

/* One look at the stored versions; fetches and applies the changed ones.
 * Returns 0, or -1 when Redis did not answer. */
static int poll_once(void)
{
    struct cfg *c = cfg_acquire();
    size_t n = c->nsites;
    char (*keys)[100] = xcalloc(n, sizeof *keys);
    const char **argv = xcalloc(n, sizeof *argv);
    for (size_t i = 0; i < n; i++) {
        char lg[100];
        keys_of(c->sites[i].name, keys[i], lg);
        argv[i] = keys[i];
    }
    struct scall s;
    scall_run(&poll_script, c->sites[0].name, (int)n, (int)n, argv, &s);
    int rc = s.rc == 0 && s.n == n ? 0 : -1;
    size_t nch = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (num(s.v[i]) != known_version(c->sites[i].name))
            argv[nch++] = keys[i];
    scall_free(&s);
    if (rc == 0 && nch) {
        scall_run(&fetch_script, c->sites[0].name, (int)nch, (int)nch, argv, &s);
        rc = s.rc == 0 && s.n == 4 * nch ? 0 : -1;
        for (size_t i = 0; rc == 0 && i < nch; i++) {
            const char *site = argv[i] + 4; /* "mg:{" */
            char name[65];
            snprintf(name, sizeof name, "%.*s", (int)(strchr(site, '}') - site), site);
            json_t *doc = s.v[4 * i + 1][0] ? json_loads(s.v[4 * i + 1], 0, NULL) : NULL;
            if (s.v[4 * i + 1][0] && !json_is_object(doc)) { /* recorded as the file's: logged once */
                LOG_ERROR(NULL, "policy: version %s of site %s is not a JSON object in Redis; the site gets "
                          "the config file's policy", s.v[4 * i], name);
                json_decref(doc);
                doc = NULL;
            }
            apply(name, num(s.v[4 * i]), doc, s.v[4 * i + 2], num(s.v[4 * i + 3]), FROM_POLL);
            json_decref(doc);
        }
        scall_free(&s);
    }
    free(argv);
    free(keys);
    cfg_release(c);
    return rc;
}

static int (*also[4])(const struct cfg *c);
static int nalso;

void policy_also_poll(int (*fn)(const struct cfg *c))
{
    if (nalso < (int)(sizeof also / sizeof *also))
        also[nalso++] = fn;
}

static pthread_t thr;
static int started;
static _Atomic int quit;
static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int first_done;

static void *poll_main(void *arg)
{
    (void)arg;
    int down = 0;
    for (long polls = 1; !atomic_load(&quit); polls++) {
        int rc = poll_once();
        if (rc == 0) { /* the threads' settings ride on the same poll (threads.h) */
            struct cfg *c = cfg_acquire();
            rc = threads_poll(c);
            for (int i = 0; rc == 0 && i < nalso; i++)
                rc = also[i](c);
            cfg_release(c);
        }
        if (polls % INFO_POLLS == 0) { /* logs a change (store.h) */
            struct store_redis_info ri;
            store_redis_info(&ri);
            store_redis_info_log(&ri);
        }
        if (rc && !down)
            LOG_WARN(NULL, "policy: cannot read the stored policies from Redis; keeping the ones in force");
        down = rc != 0;
        pthread_mutex_lock(&wake_mu);
        first_done = 1;
        pthread_cond_broadcast(&wake);
        struct timespec ts = deadline_ms(POLL_MS);
        if (!atomic_load(&quit))
            pthread_cond_timedwait(&wake, &wake_mu, &ts);
        pthread_mutex_unlock(&wake_mu);
    }
    return NULL;
}

int policy_start(void)
{
    store_script_register(&poll_script);
    store_script_register(&fetch_script);
    store_script_register(&put_script);
    store_script_register(&list_script);
    threads_init();
    if (pthread_create(&thr, NULL, poll_main, NULL) != 0)
        return -1;
    started = 1;
    pthread_mutex_lock(&wake_mu);
    while (!first_done)
        pthread_cond_wait(&wake, &wake_mu);
    pthread_mutex_unlock(&wake_mu);
    return 0;
}

int policy_stop_within(int ms)
{
    if (!started)
        return 0;
    atomic_store(&quit, 1);
    pthread_mutex_lock(&wake_mu);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&wake_mu);
    struct timespec ts = deadline_ms(ms);
    if (pthread_timedjoin_np(thr, NULL, &ts) != 0)
        return -1;
    started = 0;
    policy_stop();
    return 0;
}

void policy_stop(void)
{
    if (started) {
        thread_stop(thr, &quit, &wake_mu, &wake);
        started = 0;
    }
    threads_free();
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nov; i++)
        json_decref(ov[i].doc);
    free(ov);
    ov = NULL;
    nov = 0;
    pthread_mutex_unlock(&mu);
}

/* ---------- the API ---------- */

struct pol_state {
    const struct site_cfg *site;  /* borrowed from req->cfg */
    json_t *doc;                  /* the new policy (owned); NULL: the file's */
    long base;                    /* -1: any */
    long revert;                  /* -1: not a revert */
    long before, limit;
    char note[NOTE_MAX + 1];
    char by[64];
    long long at_ms;
    struct scall call;        /* the script's answer (waited for asynchronously) */
};

static void pol_cleanup(struct http_request *req)
{
    struct pol_state *st = req->state;
    if (!st)
        return;
    json_decref(st->doc);
    scall_free(&st->call);
    free(st);
    req->state = NULL;
}

static void pol_done(void *arg)
{
    http_async_done(arg);
}

/* 400 invalid_policy naming the field: 'err' is "sites.S.field: why" from
 * the config parser or "field: why" from cfg_policy_check. */
static void reply_invalid(struct http_response *resp, const struct site_cfg *s, const char *err)
{
    const char *inside = in_site(err, s->name);
    if (inside && *inside != ':')
        err = inside;
    const char *colon = strstr(err, ": ");
    json_t *e = json_pack("{s:s,s:s,s:s%}", "code", "invalid_policy", "message", err, "field", err,
                          colon ? (size_t)(colon - err) : strlen(err));
    reply_json(resp, 400, json_pack("{s:o}", "error", e));
}

/* 'patch' laid over site 's''s policy in force, field by field inside its
 * sections (new; shares nothing with 'patch'). */
static json_t *merged(const struct site_cfg *s, json_t *patch)
{
    json_t *d = cfg_policy_json(s), *v;
    const char *k;
    json_object_foreach(patch, k, v) {
        json_t *cur = json_object_get(d, k), *copy = json_deep_copy(v);
        /* a bucket is replaced whole: per_minute and per_second exclude each other */
        if (json_is_object(cur) && json_is_object(copy) && strcmp(k, "api_rate_limit") != 0)
            json_object_update(cur, copy);
        else
            json_object_set(d, k, copy);
        json_decref(copy);
    }
    return d;
}

/* The config 'req->cfg' would be with site 's' under policy 'doc' (new
 * reference), or NULL with the 400 in 'resp'. */
static struct cfg *with_doc(struct http_request *req, const struct site_cfg *s, json_t *doc,
                            struct http_response *resp)
{
    char err[512];
    if (cfg_policy_check(doc, err, sizeof err)) {
        reply_invalid(resp, s, err);
        return NULL;
    }
    struct cfg_policy p = { s->name, doc, 1, "", 0 };
    struct cfg *c = cfg_with_policies(req->cfg, 1, &p, err, sizeof err);
    if (!c && in_site(err, s->name))
        reply_invalid(resp, s, err);
    else if (!c) /* another site's or a secret file: nothing this policy can fix */
        reply_error(resp, 500, "internal", "the config file does not load now, so no policy can be checked: %s", err);
    return c;
}

/* Would site 's' take policy 'doc'? 0, or -1 with the 400 in 'resp'. */
static int validate(struct http_request *req, const struct site_cfg *s, json_t *doc, struct http_response *resp)
{
    struct cfg *c = with_doc(req, s, doc, resp);
    cfg_release(c);
    return c ? 0 : -1;
}

struct cfg *policy_try(struct http_request *req, const struct site_cfg *s, json_t *patch, json_t **merged_out,
                       struct http_response *resp)
{
    char err[512];
    if (!json_is_object(patch)) {
        reply_error(resp, 400, "wrong_type", "policy must be an object");
        return NULL;
    }
    if (cfg_policy_check(patch, err, sizeof err)) {
        reply_invalid(resp, s, err);
        return NULL;
    }
    json_t *d = merged(s, patch);
    struct cfg *c = with_doc(req, s, d, resp);
    if (c && merged_out)
        *merged_out = d;
    else
        json_decref(d);
    return c;
}

/* The body's "policy", "base_version" and "note" (or "version" for a
 * revert) into 'st'. Returns the root (new) or NULL with the error. */
static json_t *load_body(struct http_request *req, struct http_response *resp, struct pol_state *st,
                         const char *const *known, const char *required)
{
    json_t *root = NULL;
    if (req_load(req, &root, resp))
        goto bad;
    const char *unknown = req_unknown_field(root, known);
    if (unknown) {
        reply_error(resp, 400, "unknown_field", "%.64s is not a known field%s", unknown,
                    strcmp(required, "policy") == 0 ? " (the policy's fields go inside \"policy\")" : "");
        goto bad;
    }
    json_t *v = json_object_get(root, required);
    if (!v) {
        reply_error(resp, 400, "missing_field", "%s is required", required);
        goto bad;
    }
    json_t *b = json_object_get(root, "base_version");
    st->base = -1;
    if (b && !json_is_null(b)) {
        if (!json_is_integer(b) || json_integer_value(b) < 0) {
            reply_error(resp, 400, "wrong_type", "base_version must be a whole number >= 0 (the version you edited)");
            goto bad;
        }
        st->base = (long)json_integer_value(b);
    }
    json_t *n = json_object_get(root, "note");
    if (n && !json_is_null(n)) {
        if (!json_is_string(n) || json_string_length(n) > NOTE_MAX) {
            reply_error(resp, 400, "wrong_type", "note must be a string of at most %d bytes", NOTE_MAX);
            goto bad;
        }
        snprintf(st->note, sizeof st->note, "%s", json_string_value(n));
    }
    return root;
bad:
    json_decref(root);
    return NULL;
}

static struct pol_state *pol_begin(struct http_request *req, struct http_response *resp)
{
    struct pol_state *st = xcalloc(1, sizeof *st);
    req->state = st;
    req->cleanup = pol_cleanup;
    st->revert = -1;
    if (!(st->site = req_path_site(req, resp))) {
        pol_cleanup(req);
        return NULL;
    }
    return st;
}

/* The answer about site 's' of 'c': its policy in force and where from. */
static json_t *policy_view(const struct site_cfg *s)
{
    json_t *o = json_pack("{s:s,s:I,s:s,s:o}", "site", s->name, "version", (json_int_t)s->policy_version,
                          "source", s->policy_stored ? "stored" : "file", "policy",
                          cfg_policy_json(s));
    if (s->policy_version > 0) {
        json_object_set_new(o, "by", json_string(s->policy_by));
        json_object_set_new(o, "at", reply_time(s->policy_at_ms));
    }
    return o;
}

/* GET /v1/sites/{site}/policy: the policy this instance applies. */
void policy_get_handle(struct http_request *req, struct http_response *resp)
{
    const struct site_cfg *s = req_path_site(req, resp);
    if (s)
        reply_json_exact(resp, 200, policy_view(s));
}

/* POST /v1/sites/{site}/policy/validate {"policy":{...}}: would a PUT take it? */
void policy_validate_handle(struct http_request *req, struct http_response *resp)
{
    struct pol_state *st = pol_begin(req, resp);
    if (!st)
        return;
    static const char *const known[] = { "policy", "base_version", "note", NULL };
    json_t *root = load_body(req, resp, st, known, "policy");
    json_t *d = NULL;
    struct cfg *c = root ? policy_try(req, st->site, json_object_get(root, "policy"), &d, resp) : NULL;
    if (c)
        reply_json_exact(resp, 200, json_pack("{s:b,s:o}", "valid", 1, "policy", d));
    cfg_release(c);
    json_decref(root);
    pol_cleanup(req);
}

static void put_done(struct http_request *req, struct http_response *resp)
{
    struct pol_state *st = req->state;
    struct scall *r = &st->call;
    if (r->rc || r->n != 2) {
        reply_error(resp, 503, "redis_unavailable", "Redis is unavailable; the policy was not changed, try again");
    } else if (num(r->v[0]) == 0) {
        json_t *e = json_pack("{s:s,s:s,s:I}", "code", "version_conflict", "message",
                              "the policy changed since the version you edited: load it again", "current_version",
                              (json_int_t)num(r->v[1]));
        reply_json(resp, 409, json_pack("{s:o}", "error", e));
    } else {
        long v = num(r->v[1]);
        apply(st->site->name, v, st->doc, st->by, st->at_ms, FROM_PUT);
        struct cfg *now = cfg_acquire();
        const struct site_cfg *s = cfg_site(now, st->site->name, NULL);
        json_t *o = s ? policy_view(s) : json_pack("{s:s}", "site", st->site->name);
        cfg_release(now);
        json_object_set_new(o, "version", json_integer(v)); /* this one, even if another came since */
        if (st->revert >= 0)
            json_object_set_new(o, "reverted_from", json_integer(st->revert));
        reply_json_exact(resp, 200, o);
        LOG_INFO(req->id, "policy: %s stored version %ld of site %s%s", st->by, v, st->site->name,
                 st->revert >= 0 ? " (a revert)" : "");
    }
    pol_cleanup(req);
}

/* Store st->doc as the next version (st->base: the one it replaces). */
static void store_put(struct http_request *req, struct pol_state *st)
{
    snprintf(st->by, sizeof st->by, "%s", req->ident.key_id);
    st->at_ms = wall_ms();
    char *doc = st->doc ? json_dumps(st->doc, JSON_COMPACT | JSON_SORT_KEYS) : xstrdup("");
    json_t *e = json_pack("{s:s,s:I,s:s,s:O}", "by", st->by, "at", (json_int_t)st->at_ms, "note", st->note, "policy",
                          st->doc ? st->doc : json_null());
    if (st->revert >= 0)
        json_object_set_new(e, "reverted_from", json_integer(st->revert));
    char *entry = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(e);
    char pol[100], lg[100], base[24], at[24];
    keys_of(st->site->name, pol, lg);
    snprintf(base, sizeof base, "%ld", st->base);
    snprintf(at, sizeof at, "%lld", st->at_ms);
    const char *argv[] = { pol, lg, st->base < 0 ? "" : base, doc, st->by, at, entry };
    req->resume = put_done;
    scall_async(&put_script, st->site->name, 2, 7, argv, &st->call, pol_done, req);
    free(doc);
    free(entry);
}

/* PUT /v1/sites/{site}/policy {"policy":{...},"base_version":N,"note":"..."}:
 * the sections it names replace the ones in force, field by field. */
void policy_put_handle(struct http_request *req, struct http_response *resp)
{
    struct pol_state *st = pol_begin(req, resp);
    if (!st)
        return;
    static const char *const known[] = { "policy", "base_version", "note", NULL };
    json_t *root = load_body(req, resp, st, known, "policy");
    if (!root) {
        pol_cleanup(req);
        return;
    }
    struct cfg *c = policy_try(req, st->site, json_object_get(root, "policy"), &st->doc, resp);
    json_decref(root);
    if (!c) {
        pol_cleanup(req);
        return;
    }
    cfg_release(c);
    /* The change was laid over the version this instance has: store it only
     * if that is still Redis's, or another change made meanwhile (here or
     * on an instance this one has not heard from yet) would be lost. */
    long src = st->site->policy_version;
    if (st->base >= 0 && st->base != src) {
        json_t *e = json_pack("{s:s,s:s,s:I}", "code", "version_conflict", "message",
                              st->base > src ? "this instance has not seen that version yet: try again in a second"
                                             : "the policy changed since the version you edited: load it again",
                              "current_version", (json_int_t)(st->base > src ? st->base : src));
        reply_json(resp, 409, json_pack("{s:o}", "error", e));
        pol_cleanup(req);
        return;
    }
    st->base = src;
    store_put(req, st);
}

/* ---------- versions ---------- */

/* A stored log entry as the API shows it (new), or NULL when it is not JSON. */
static json_t *entry_view(long version, const char *text)
{
    json_t *e = json_loads(text, 0, NULL);
    if (!json_is_object(e)) {
        json_decref(e);
        return NULL;
    }
    json_t *at = json_object_get(e, "at");
    if (json_is_integer(at))
        json_object_set_new(e, "at", reply_time(json_integer_value(at)));
    json_object_set_new(e, "version", json_integer(version));
    return e;
}

static void list_done(struct http_request *req, struct http_response *resp)
{
    struct pol_state *st = req->state;
    struct scall *r = &st->call;
    if (r->rc || r->n < 1 || r->n % 2 == 0) {
        reply_error(resp, 503, "redis_unavailable", "Redis is unavailable; try again");
        pol_cleanup(req);
        return;
    }
    json_t *list = json_array();
    long cur = num(r->v[0]);
    long lowest = st->before > 0 && st->before <= cur + 1 ? st->before : cur + 1; /* below what was asked */
    for (size_t i = 1; i + 1 < r->n; i += 2) {
        lowest = num(r->v[i]);
        json_t *e = entry_view(lowest, r->v[i + 1]);
        if (e)
            json_array_append_new(list, e);
    }
    /* version 0 last: the config file, the bootstrap every site starts from */
    int more = lowest > 1 || (long)json_array_size(list) >= st->limit;
    if (!more) {
        struct cfg *file = cfg_with_policies(req->cfg, 0, NULL, (char[8]){ 0 }, 8);
        const struct site_cfg *fs = file ? cfg_site(file, st->site->name, NULL) : NULL;
        if (fs)
            json_array_append_new(list, json_pack("{s:i,s:s,s:s,s:o}", "version", 0, "by", "config file", "note",
                                                  file->path, "policy", cfg_policy_json(fs)));
        cfg_release(file);
    }
    json_t *o = json_pack("{s:s,s:I,s:o}", "site", st->site->name, "current_version", (json_int_t)num(r->v[0]),
                          "versions", list);
    if (more)
        json_object_set_new(o, "next_before", json_integer(lowest));
    reply_json_exact(resp, 200, o);
    pol_cleanup(req);
}

static int arg_long(struct http_request *req, struct http_response *resp, const char *name, long lo, long hi,
                    long def, long *out)
{
    const char *v = http_arg(req, name);
    *out = def;
    if (!v || !*v)
        return 0;
    if (parse_long(v, lo, hi, out)) {
        reply_error(resp, 400, "bad_parameter", "%s must be a whole number from %ld to %ld", name, lo, hi);
        return -1;
    }
    return 0;
}

/* GET /v1/sites/{site}/policy/versions?before=N&limit=M: newest first,
 * each with who, when, the note and the whole policy. */
void policy_versions_handle(struct http_request *req, struct http_response *resp)
{
    struct pol_state *st = pol_begin(req, resp);
    if (!st)
        return;
    if (arg_long(req, resp, "before", 0, 1000000000L, 0, &st->before) ||
        arg_long(req, resp, "limit", 1, LIST_MAX, 20, &st->limit)) {
        pol_cleanup(req);
        return;
    }
    char pol[100], lg[100], before[24], limit[24];
    keys_of(st->site->name, pol, lg);
    snprintf(before, sizeof before, "%ld", st->before);
    snprintf(limit, sizeof limit, "%ld", st->limit);
    const char *argv[] = { pol, lg, before, limit };
    req->resume = list_done;
    scall_async(&list_script, st->site->name, 2, 4, argv, &st->call, pol_done, req);
}

static void revert_got(struct http_request *req, struct http_response *resp)
{
    struct pol_state *st = req->state;
    struct scall *r = &st->call;
    if (r->rc || r->n < 1 || r->n % 2 == 0) {
        reply_error(resp, 503, "redis_unavailable", "Redis is unavailable; the policy was not changed, try again");
        pol_cleanup(req);
        return;
    }
    json_t *e = r->n == 3 && num(r->v[1]) == st->revert ? json_loads(r->v[2], 0, NULL) : NULL;
    if (!e) {
        reply_error(resp, 404, "no_such_version", "site %s has no policy version %ld", st->site->name, st->revert);
        pol_cleanup(req);
        return;
    }
    json_t *p = json_object_get(e, "policy");
    if (!json_is_object(p) && !json_is_null(p)) {
        json_decref(e);
        reply_error(resp, 500, "internal", "version %ld of site %s is not a policy in Redis", st->revert,
                    st->site->name);
        pol_cleanup(req);
        return;
    }
    st->doc = json_is_object(p) ? json_deep_copy(p) : NULL;
    json_decref(e);
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i]);
    free(r->v);
    memset(r, 0, sizeof *r);
    if (st->doc && validate(req, st->site, st->doc, resp)) {
        pol_cleanup(req);
        return;
    }
    store_put(req, st);
}

/* POST /v1/sites/{site}/policy/revert {"version":N,"base_version":M,"note":"..."}:
 * make version N's policy current again, as a new version (0: the file's). */
void policy_revert_handle(struct http_request *req, struct http_response *resp)
{
    struct pol_state *st = pol_begin(req, resp);
    if (!st)
        return;
    static const char *const known[] = { "version", "base_version", "note", NULL };
    json_t *root = load_body(req, resp, st, known, "version");
    if (!root) {
        pol_cleanup(req);
        return;
    }
    json_t *v = json_object_get(root, "version");
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000000) {
        reply_error(resp, 400, "wrong_type", "version must be a whole number >= 0 (0: the config file's policy)");
        json_decref(root);
        pol_cleanup(req);
        return;
    }
    st->revert = (long)json_integer_value(v);
    json_decref(root);
    if (st->revert == 0) {
        if (!st->note[0])
            snprintf(st->note, sizeof st->note, "back to the config file");
        store_put(req, st);
        return;
    }
    /* the list script from just above version N, one entry: {cur, N, entry} */
    char pol[100], lg[100], before[24];
    keys_of(st->site->name, pol, lg);
    snprintf(before, sizeof before, "%ld", st->revert + 1);
    const char *argv[] = { pol, lg, before, "1" };
    req->resume = revert_got;
    scall_async(&list_script, st->site->name, 2, 4, argv, &st->call, pol_done, req);
}
