/* metrics.c - GET /metrics; see metrics.h.
 *
 * The counters come from counters.c (which every room below may call);
 * this file adds the gauges read at scrape time, from Redis, the spool,
 * the models and the HTTP server. */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bayesdb.h"
#include "config.h"
#include "counters.h"
#include "luascripts.h"
#include "reply.h"
#include "spool.h"
#include "store.h"
#include "util.h"

/* ---------- GET /metrics ---------- */

/* The queue's states (metrics_depth.lua counts each). */
#define NSTATES 5

struct scrape {
    const struct cfg *cfg;
    int rc;                       /* 0: counts read; -1: Redis unavailable */
    long long *counts;            /* NSTATES per site: held, approved, rejected, spam, reported */
    struct store_redis_info info; /* Redis's memory and settings, asked with the counts */
    _Atomic int left;             /* of the two, still to answer */
};

static void parse_depth(const struct store_reply *r, const char *err, void *out)
{
    (void)err;
    struct scrape *s = out;
    if (!r || r->type != STORE_REPLY_ARRAY || r->elements != NSTATES * s->cfg->nsites) {
        s->rc = -1;
        return;
    }
    for (size_t i = 0; i < r->elements; i++)
        s->counts[i] = r->element[i]->type == STORE_REPLY_INTEGER ? r->element[i]->integer : 0;
}

/* depth (luascripts.h: service/redis/lua/metrics_depth.lua): ZCARD of
 * each site's four state sets (queue.h), four per site. */
static struct store_script depth_lua = { .src = METRICS_DEPTH_LUA };

static void scrape_cleanup(struct http_request *req)
{
    struct scrape *s = req->state;
    if (s)
        free(s->counts);
    free(s);
    req->state = NULL;
    req->cleanup = NULL;
}

/* Redis's memory and settings (store_redis_info), and each site's cap. */
static void put_redis_info(struct buf *b, const struct scrape *sc)
{
    const struct store_redis_info *in = &sc->info;
    const struct cfg *c = sc->cfg;
    counters_head(b, "modgate_held_limit", "The cap on held comments (moderation.max_held), by site; 0: no cap.", "gauge");
    for (size_t i = 0; i < c->nsites; i++) {
        int first = 1;
        buf_puts(b, "modgate_held_limit");
        counters_label(b, "site", c->sites[i].name, &first);
        buf_printf(b, "} %ld\n", c->sites[i].mod.max_held);
    }
    if (in->rc != 0)
        return;
    if (in->used_memory >= 0) {
        counters_head(b, "modgate_redis_used_memory_bytes", "Redis's used_memory (INFO memory) at this scrape.", "gauge");
        buf_printf(b, "modgate_redis_used_memory_bytes %lld\n", in->used_memory);
        counters_head(b, "modgate_redis_maxmemory_bytes", "Redis's maxmemory; 0: no limit.", "gauge");
        buf_printf(b, "modgate_redis_maxmemory_bytes %lld\n", in->maxmemory);
    }
    int first = 1;
    counters_head(b, "modgate_redis_persistence", "1 for how Redis persists its data: aof, rdb, aof+rdb, none or unknown.",
             "gauge");
    buf_puts(b, "modgate_redis_persistence");
    counters_label(b, "mode", in->persistence, &first);
    buf_puts(b, "} 1\n");
    first = 1;
    counters_head(b, "modgate_redis_maxmemory_policy", "1 for Redis's maxmemory-policy (or unknown).", "gauge");
    buf_puts(b, "modgate_redis_maxmemory_policy");
    counters_label(b, "policy", in->eviction, &first);
    buf_puts(b, "} 1\n");
    counters_head(b, "modgate_redis_config_ok", "1: Redis persists its data and never evicts modgate's keys; 0: a "
             "restart or a full Redis loses acknowledged data; -1: cannot tell.", "gauge");
    buf_printf(b, "modgate_redis_config_ok %d\n", in->safe);
}

static void scraped(struct http_request *req, struct http_response *resp)
{
    struct scrape *sc = req->state;
    const struct cfg *c = sc->cfg;
    store_redis_info_log(&sc->info); /* a change since start is logged too */
    struct buf b;
    buf_init(&b);
    counters_write(&b);
    counters_head(&b, "modgate_redis_up", "1 when Redis answered this scrape's queue read.", "gauge");
    buf_printf(&b, "modgate_redis_up %d\n", sc->rc == 0);
    if (sc->rc == 0) {
        static const char *const states[NSTATES] = { "held", "approved", "rejected", "spam", "reported" };
        counters_head(&b, "modgate_queue_comments", "Comments in the moderation queue, by site and state.", "gauge");
        for (size_t i = 0; i < c->nsites; i++)
            for (int k = 0; k < NSTATES; k++) {
                int first = 1;
                buf_puts(&b, "modgate_queue_comments");
                counters_label(&b, "site", c->sites[i].name, &first);
                counters_label(&b, "state", states[k], &first);
                buf_printf(&b, "} %lld\n", sc->counts[NSTATES * i + (size_t)k]);
            }
    }
    put_redis_info(&b, sc);
    counters_head(&b, "modgate_model_learned_comments", "Comments a Bayes model learned, by model and class (this "
                                                   "instance's copy).", "gauge");
    for (size_t i = 0; i < c->nsites; i++) {
        const char *m = c->sites[i].bayes.model;
        int seen = 0;
        for (size_t j = 0; j < i; j++)
            seen |= strcmp(c->sites[j].bayes.model, m) == 0;
        if (seen)
            continue;
        struct bayesdb_info in;
        bayesdb_info(m, &in);
        static const char *const cls[] = { "spam", "ham" };
        for (int k = 0; k < 2; k++) {
            int first = 1;
            buf_puts(&b, "modgate_model_learned_comments");
            counters_label(&b, "model", m, &first);
            counters_label(&b, "class", cls[k], &first);
            buf_printf(&b, "} %llu\n", (unsigned long long)(k ? in.nham : in.nspam));
        }
    }
    counters_head(&b, "modgate_policy_version", "The policy version this instance applies, by site (0: the config "
                                           "file's; see GET /v1/sites/{site}/policy).", "gauge");
    for (size_t i = 0; i < c->nsites; i++) {
        int first = 1;
        buf_puts(&b, "modgate_policy_version");
        counters_label(&b, "site", c->sites[i].name, &first);
        buf_printf(&b, "} %ld\n", c->sites[i].policy_version);
    }
    counters_head(&b, "modgate_http_inflight_requests", "Requests being answered now.", "gauge");
    buf_printf(&b, "modgate_http_inflight_requests %ld\n", http_inflight());
    counters_head(&b, "modgate_spool_held_comments", "Held comments waiting in the spool for Redis.", "gauge");
    buf_printf(&b, "modgate_spool_held_comments %ld\n", (long)spool_depth());
    scrape_cleanup(req);
    resp->status = 200;
    resp->body = b.p;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* The last of the two reads to answer resumes the request. */
static void depth_done(void *arg)
{
    struct http_request *req = arg;
    struct scrape *s = req->state;
    if (atomic_fetch_sub(&s->left, 1) == 1)
        http_async_done(arg);
}

void metrics_handle(struct http_request *req, struct http_response *resp)
{
    if (req->ident.site >= 0) {
        reply_error(resp, 403, "wrong_site", "the metrics cover every site: use an admin key of the top-level "
                                             "admin_keys");
        return;
    }
    struct scrape *s = xcalloc(1, sizeof *s);
    s->cfg = req->cfg;
    s->counts = xcalloc(NSTATES * (req->cfg->nsites ? req->cfg->nsites : 1), sizeof *s->counts);
    req->state = s;
    req->cleanup = scrape_cleanup;
    req->resume = scraped;
    atomic_store(&s->left, 2);
    size_t n = req->cfg->nsites;
    const char **v = xcalloc(n ? n : 1, sizeof *v);
    size_t *len = xcalloc(n ? n : 1, sizeof *len);
    char (*pfx)[80] = xcalloc(n ? n : 1, sizeof *pfx);
    for (size_t i = 0; i < n; i++) {
        snprintf(pfx[i], sizeof pfx[i], "mg:{%s}:", req->cfg->sites[i].name);
        v[i] = pfx[i];
        len[i] = strlen(pfx[i]);
    }
    store_script_async(&depth_lua, "metrics", (int)n, (int)n, v, len, parse_depth, s, depth_done, req);
    store_redis_info_async(&s->info, depth_done, req);
    free(v);
    free(len);
    free(pfx);
}
