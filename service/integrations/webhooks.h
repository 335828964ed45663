/* webhooks.h - signed webhooks (api.md 2.17): the events a site's queue,
 * readers and moderators make (held, decided, reported, author_changed)
 * go into a Redis outbox in the same script that makes them
 * (service/redis/lua/lib/queue_index.lua's hk_add), and a thread of every
 * instance delivers them (service/redis/lua/webhooks.lua): at least once,
 * in order per comment, retried with backoff for a day, each attempt in a
 * delivery log. Nothing of it runs on a check's path but the outbox write
 * of a held comment. */
#ifndef MODGATE_WEBHOOKS_H
#define MODGATE_WEBHOOKS_H

struct http_request;
struct http_response;

/* Start the delivery thread (after store_start). Returns 0 or -1. */
int webhooks_start(void);

/* Ask the thread to stop and wait up to 'ms' for it: 0 when it stopped,
 * else 1 (a Redis call holds it: cut it short with store_failfast, then
 * webhooks_stop). A delivery in flight is left to its lease: another
 * instance, or this one restarted, sends it again. */
int webhooks_stop_within(int ms);
void webhooks_stop(void);

/* GET /v1/sites/{site}/webhooks/deliveries?limit=N&before=ID */
void webhooks_deliveries_handle(struct http_request *req, struct http_response *resp);

#endif
