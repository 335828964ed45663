/* webhooks.c - the delivery thread and the delivery log (webhooks.h).
 *
 * Every ROUND_MS (at once while there is work), for each site with
 * webhooks: route the outbox's new events to each webhook that wants them
 * (which also marks the site: the scripts write the outbox only then),
 * claim every webhook's due subjects (a comment, an author: one event at
 * a time each, in order), deliver all their first events at once with
 * libcurl, each within its webhook's timeout_ms, and give each outcome
 * back to Redis ("ok", "retry" after a backoff, "failed" after a day).
 * A claim is a lease of timeout_ms plus LEASE_SLACK_MS with a token: an
 * instance that dies mid-delivery leaves it to whichever instance claims
 * it next, and an outcome that comes after its lease was taken over
 * changes nothing. Redis failing a call ends the round and backs off. */
#include "webhooks.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "hmac.h"
#include "http.h"
#include "log.h"
#include "luascripts.h"
#include "reply.h"
#include "request.h"
#include "scall.h"
#include "util.h"

#define ROUND_MS 200
#define CLAIM_MAX 16
#define LEASE_SLACK_MS 3000
#define GIVE_UP_MS (24LL * 3600 * 1000)
#define BACKOFF_MAX_MS (3600LL * 1000)

static struct store_script script = { .src = WEBHOOKS_LUA };
static pthread_t thr;
static int started;
static atomic_int quit;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

/* ---------- one delivery ---------- */

struct job {
    CURL *h;
    struct curl_slist *hdr;
    char *body;
    const struct site_cfg *site;     /* of the round's config */
    const struct webhook_cfg *hook;
    char subject[160], eid[40], type[24], token[24];
    long tries;
    long long created_ms, t0;
    char err[CURL_ERROR_SIZE];
};

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n; /* a receiver's answer is not read, nor logged */
}

/* The event's JSON: {"id","type","site","created_at","data":{...}}, from
 * the outbox entry's field strings f[0..n) ("t", type, then pairs). */
static char *event_json(const char *site, const char *eid, long long ms, char *const *f, size_t n, char *type,
                        size_t typelen)
{
    json_t *data = json_object();
    type[0] = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        const char *k = f[i], *v = f[i + 1];
        if (!strcmp(k, "t")) {
            snprintf(type, typelen, "%s", v);
        } else if (!strcmp(k, "score")) {
            json_object_set_new(data, k, json_real(strtod(v, NULL)));
        } else if (!strcmp(k, "reports")) {
            json_object_set_new(data, k, json_integer(strtoll(v, NULL, 10)));
        } else if (!strcmp(k, "reasons") && strcmp(type, "reported") != 0) {
            json_t *a = json_array();
            char buf[1024];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(a, json_string(t));
            json_object_set_new(data, k, a);
        } else if (!strcmp(k, "hide")) {
            json_object_set_new(data, k, json_boolean(!strcmp(v, "1")));
        } else {
            json_object_set_new(data, k, json_string(v));
        }
    }
    char id[128], at[40];
    snprintf(id, sizeof id, "%s:%s", site, eid);
    fmt_rfc3339(ms, at, sizeof at);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", id, "type", type, "site", site, "created_at", at, "data", data);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(o);
    return s;
}

/* X-Modgate-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t "." body)>
 * once per secret (a receiver rotating its secret accepts either). */
static void sign(const struct webhook_cfg *w, const char *body, char *out, size_t outlen)
{
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)time(NULL));
    size_t n = (size_t)snprintf(out, outlen, "X-Modgate-Signature: t=%s", t);
    for (int i = 0; i < w->nsecrets && n < outlen; i++) {
        unsigned char mac[HMAC_LEN];
        char pre[32];
        size_t pl = (size_t)snprintf(pre, sizeof pre, "%s.", t);
        hmac_sha256_2(&w->secrets[i].key, pre, pl, body, strlen(body), mac);
        char hex[2 * HMAC_LEN + 1];
        sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
        n += (size_t)snprintf(out + n, outlen - n, ",v1=%s", hex);
    }
}

/* A job for claim row v[at..] (subject, event id, tries, token, field
 * count 'nf', fields) of webhook 'w' of site 's'. */
static struct job *job_new(const struct site_cfg *s, const struct webhook_cfg *w, char *const *v, size_t at,
                           size_t nf)
{
    struct job *j = xcalloc(1, sizeof *j);
    j->site = s;
    j->hook = w;
    snprintf(j->subject, sizeof j->subject, "%s", v[at]);
    snprintf(j->eid, sizeof j->eid, "%s", v[at + 1]);
    j->tries = strtol(v[at + 2], NULL, 10);
    snprintf(j->token, sizeof j->token, "%s", v[at + 3]);
    j->created_ms = strtoll(j->eid, NULL, 10);
    j->body = event_json(s->name, j->eid, j->created_ms, v + at + 5, nf, j->type, sizeof j->type);
    j->h = curl_easy_init();
    if (!j->body || !j->h) {
        snprintf(j->err, sizeof j->err, "could not prepare the request");
        return j;
    }
    char sig[64 + WEBHOOK_SECRETS_MAX * (4 + 2 * HMAC_LEN)], line[256];
    sign(w, j->body, sig, sizeof sig);
    j->hdr = curl_slist_append(j->hdr, "Content-Type: application/json");
    j->hdr = curl_slist_append(j->hdr, sig);
    snprintf(line, sizeof line, "X-Modgate-Event: %s", j->type);
    j->hdr = curl_slist_append(j->hdr, line);
    snprintf(line, sizeof line, "X-Modgate-Delivery: %s:%s", s->name, j->eid);
    j->hdr = curl_slist_append(j->hdr, line);
    snprintf(line, sizeof line, "X-Modgate-Attempt: %ld", j->tries + 1);
    j->hdr = curl_slist_append(j->hdr, line);
    j->hdr = curl_slist_append(j->hdr, "Expect:");
    curl_easy_setopt(j->h, CURLOPT_URL, w->url);
    curl_easy_setopt(j->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(j->h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(j->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(j->h, CURLOPT_TIMEOUT_MS, w->timeout_ms);
    curl_easy_setopt(j->h, CURLOPT_CONNECTTIMEOUT_MS, w->timeout_ms);
    curl_easy_setopt(j->h, CURLOPT_HTTPHEADER, j->hdr);
    curl_easy_setopt(j->h, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(j->h, CURLOPT_USERAGENT, "modgate-webhooks/1");
    curl_easy_setopt(j->h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(j->h, CURLOPT_ERRORBUFFER, j->err);
    curl_easy_setopt(j->h, CURLOPT_PRIVATE, j);
    return j;
}

static void job_free(struct job *j)
{
    if (!j)
        return;
    if (j->h)
        curl_easy_cleanup(j->h);
    curl_slist_free_all(j->hdr);
    free(j->body);
    free(j);
}

/* A Redis call of the round; 0, or -1 (then the round stops: see run). */
static int call(const struct site_cfg *s, int argc, const char *const *argv, struct scall *r)
{
    scall_run(&script, s->name, 0, argc, argv, r);
    return r->rc;
}

/* Tell Redis how job 'j' went (webhooks.lua "done"). Returns 0 or -1. */
static int report(struct job *j, long status, int ok)
{
    const struct site_cfg *s = j->site;
    const struct webhook_cfg *w = j->hook;
    long long now = wall_ms(), delay = 0;
    const char *outcome = "ok";
    long attempt = j->tries + 1;
    if (!ok) {
        delay = 1000LL << (attempt - 1 < 20 ? attempt - 1 : 20);
        if (delay > BACKOFF_MAX_MS)
            delay = BACKOFF_MAX_MS;
        delay += randombytes_uniform((uint32_t)(delay / 5 + 1)); /* receivers that failed together do not retry together */
        outcome = now - j->created_ms >= GIVE_UP_MS ? "failed" : "retry";
    }
    char prefix[80], delays[24], atts[24], sts[24], mss[24], err[200];
    snprintf(prefix, sizeof prefix, "mg:{%s}:", s->name);
    snprintf(delays, sizeof delays, "%lld", delay);
    snprintf(atts, sizeof atts, "%ld", attempt);
    snprintf(sts, sizeof sts, "%ld", status);
    snprintf(mss, sizeof mss, "%lld", now - j->t0);
    if (ok)
        err[0] = 0;
    else if (j->err[0])
        snprintf(err, sizeof err, "%.190s", j->err);
    else
        snprintf(err, sizeof err, "HTTP %ld", status);
    const char *argv[] = { prefix, "done", w->id, j->subject, j->eid, j->token, outcome, delays, j->type, atts, sts,
                           mss, err };
    struct scall r;
    int rc = call(s, (int)(sizeof argv / sizeof *argv), argv, &r);
    if (rc == 0 && !ok && !strcmp(outcome, "failed"))
        LOG_WARN(NULL, "webhooks: %s/%s: gave up on %s after %ld attempts (%s)", s->name, w->id, j->eid, attempt, err);
    scall_free(&r);
    return rc;
}

/* Claim webhook 'w''s due subjects into jobs[*nj..]. Returns 0 or -1. */
static int claim(const struct site_cfg *s, const struct webhook_cfg *w, struct job **jobs, int *nj, int max)
{
    char prefix[80], lease[24], n[16];
    snprintf(prefix, sizeof prefix, "mg:{%s}:", s->name);
    snprintf(lease, sizeof lease, "%ld", w->timeout_ms + LEASE_SLACK_MS);
    snprintf(n, sizeof n, "%d", max - *nj < CLAIM_MAX ? max - *nj : CLAIM_MAX);
    const char *argv[] = { prefix, "claim", w->id, lease, n };
    struct scall r;
    if (call(s, 5, argv, &r)) {
        scall_free(&r);
        return -1;
    }
    for (size_t i = 0; i + 5 <= r.n && *nj < max;) {
        size_t nf = (size_t)strtoul(r.v[i + 4], NULL, 10);
        if (i + 5 + nf > r.n)
            break;
        jobs[(*nj)++] = job_new(s, w, r.v, i, nf);
        i += 5 + nf;
    }
    scall_free(&r);
    return 0;
}

/* One round: route each site's new events, claim every webhook's due
 * subjects, send them all at once (one receiver that hangs costs the
 * others nothing), report each outcome. Returns the deliveries tried, or
 * -1 when Redis refused or failed a call. */
static int round_once(void)
{
    enum { MAX_JOBS = 64 };
    struct cfg *c = cfg_acquire();
    struct job *jobs[MAX_JOBS];
    int nj = 0, failed = 0;
    for (size_t i = 0; i < c->nsites && !atomic_load(&quit) && !failed; i++) {
        const struct site_cfg *s = &c->sites[i];
        if (!s->nwebhooks)
            continue;
        char prefix[80], nw[16], csv[WEBHOOKS_MAX][64];
        snprintf(prefix, sizeof prefix, "mg:{%s}:", s->name);
        const char *argv[4 + 2 * WEBHOOKS_MAX];
        int argc = 0;
        argv[argc++] = prefix;
        argv[argc++] = "route";
        snprintf(nw, sizeof nw, "%d", s->nwebhooks);
        argv[argc++] = nw;
        for (int k = 0; k < s->nwebhooks; k++) {
            webhook_events_csv(s->webhooks[k].events, csv[k], sizeof csv[k]);
            argv[argc++] = s->webhooks[k].id;
            argv[argc++] = csv[k];
        }
        struct scall r;
        failed = call(s, argc, argv, &r) != 0;
        scall_free(&r);
        for (int k = 0; k < s->nwebhooks && !failed && nj < MAX_JOBS; k++)
            failed = claim(s, &s->webhooks[k], jobs, &nj, MAX_JOBS) != 0;
    }
    CURLM *m = curl_multi_init();
    for (int i = 0; i < nj; i++) {
        jobs[i]->t0 = wall_ms();
        if (jobs[i]->h && jobs[i]->body)
            curl_multi_add_handle(m, jobs[i]->h);
    }
    int running = nj > 0;
    while (running && !atomic_load(&quit)) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE) {
            struct job *o = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&o);
            if (o && msg->data.result != CURLE_OK && !o->err[0])
                snprintf(o->err, sizeof o->err, "%s", curl_easy_strerror(msg->data.result));
        }
    int quitting = atomic_load(&quit);
    for (int i = 0; i < nj; i++) {
        struct job *j = jobs[i];
        long status = 0;
        if (j->h && j->body) {
            curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(m, j->h);
        }
        int ok = status >= 200 && status < 300 && !j->err[0];
        /* stopping: a delivery not finished is left to its lease (sent
         * again by whoever claims it next); a finished one is reported */
        if (!failed && (!quitting || ok))
            failed = report(j, status, ok) != 0;
        job_free(j);
    }
    curl_multi_cleanup(m);
    cfg_release(c);
    return failed ? -1 : nj;
}

static void *run(void *arg)
{
    (void)arg;
    long pause = ROUND_MS, warned = 0;
    while (!atomic_load(&quit)) {
        int work = round_once();
        if (work < 0) { /* Redis refuses or is away: back off, say so once */
            if (!warned)
                LOG_WARN(NULL, "webhooks: Redis failed a call; deliveries wait and retry");
            warned = 1;
            pause = pause * 2 > 5000 ? 5000 : pause * 2;
        } else {
            if (warned)
                LOG_INFO(NULL, "webhooks: Redis answers again; deliveries go on");
            warned = 0;
            pause = ROUND_MS;
            if (work)
                continue; /* more may be due: no pause while there is work */
        }
        pthread_mutex_lock(&mu);
        struct timespec ts = deadline_ms(pause);
        if (!atomic_load(&quit))
            pthread_cond_timedwait(&cv, &mu, &ts);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

int webhooks_start(void)
{
    store_script_register(&script);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    atomic_store(&quit, 0);
    if (pthread_create(&thr, NULL, run, NULL) != 0)
        return -1;
    started = 1;
    return 0;
}

int webhooks_stop_within(int ms)
{
    if (!started)
        return 0;
    atomic_store(&quit, 1);
    pthread_mutex_lock(&mu);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    struct timespec ts = deadline_ms(ms);
    if (pthread_timedjoin_np(thr, NULL, &ts) != 0)
        return 1;
    started = 0;
    curl_global_cleanup();
    return 0;
}

void webhooks_stop(void)
{
    if (!started)
        return;
    webhooks_stop_within(0);
    if (started) {
        pthread_join(thr, NULL);
        started = 0;
        curl_global_cleanup();
    }
}

/* ---------- GET /v1/sites/{site}/webhooks/deliveries ---------- */

struct dl_state {
    const struct site_cfg *site;
    struct scall call;
};

static void dl_cleanup(struct http_request *req)
{
    struct dl_state *st = req->state;
    if (!st)
        return;
    scall_free(&st->call);
    free(st);
    req->state = NULL;
}

static void dl_done(void *arg)
{
    http_async_done(arg);
}

static void dl_answer(struct http_request *req, struct http_response *resp)
{
    struct dl_state *st = req->state;
    struct scall *r = &st->call;
    if (r->rc != 0) {
        reply_error(resp, 503, "redis_unavailable", "Redis is unavailable; try again");
        dl_cleanup(req);
        return;
    }
    json_t *list = json_array();
    const char *last = NULL;
    for (size_t i = 0; i + 2 <= r->n;) {
        size_t nf = (size_t)strtoul(r->v[i + 1], NULL, 10);
        if (i + 2 + nf > r->n)
            break;
        json_t *o = json_pack("{s:s,s:o}", "id", r->v[i], "at", reply_time(strtoll(r->v[i], NULL, 10)));
        for (size_t k = i + 2; k + 1 < i + 2 + nf; k += 2) {
            const char *f = r->v[k], *v = r->v[k + 1];
            if (!strcmp(f, "attempt") || !strcmp(f, "status") || !strcmp(f, "ms"))
                json_object_set_new(o, f, json_integer(strtoll(v, NULL, 10)));
            else
                json_object_set_new(o, f, json_string(v));
        }
        json_array_append_new(list, o);
        last = r->v[i];
        i += 2 + nf;
    }
    json_t *o = json_pack("{s:s,s:o}", "site", st->site->name, "deliveries", list);
    json_object_set_new(o, "next_before", last ? json_string(last) : json_null());
    reply_json(resp, 200, o);
    dl_cleanup(req);
}

void webhooks_deliveries_handle(struct http_request *req, struct http_response *resp)
{
    const struct site_cfg *site = req_path_site(req, resp);
    if (!site)
        return;
    long limit = 50;
    const char *lim = http_arg(req, "limit"), *before = http_arg(req, "before");
    if (lim && *lim && parse_long(lim, 1, 500, &limit)) {
        reply_error(resp, 400, "bad_parameter", "limit must be a whole number from 1 to 500");
        return;
    }
    if (before && *before && (strlen(before) > 40 || strspn(before, "0123456789-") != strlen(before))) {
        reply_error(resp, 400, "bad_parameter", "before must be a delivery id this API gave out");
        return;
    }
    struct dl_state *st = xcalloc(1, sizeof *st);
    st->site = site;
    req->state = st;
    req->cleanup = dl_cleanup;
    char prefix[80], lims[24];
    snprintf(prefix, sizeof prefix, "mg:{%s}:", site->name);
    snprintf(lims, sizeof lims, "%ld", limit);
    const char *argv[] = { prefix, "log", before ? before : "", lims };
    req->resume = dl_answer;
    scall_async(&script, site->name, 0, 4, argv, &st->call, dl_done, req);
}
