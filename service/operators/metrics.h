/* metrics.h - counters and histograms for GET /metrics (Prometheus text
 * format 0.0.4).
 *
 * Every count is a process-wide atomic: the calls below cost a hash of
 * their labels and one atomic add, and never take a lock once a series
 * exists (a new series takes a mutex once). Label values are modgate's
 * own names (site, route pattern, reason code, ...), never request text,
 * so the number of series stays bounded; past METRICS_MAX_SERIES new
 * ones are dropped and counted in modgate_metrics_dropped_series_total.
 * Counters start at 0 when the process starts, as Prometheus expects. */
#ifndef MODGATE_METRICS_H
#define MODGATE_METRICS_H

#include <stdint.h>

#include "http.h"
#include "verdict.h"

#define METRICS_MAX_SERIES 4096

/* One HTTP request answered: 'route' is the route's pattern
 * ("/v1/sites/{site}/queue"), NULL for a path no route matches. */
void metrics_request(const char *route, const char *method, unsigned status, int64_t us);

/* One /v1/check answer for 'site': its decision and reasons (v may be
 * NULL for a replay), whether it was degraded and whether a replay. */
void metrics_decision(const char *site, enum decision d, const struct verdict *v, int degraded, int replayed);

/* One pipelined batch of Redis commands: its round trip, or a failure. */
void metrics_redis(int64_t us, int ok);

/* A captcha event of 'site': "issued", "solved", "replayed", "expired",
 * "invalid", ... (pow.h's reason codes without "captcha_"). */
void metrics_captcha(const char *site, const char *event);

/* 'n' connections closed by modgate for 'reason' (a fixed word). */
void metrics_http_closed(const char *reason, int n);
/* 'n' held comments of 'site' the full moderation queue moved to spam
 * ("evicted") or did not store ("refused"). */
void metrics_overflow(const char *site, const char *action, int n);

/* GET /metrics: the counters, plus gauges read at scrape time (queue
 * depth per site and state from Redis, each site's cap, Redis's memory
 * and persistence settings, model sizes, spool depth, requests in
 * flight). Public, like /healthz: it holds counts, no content. */
void metrics_handle(struct http_request *req, struct http_response *resp);

#endif
