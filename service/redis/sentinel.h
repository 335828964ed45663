/* sentinel.h - Redis Sentinel: which server is the master (issue 21).
 *
 * With redis.sentinel (config.h's sentinel_cfg) modgate never takes the
 * master's address from redis.url: it asks the sentinels
 * (SENTINEL get-master-addr-by-name), checks the answer with ROLE (a
 * server that is not a master is never written to), and follows a
 * failover: a watcher thread stays subscribed to a sentinel's
 * +switch-master channel, and asks again whenever the store reports
 * trouble (a failed connection, a READONLY reply: sentinel_kick). Every
 * connection modgate makes (the store's lanes, conn.h's blocking ones)
 * goes to sentinel_target's address. hiredis has no Sentinel support;
 * this is the whole of it. redis.url still gives the data's user,
 * password and db. */
#ifndef MODGATE_SENTINEL_H
#define MODGATE_SENTINEL_H

#include "config.h"

/* Take c->sentinel (nothing to do without one), find the master once
 * (bounded by the connect and command timeouts of each sentinel tried),
 * and with 'watch' start the watcher thread. Returns 0 (also when no
 * sentinel answered yet: the store then retries as when Redis is down),
 * or -1 when the thread could not start. */
int sentinel_start(const struct cfg *c, int watch);
void sentinel_stop(void);

/* Is Sentinel in use? */
int sentinel_on(void);

/* Point 't' at the master the sentinels named (host and port; no unix
 * socket). Returns 0, or -1 when none is known yet; with 'may_ask' it
 * asks the sentinels first (waiting: the command-line tools, a blocking
 * connection), else it wakes the watcher. Leaves 't' as it is without
 * Sentinel. */
int sentinel_target(struct redis_target *t, int may_ask);

/* Bumped each time the master moves: a long-lived blocking connection
 * (bayesdb's) made before is to a server that may be a replica now. */
unsigned sentinel_gen(void);

/* Something looked wrong with the master (a connection failed, Redis
 * said READONLY): the watcher asks the sentinels again now. Cheap, safe
 * from any thread. */
void sentinel_kick(void);

#endif
