/* counters.c - the lock-free counters and histograms behind GET /metrics;
 * see counters.h.
 *
 * Series live in one open-addressing table keyed by (metric, labels).
 * A slot is filled once, under the mutex, and then only its value moves,
 * so lookups read it without a lock (the 'ready' flag publishes it). */
#include "counters.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

enum metric { M_REQ, M_DEC, M_REASON, M_DEGRADED, M_REPLAYED, M_REDIS_ERR, M_CAPTCHA, M_HTTP_CLOSED, M_OVERFLOW,
              M_REDIS_EV, M_COUNT };

static const struct {
    const char *name, *help, *labels[3];
} DEF[M_COUNT] = {
    { "modgate_http_requests_total", "HTTP requests answered, by route pattern, method and status.",
      { "route", "method", "status" } },
    { "modgate_decisions_total", "Comments decided by /v1/check, by site and decision.", { "site", "decision", 0 } },
    { "modgate_decision_reasons_total", "Reasons given with /v1/check decisions, by site and reason code.",
      { "site", "reason", 0 } },
    { "modgate_degraded_answers_total", "Checks answered without Redis (degraded), by site.", { "site", 0, 0 } },
    { "modgate_replayed_answers_total", "Checks answered from a stored decision (a retry of a comment id), by site.",
      { "site", 0, 0 } },
    { "modgate_redis_errors_total", "Pipelined Redis batches that failed (unreachable, timed out, refused).",
      { 0, 0, 0 } },
    { "modgate_captcha_events_total", "Captcha challenges issued and solutions checked, by site and outcome.",
      { "site", "event", 0 } },
    { "modgate_http_connections_closed_total",
      "Connections modgate closed before a request arrived whole, by reason (request_timeout).", { "reason", 0, 0 } },
    { "modgate_held_overflow_total", "Held comments the full moderation queue (moderation.max_held) moved to spam "
      "(evicted) or did not store (refused), by site.", { "site", "action", 0 } },
    { "modgate_redis_events_total", "Redis replication events: the master moved (Sentinel), held comments sent to "
      "the new master again after a move, writes too few replicas acknowledged (redis.min_replicas_acked).",
      { "event", 0, 0 } },
};

#define LABEL_MAX 72

struct series {
    _Atomic int ready;
    int metric;
    char lab[3][LABEL_MAX];
    _Atomic uint64_t v;
};

static struct series table[METRICS_MAX_SERIES];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t dropped;

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL; /* a separator: ("ab","c") is not ("a","bc") */
}

static int same(const struct series *s, int m, const char *const l[3])
{
    if (s->metric != m)
        return 0;
    for (int i = 0; i < 3; i++)
        if (strncmp(s->lab[i], l[i] ? l[i] : "", LABEL_MAX - 1) != 0)
            return 0;
    return 1;
}

static void add(int m, const char *a, const char *b, const char *c, uint64_t n)
{
    const char *l[3] = { a, b, c };
    uint64_t h = fnv(fnv(fnv(14695981039346656037ULL ^ (uint64_t)m, a), b), c);
    size_t i = (size_t)(h % METRICS_MAX_SERIES);
    for (int probe = 0; probe < METRICS_MAX_SERIES; i = (i + 1) % METRICS_MAX_SERIES) {
        struct series *s = &table[i];
        if (!atomic_load_explicit(&s->ready, memory_order_acquire)) {
            pthread_mutex_lock(&mu);
            if (!atomic_load_explicit(&s->ready, memory_order_relaxed)) {
                s->metric = m;
                for (int k = 0; k < 3; k++)
                    snprintf(s->lab[k], LABEL_MAX, "%s", l[k] ? l[k] : "");
                atomic_store_explicit(&s->v, n, memory_order_relaxed);
                atomic_store_explicit(&s->ready, 1, memory_order_release);
                pthread_mutex_unlock(&mu);
                return;
            }
            pthread_mutex_unlock(&mu); /* filled meanwhile: look at it again */
        }
        if (same(s, m, l)) {
            atomic_fetch_add_explicit(&s->v, n, memory_order_relaxed);
            return;
        }
        if (atomic_load_explicit(&s->ready, memory_order_relaxed))
            probe++;
    }
    atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
}

/* ---------- histograms ---------- */

static const double BOUNDS[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
#define NB (sizeof BOUNDS / sizeof *BOUNDS)

struct histogram {
    const char *name, *help;
    _Atomic uint64_t bucket[NB + 1]; /* not cumulative; the last is +Inf */
    _Atomic uint64_t sum_us, count;
};

static struct histogram check_h = { "modgate_check_duration_seconds",
                                    "Time from request to answer of POST /v1/check (answered 200).", { 0 }, 0, 0 };
static struct histogram redis_h = { "modgate_redis_roundtrip_seconds",
                                    "Round trip of one pipelined batch of Redis commands.", { 0 }, 0, 0 };

static void observe(struct histogram *h, int64_t us)
{
    double s = (double)us / 1e6;
    size_t b = 0;
    while (b < NB && s > BOUNDS[b])
        b++;
    atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(us > 0 ? us : 0), memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

/* ---------- the calls ---------- */

/* The method as a label: any other token a client sends is "other", so
 * made-up methods cannot fill the series table. */
static const char *method_label(const char *m)
{
    static const char *const known[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", NULL };
    for (int i = 0; m && known[i]; i++)
        if (strcmp(m, known[i]) == 0)
            return known[i];
    return "other";
}

void metrics_request(const char *route, const char *method, unsigned status, int64_t us)
{
    char st[8];
    snprintf(st, sizeof st, "%u", status);
    add(M_REQ, route ? route : "unmatched", method_label(method), st, 1);
    if (route && status == 200 && strcmp(route, "/v1/check") == 0)
        observe(&check_h, us);
}

void metrics_decision(const char *site, enum decision d, const struct verdict *v, int degraded, int replayed)
{
    add(M_DEC, site, decision_name(d), NULL, 1);
    if (degraded)
        add(M_DEGRADED, site, NULL, NULL, 1);
    if (replayed)
        add(M_REPLAYED, site, NULL, NULL, 1);
    for (int i = 0; v && i < v->nreasons; i++)
        add(M_REASON, site, v->reasons[i].code, NULL, 1);
}

void metrics_redis(int64_t us, int ok)
{
    if (ok)
        observe(&redis_h, us);
    else
        add(M_REDIS_ERR, NULL, NULL, NULL, 1);
}

void metrics_captcha(const char *site, const char *event)
{
    add(M_CAPTCHA, site, event, NULL, 1);
}

void metrics_http_closed(const char *reason, int n)
{
    add(M_HTTP_CLOSED, reason, NULL, NULL, (uint64_t)n);
}

void metrics_overflow(const char *site, const char *action, int n)
{
    if (n > 0)
        add(M_OVERFLOW, site, action, NULL, (uint64_t)n);
}

void metrics_redis_event(const char *event, int n)
{
    if (n > 0)
        add(M_REDIS_EV, event, NULL, NULL, (uint64_t)n);
}

/* A label value as the text format wants it: \\, \" and \n escaped. */
void counters_label(struct buf *b, const char *name, const char *v, int *first)
{
    buf_puts(b, *first ? "{" : ",");
    *first = 0;
    buf_puts(b, name);
    buf_puts(b, "=\"");
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            buf_append(b, "\\", 1);
        if (*v == '\n')
            buf_puts(b, "\\n");
        else
            buf_append(b, v, 1);
    }
    buf_append(b, "\"", 1);
}

void counters_head(struct buf *b, const char *name, const char *help, const char *type)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_histogram(struct buf *b, struct histogram *h)
{
    counters_head(b, h->name, h->help, "histogram");
    uint64_t cum = 0;
    for (size_t i = 0; i <= NB; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        if (i < NB)
            buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", h->name, BOUNDS[i], (unsigned long long)cum);
        else
            buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", h->name, (unsigned long long)cum);
    }
    buf_printf(b, "%s_sum %.6f\n%s_count %llu\n", h->name,
               (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6, h->name, (unsigned long long)cum);
}

/* Every counter series, then modgate_metrics_dropped_series_total. */
static void put_counters(struct buf *b)
{
    for (int m = 0; m < M_COUNT; m++) {
        counters_head(b, DEF[m].name, DEF[m].help, "counter");
        int any = 0;
        for (size_t i = 0; i < METRICS_MAX_SERIES; i++) {
            struct series *s = &table[i];
            if (!atomic_load_explicit(&s->ready, memory_order_acquire) || s->metric != m)
                continue;
            any = 1;
            buf_puts(b, DEF[m].name);
            int first = 1;
            for (int k = 0; k < 3 && DEF[m].labels[k]; k++)
                counters_label(b, DEF[m].labels[k], s->lab[k], &first);
            if (!first)
                buf_append(b, "}", 1);
            buf_printf(b, " %llu\n", (unsigned long long)atomic_load_explicit(&s->v, memory_order_relaxed));
        }
        if (!any && !DEF[m].labels[0])
            buf_printf(b, "%s 0\n", DEF[m].name);
    }
    counters_head(b, "modgate_metrics_dropped_series_total", "Counts not kept: the series table was full.", "counter");
    buf_printf(b, "modgate_metrics_dropped_series_total %llu\n",
               (unsigned long long)atomic_load_explicit(&dropped, memory_order_relaxed));
}

void counters_write(struct buf *b)
{
    put_counters(b);
    put_histogram(b, &check_h);
    put_histogram(b, &redis_h);
}
