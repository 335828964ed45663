/* metrics.h - GET /metrics (Prometheus text format 0.0.4).
 *
 * The counters it shows are counted through counters.h, by the rooms
 * below; this handler adds the gauges read at scrape time. */
#ifndef MODGATE_METRICS_H
#define MODGATE_METRICS_H

#include "http.h"

/* GET /metrics: the counters, plus gauges read at scrape time (queue
 * depth per site and state from Redis, each site's cap, Redis's memory
 * and persistence settings, model sizes, spool depth, requests in
 * flight). Public, like /healthz: it holds counts, no content. */
void metrics_handle(struct http_request *req, struct http_response *resp);

#endif
