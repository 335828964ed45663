/* counters.h - the counters and histograms of GET /metrics (Prometheus
 * text format 0.0.4), and the writers of that format.
 *
 * The counting half of metrics (its calls keep the metrics_ prefix): it
 * depends on nothing above util.c, so every room may count (store.c its
 * round trips, http.c its requests, check.c its decisions) without
 * depending on the /metrics handler, which reads Redis, the spool and the
 * models (operators/metrics.c).
 *
 * Every count is a process-wide atomic: the calls below cost a hash of
 * their labels and one atomic add, and never take a lock once a series
 * exists (a new series takes a mutex once). Label values are modgate's
 * own names (site, route pattern, reason code, ...), never request text,
 * so the number of series stays bounded; past METRICS_MAX_SERIES new
 * ones are dropped and counted in modgate_metrics_dropped_series_total.
 * Counters start at 0 when the process starts, as Prometheus expects. */
#ifndef MODGATE_COUNTERS_H
#define MODGATE_COUNTERS_H

#include <stdint.h>

#include "verdict.h"

struct buf;

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
/* 'n' Redis replication events: "master_moved", "held_sent_again",
 * "unacked_writes" (a fixed word). */
void metrics_redis_event(const char *event, int n);

/* Append every counter, modgate_metrics_dropped_series_total and the two
 * histograms (check duration, Redis round trip) to 'b', with their HELP
 * and TYPE lines. */
void counters_write(struct buf *b);

/* Append the HELP and TYPE lines of metric 'name'. */
void counters_head(struct buf *b, const char *name, const char *help, const char *type);
/* Append label 'name'="'v'" ('v' escaped as the text format wants), after
 * "{" when '*first' is set (then cleared), else after ",". The caller
 * closes the set with "}". */
void counters_label(struct buf *b, const char *name, const char *v, int *first);

#endif
