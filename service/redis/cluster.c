/* cluster.c - Redis Cluster: which master serves a key (cluster.h). */
#include "cluster.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counters.h"
#include "log.h"
#include "rthread.h"
#include "spool.h"
#include "util.h"

/* The held comments answered stored that a failover sends to the new
 * master again: those of the last REPLAY_MS, at most RECENT_MAX (as
 * sentinel.c). */
#define REPLAY_MS 60000
#define RECENT_MAX 20000

static struct cluster_cfg cc;        /* nnodes 0: Cluster off */
static struct redis_target data;     /* the data's user and password */
static int conn_ms = 200, cmd_ms = 250;

/* The node table: an index names one address until it is reused for
 * another (gen bumps). Slots map to indexes; -1 is none. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char host[256];
    int port;
    unsigned gen;
} node[CLUSTER_MAX_NODES];
static int nnode;
static _Atomic int16_t slot_node[CLUSTER_SLOTS];
static _Atomic unsigned map_gen;

static struct rthread w = RTHREAD_INIT; /* the refresher */

int cluster_on(void)
{
    return cc.nnodes != 0;
}

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as Redis. */
static uint16_t crc16(const unsigned char *p, size_t n)
{
    uint16_t crc = 0;
    while (n--) {
        crc ^= (uint16_t)(*p++ << 8);
        for (int i = 0; i < 8; i++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned cluster_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1)
            return crc16((const unsigned char *)open + 1, (size_t)(close - open - 1)) & (CLUSTER_SLOTS - 1);
    }
    return crc16((const unsigned char *)key, len) & (CLUSTER_SLOTS - 1);
}

int cluster_node_of(unsigned slot)
{
    return slot < CLUSTER_SLOTS ? atomic_load_explicit(&slot_node[slot], memory_order_acquire) : -1;
}

int cluster_node_target(int n, struct redis_target *t, unsigned *gen)
{
    int rc = -1;
    pthread_mutex_lock(&mu);
    if (n >= 0 && n < nnode) {
        snprintf(t->host, sizeof t->host, "%s", node[n].host);
        t->port = node[n].port;
        t->sock[0] = 0;
        *gen = node[n].gen;
        rc = 0;
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

/* Indexes that must not be reused for another address (mu held): those
 * named by the CLUSTER SLOTS reply being read (ask). */
static char pinned[CLUSTER_MAX_NODES];

/* The index of host:port (mu held), learning it: a new entry while there
 * is room, else one that serves no slot now and is not pinned. -1 when
 * none is free. */
static int named_locked(const char *host, int port)
{
    for (int i = 0; i < nnode; i++)
        if (node[i].port == port && strcmp(node[i].host, host) == 0)
            return i;
    int n = -1;
    if (nnode < CLUSTER_MAX_NODES) {
        n = nnode++;
    } else {
        char used[CLUSTER_MAX_NODES] = { 0 };
        for (unsigned s = 0; s < CLUSTER_SLOTS; s++) {
            int k = atomic_load(&slot_node[s]);
            if (k >= 0)
                used[k] = 1;
        }
        for (int i = 0; i < CLUSTER_MAX_NODES && n < 0; i++)
            if (!used[i] && !pinned[i])
                n = i;
        if (n < 0)
            return -1;
    }
    snprintf(node[n].host, sizeof node[n].host, "%s", host);
    node[n].port = port;
    node[n].gen++;
    return n;
}

int cluster_node_named(const char *hostport, size_t n)
{
    char s[300], host[256];
    int port;
    if (n == 0 || n >= sizeof s)
        return -1;
    memcpy(s, hostport, n);
    s[n] = 0;
    if (cfg_hostport(s, host, &port) != 0)
        return -1;
    pthread_mutex_lock(&mu);
    int k = named_locked(host, port);
    pthread_mutex_unlock(&mu);
    return k;
}

void cluster_moved(unsigned slot, int n)
{
    if (slot < CLUSTER_SLOTS && n >= 0 && atomic_exchange(&slot_node[slot], (int16_t)n) != n)
        atomic_fetch_add(&map_gen, 1);
    cluster_kick();
}

void cluster_kick(void)
{
    if (cluster_on())
        rthread_kick(&w);
}

unsigned cluster_gen(void)
{
    return atomic_load(&map_gen);
}

int cluster_masters(int *out, int max)
{
    char seen[CLUSTER_MAX_NODES] = { 0 };
    int k = 0;
    for (unsigned s = 0; s < CLUSTER_SLOTS && k < max; s++) {
        int n = atomic_load_explicit(&slot_node[s], memory_order_relaxed);
        if (n >= 0 && !seen[n]) {
            seen[n] = 1;
            out[k++] = n;
        }
    }
    return k;
}

/* ---------- learning the map ---------- */

/* CLUSTER SLOTS from host:port into a new map. Returns the slots covered,
 * or -1 when the node could not say: a node that knows no slot at all
 * (not part of the cluster yet, or reset) does not say either. */
static int ask(const char *host, int port, int16_t *map)
{
    redisContext *c = rthread_dial(host, port, conn_ms, cmd_ms);
    if (!c)
        return -1;
    redisReply *r = rthread_login(c, data.user, data.pass) == 0 ? redisCommand(c, "CLUSTER SLOTS") : NULL;
    int covered = -1;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        covered = 0;
        for (unsigned s = 0; s < CLUSTER_SLOTS; s++)
            map[s] = -1;
        pthread_mutex_lock(&mu);
        memset(pinned, 0, sizeof pinned);
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
                e->element[1]->type != REDIS_REPLY_INTEGER || e->element[2]->type != REDIS_REPLY_ARRAY ||
                e->element[2]->elements < 2 || e->element[2]->element[0]->type != REDIS_REPLY_STRING ||
                e->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
                continue;
            long long lo = e->element[0]->integer, hi = e->element[1]->integer;
            const char *ip = e->element[2]->element[0]->str;
            /* "" or "?": the node does not know its address; it is the one asked */
            int n = named_locked(ip[0] && strcmp(ip, "?") ? ip : host, (int)e->element[2]->element[1]->integer);
            if (n < 0 || lo < 0 || hi >= CLUSTER_SLOTS || lo > hi)
                continue;
            pinned[n] = 1;
            for (long long s = lo; s <= hi; s++)
                map[s] = (int16_t)n;
            covered += (int)(hi - lo + 1);
        }
        memset(pinned, 0, sizeof pinned);
        pthread_mutex_unlock(&mu);
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return covered > 0 ? covered : -1;
}

/* Ask the masters known, then the configured nodes, until one answers;
 * publish its map. Returns 0, or -1 when none answered. */
static int refresh(void)
{
    static int16_t map[CLUSTER_SLOTS]; /* the refresher's (or cluster_start's) alone */
    int masters[CLUSTER_MAX_NODES], nm = cluster_masters(masters, CLUSTER_MAX_NODES);
    int got = -1;
    for (int i = 0; i < nm + cc.nnodes && got < 0 && !atomic_load(&w.quit); i++) {
        char host[256];
        int port;
        if (i < nm) {
            struct redis_target t;
            unsigned g;
            if (cluster_node_target(masters[i], &t, &g) != 0)
                continue;
            snprintf(host, sizeof host, "%s", t.host);
            port = t.port;
        } else {
            snprintf(host, sizeof host, "%s", cc.node[i - nm].host);
            port = cc.node[i - nm].port;
        }
        got = ask(host, port, map);
    }
    if (got < 0)
        return -1;
    /* A master that served slots and serves none now (not one that gave
     * some away in a migration) failed over: what it took lately may not
     * be on its replica (spool.h) */
    char before[CLUSTER_MAX_NODES] = { 0 }, after[CLUSTER_MAX_NODES] = { 0 };
    int changed = 0;
    for (unsigned s = 0; s < CLUSTER_SLOTS; s++) {
        int old = atomic_exchange(&slot_node[s], map[s]);
        changed |= old != map[s];
        if (old >= 0)
            before[old] = 1;
        if (map[s] >= 0)
            after[map[s]] = 1;
    }
    int gone = 0;
    for (int i = 0; i < CLUSTER_MAX_NODES; i++)
        gone += before[i] && !after[i];
    if (changed) {
        atomic_fetch_add(&map_gen, 1);
        int n = cluster_masters(masters, CLUSTER_MAX_NODES);
        LOG_INFO(NULL, "redis cluster: %d masters serve %d of %d slots", n, got, CLUSTER_SLOTS);
    }
    if (gone) {
        metrics_redis_event("master_moved", gone);
        size_t k = spool_recent_replay(REPLAY_MS);
        metrics_redis_event("held_sent_again", (int)k);
        if (k)
            LOG_WARN(NULL, "redis cluster: a master failed over; %zu held comments stored in the last %d s go to "
                     "their masters again (each stored once)", k, REPLAY_MS / 1000);
    }
    static int logged_uncovered = -1;
    if (got < CLUSTER_SLOTS && got != logged_uncovered)
        LOG_WARN(NULL, "redis cluster: %d of %d slots have no master; their sites are degraded", CLUSTER_SLOTS - got,
                 CLUSTER_SLOTS);
    logged_uncovered = got;
    return 0;
}

/* The refresher: the map again every 5 s, at once when kicked (at most
 * every 50 ms: a slot moving answers MOVED to every command on it). */
static void *refresh_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&w.quit)) {
        rthread_nap(&w, 5000);
        if (atomic_load(&w.quit))
            break;
        atomic_store(&w.kicked, 0);
        static int failing;
        int rc = refresh();
        if (rc != 0 && !failing)
            LOG_WARN(NULL, "redis cluster: no node answered CLUSTER SLOTS; trying again");
        else if (rc == 0 && failing)
            LOG_INFO(NULL, "redis cluster: a node answered CLUSTER SLOTS again");
        failing = rc != 0;
        struct timespec pause = { 0, 50 * 1000000L }; /* a kick meanwhile is taken after it */
        nanosleep(&pause, NULL);
    }
    return NULL;
}

int cluster_start(const struct cfg *c, int watch)
{
    cc = c->cluster;
    data = c->redis;
    conn_ms = c->redis_connect_timeout_ms;
    cmd_ms = c->redis_command_timeout_ms;
    for (unsigned s = 0; s < CLUSTER_SLOTS; s++)
        atomic_store(&slot_node[s], -1);
    if (!cluster_on())
        return 0;
    spool_recent_keep(RECENT_MAX);
    if (refresh() != 0)
        LOG_WARN(NULL, "redis cluster: none of the %d nodes given answered CLUSTER SLOTS yet; trying again",
                 cc.nnodes);
    if (!watch)
        return 0;
    return rthread_start(&w, refresh_main);
}

void cluster_stop(void)
{
    rthread_stop(&w);
    sodium_memzero(&data, sizeof data);
}
