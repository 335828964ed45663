/* cluster.h - Redis Cluster: which master serves a key (issue 21).
 *
 * With redis.cluster (config.h's cluster_cfg) modgate learns the slot map
 * (CLUSTER SLOTS) from the nodes it was given, then from the masters it
 * knows, and sends each command to the master of its key's slot: CRC16 of
 * the key's hash tag, mod 16384. Every key of a site carries the tag
 * {SITE} and every key of a Bayes model {MODEL}, so whatever one command
 * or script touches lives on one slot. A refresher thread asks again every
 * few seconds and at once when the store saw the map change (a MOVED
 * reply, a failed node: cluster_moved, cluster_kick). The store's lanes
 * hold a connection per master (store.c); conn.h's blocking connections
 * route the same way. hiredis has no Cluster support; this is the map,
 * store.c and conn.c the routing. redis.url still gives the data's user
 * and password. */
#ifndef MODGATE_CLUSTER_H
#define MODGATE_CLUSTER_H

#include <stddef.h>

#include "config.h"

#define CLUSTER_SLOTS 16384
#define CLUSTER_MAX_NODES 32   /* masters (and former masters) known at once */

/* Take c->cluster (nothing to do without one), learn the slot map once
 * (bounded by the connect and command timeouts of each node tried), and
 * with 'watch' start the refresher thread. Returns 0 (also when no node
 * answered yet: the store then fails commands as when Redis is down, and
 * the refresher keeps asking), or -1 when the thread could not start. */
int cluster_start(const struct cfg *c, int watch);
void cluster_stop(void);

/* Is Redis Cluster in use? */
int cluster_on(void);

/* The slot of a key: CRC16 (XMODEM) of its hash tag (the bytes between
 * the first '{' and the next '}', when not empty), else of the whole key,
 * mod 16384. */
unsigned cluster_key_slot(const char *key, size_t len);

/* The node (an index below CLUSTER_MAX_NODES) serving 'slot', or -1 when
 * the map has none (not learnt yet, or the cluster lost the slot). */
int cluster_node_of(unsigned slot);

/* The address of node 'node' into 't' (host and port; the rest of 't'
 * stays), and its generation: bumped when the index is reused for
 * another address, so a connection made before is to another server.
 * Returns 0, or -1 for an index not in use. */
int cluster_node_target(int node, struct redis_target *t, unsigned *gen);

/* The index of the node at "host:port" (a MOVED or ASK reply's), learning
 * it if new. Returns -1 when it cannot be parsed or the table is full. */
int cluster_node_named(const char *hostport, size_t n);

/* A MOVED reply said 'slot' is served by 'node' now: route there at once,
 * and have the refresher learn the rest of the map. */
void cluster_moved(unsigned slot, int node);

/* Something looked wrong (a node failed, a slot had no node): the
 * refresher asks for the map now. Cheap, safe from any thread. */
void cluster_kick(void);

/* Bumped whenever the map changes. */
unsigned cluster_gen(void);

/* The distinct nodes serving at least one slot, in slot order, into
 * 'nodes' (at most 'max'). Returns how many. */
int cluster_masters(int *nodes, int max);

#endif
