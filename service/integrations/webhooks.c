/* webhooks.c - the delivery thread and the delivery log (webhooks.h).
 *
 * Every ROUND_MS, for each site with webhooks: mark the site (the
 * scripts write the outbox only then), route the outbox's new events to
 * each webhook that wants them, then claim each webhook's due subjects
 * (a comment, an author: one event at a time each, in order) and deliver
 * their first events in parallel with libcurl, each within the
 * webhook's timeout_ms; the outcome goes back to Redis ("ok", "retry" at
 * a later time, "failed" after a day). A claim is a lease of timeout_ms
 * plus LEASE_SLACK_MS: an instance that dies mid-delivery leaves it to
 * whichever instance claims it next. */
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

static struct store_script script = { WEBHOOKS_LUA, "" };
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
    char subject[160], eid[40], type[24];
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

static struct job *job_new(const struct site_cfg *s, const struct webhook_cfg *w, char *const *v, size_t at,
                           size_t nf)
{
    struct job *j = xcalloc(1, sizeof *j);
    snprintf(j->subject, sizeof j->subject, "%s", v[at]);
    snprintf(j->eid, sizeof j->eid, "%s", v[at + 1]);
    j->tries = strtol(v[at + 2], NULL, 10);
    j->created_ms = strtoll(j->eid, NULL, 10);
    j->body = event_json(s->name, j->eid, j->created_ms, v + at + 4, nf, j->type, sizeof j->type);
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

/* Tell Redis how job 'j' went (webhooks.lua "done"). */
static void report(const char *prefix, const struct site_cfg *s, const struct webhook_cfg *w, struct job *j,
                   long status, int ok)
{
    long long now = wall_ms(), next = 0;
    const char *outcome = "ok";
    long attempt = j->tries + 1;
    if (!ok) {
        long long delay = 1000LL << (attempt - 1 < 20 ? attempt - 1 : 20);
        if (delay > BACKOFF_MAX_MS)
            delay = BACKOFF_MAX_MS;
        delay += randombytes_uniform((uint32_t)(delay / 5 + 1)); /* receivers that failed together do not retry together */
        next = now + delay;
        outcome = now - j->created_ms >= GIVE_UP_MS ? "failed" : "retry";
    }
    char nows[24], nexts[24], atts[24], sts[24], mss[24], err[200];
    snprintf(nows, sizeof nows, "%lld", now);
    snprintf(nexts, sizeof nexts, "%lld", next);
    snprintf(atts, sizeof atts, "%ld", attempt);
    snprintf(sts, sizeof sts, "%ld", status);
    snprintf(mss, sizeof mss, "%lld", now - j->t0);
    if (ok)
        err[0] = 0;
    else if (j->err[0])
        snprintf(err, sizeof err, "%.190s", j->err);
    else
        snprintf(err, sizeof err, "HTTP %ld", status);
    const char *argv[] = { prefix, "done", nows, w->id, j->subject, j->eid, outcome, nexts, j->type, atts, sts, mss,
                           err };
    struct scall r;
    scall_run(&script, s->name, 0, (int)(sizeof argv / sizeof *argv), argv, &r);
    if (r.rc != 0)
        LOG_WARN(NULL, "webhooks: %s/%s: the outcome of %s could not be stored: it will be sent again", s->name, w->id,
                 j->eid);
    else if (!ok && !strcmp(outcome, "failed"))
        LOG_WARN(NULL, "webhooks: %s/%s: gave up on %s after %ld attempts (%s)", s->name, w->id, j->eid, attempt, err);
    scall_free(&r);
}

/* Claim, deliver and report one webhook's due subjects. Returns how many. */
static int deliver(const char *prefix, const struct site_cfg *s, const struct webhook_cfg *w)
{
    char nows[24], lease[24], n[8];
    snprintf(nows, sizeof nows, "%lld", (long long)wall_ms());
    snprintf(lease, sizeof lease, "%ld", w->timeout_ms + LEASE_SLACK_MS);
    snprintf(n, sizeof n, "%d", CLAIM_MAX);
    const char *argv[] = { prefix, "claim", nows, w->id, lease, n };
    struct scall r;
    scall_run(&script, s->name, 0, 6, argv, &r);
    if (r.rc != 0) {
        scall_free(&r);
        return 0;
    }
    struct job *jobs[CLAIM_MAX];
    int nj = 0;
    CURLM *m = curl_multi_init();
    for (size_t i = 0; i + 4 <= r.n && nj < CLAIM_MAX;) {
        size_t nf = (size_t)strtoul(r.v[i + 3], NULL, 10);
        if (i + 4 + nf > r.n)
            break;
        struct job *j = job_new(s, w, r.v, i, nf);
        j->t0 = wall_ms();
        jobs[nj++] = j;
        if (j->h && j->body)
            curl_multi_add_handle(m, j->h);
        i += 4 + nf;
    }
    scall_free(&r);
    int running = 1;
    while (running && !atomic_load(&quit)) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    if (atomic_load(&quit)) { /* left to their leases: sent again by whoever claims them next */
        for (int i = 0; i < nj; i++) {
            if (jobs[i]->h)
                curl_multi_remove_handle(m, jobs[i]->h);
            job_free(jobs[i]);
        }
        curl_multi_cleanup(m);
        return 0;
    }
    for (int i = 0; i < nj; i++) {
        struct job *j = jobs[i];
        long status = 0;
        int ok = 0;
        if (j->h && j->body) {
            CURLMsg *msg;
            int left;
            while ((msg = curl_multi_info_read(m, &left)))
                if (msg->msg == CURLMSG_DONE) {
                    struct job *o;
                    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&o);
                    if (o && msg->data.result != CURLE_OK && !o->err[0])
                        snprintf(o->err, sizeof o->err, "%s", curl_easy_strerror(msg->data.result));
                }
            curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &status);
            ok = status >= 200 && status < 300 && !j->err[0];
            curl_multi_remove_handle(m, j->h);
        }
        report(prefix, s, w, j, status, ok);
        job_free(j);
    }
    curl_multi_cleanup(m);
    return nj;
}

/* One round over every site with webhooks. Returns the deliveries tried. */
static int round_once(long long *marked_ms)
{
    struct cfg *c = cfg_acquire();
    int work = 0;
    long long now = wall_ms();
    int mark = now - *marked_ms >= 20000;
    for (size_t i = 0; i < c->nsites && !atomic_load(&quit); i++) {
        const struct site_cfg *s = &c->sites[i];
        if (!s->nwebhooks)
            continue;
        char prefix[80], nows[24], nw[8];
        snprintf(prefix, sizeof prefix, "mg:{%s}:", s->name);
        snprintf(nows, sizeof nows, "%lld", now);
        struct scall r;
        if (mark) {
            const char *on[] = { prefix, "on", nows };
            scall_run(&script, s->name, 0, 3, on, &r);
            if (r.rc == 0)
                *marked_ms = now;
            scall_free(&r);
        }
        const char *argv[5 + 2 * WEBHOOKS_MAX];
        char csv[WEBHOOKS_MAX][64];
        int argc = 0;
        argv[argc++] = prefix;
        argv[argc++] = "route";
        argv[argc++] = nows;
        snprintf(nw, sizeof nw, "%d", s->nwebhooks);
        argv[argc++] = nw;
        for (int k = 0; k < s->nwebhooks; k++) {
            webhook_events_csv(s->webhooks[k].events, csv[k], sizeof csv[k]);
            argv[argc++] = s->webhooks[k].id;
            argv[argc++] = csv[k];
        }
        scall_run(&script, s->name, 0, argc, argv, &r);
        scall_free(&r);
        for (int k = 0; k < s->nwebhooks && !atomic_load(&quit); k++)
            work += deliver(prefix, s, &s->webhooks[k]);
    }
    cfg_release(c);
    return work;
}

static void *run(void *arg)
{
    (void)arg;
    long long marked = 0;
    while (!atomic_load(&quit)) {
        int work = round_once(&marked);
        if (work)
            continue; /* more may be due: no pause while there is work */
        pthread_mutex_lock(&mu);
        struct timespec ts = deadline_ms(ROUND_MS);
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
    char prefix[80], nows[24], lims[24];
    snprintf(prefix, sizeof prefix, "mg:{%s}:", site->name);
    snprintf(nows, sizeof nows, "%lld", (long long)wall_ms());
    snprintf(lims, sizeof lims, "%ld", limit);
    const char *argv[] = { prefix, "log", nows, before ? before : "", lims };
    req->resume = dl_answer;
    scall_async(&script, site->name, 0, 5, argv, &st->call, dl_done, req);
}
