/* sentinel.c - Redis Sentinel: which server is the master (sentinel.h). */
#include "sentinel.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "log.h"
#include "rthread.h"
#include "spool.h"
#include "store.h"
#include "util.h"

/* The held comments answered stored that a move of the master sends to
 * the new one again: those of the last REPLAY_MS, at most RECENT_MAX
 * (spool.h). A failover takes a few seconds (down-after-milliseconds,
 * then the election and the promotion). */
#define REPLAY_MS 60000
#define RECENT_MAX 20000

static struct sentinel_cfg sc;      /* master "": Sentinel off */
static struct redis_target data;    /* the data's user and password, for ROLE */
static int conn_ms = 200, cmd_ms = 250;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char m_host[256];
static int m_port;                  /* 0: no master known */
static _Atomic unsigned moves;

static struct rthread w = RTHREAD_INIT; /* the watcher */

int sentinel_on(void)
{
    return sc.master[0] != 0;
}

/* The master's address by sentinel i. Returns 0, or -1. */
static int ask(int i, char host[256], int *port)
{
    redisContext *c = rthread_dial(sc.node[i].host, sc.node[i].port, conn_ms, cmd_ms);
    if (!c)
        return -1;
    int rc = -1;
    if (rthread_login(c, "", sc.pass) == 0) {
        redisReply *r = redisCommandArgv(c, 3, (const char *[]){ "SENTINEL", "get-master-addr-by-name", sc.master },
                                         (size_t[]){ 8, 23, strlen(sc.master) });
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
            r->element[1]->type == REDIS_REPLY_STRING && r->element[0]->len < 256) {
            long p = strtol(r->element[1]->str, NULL, 10);
            if (p > 0 && p < 65536) {
                memcpy(host, r->element[0]->str, r->element[0]->len + 1);
                *port = (int)p;
                rc = 0;
            }
        }
        if (r)
            freeReplyObject(r);
    }
    redisFree(c);
    return rc;
}

/* Does host:port say (ROLE) that it is a master? */
static int is_master(const char *host, int port)
{
    redisContext *c = rthread_dial(host, port, conn_ms, cmd_ms);
    if (!c)
        return 0;
    int yes = 0;
    if (rthread_login(c, data.user, data.pass) == 0) {
        redisReply *r = redisCommand(c, "ROLE");
        yes = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING &&
              strcmp(r->element[0]->str, "master") == 0;
        if (r)
            freeReplyObject(r);
    }
    redisFree(c);
    return yes;
}

/* Make host:port the master every connection goes to (new: the lanes
 * reconnect). */
/* Send the held comments answered stored lately to the new master again
 * (spool.h): at the move, then again at each time of 'again' (0: done).
 * A batch already on its way to the old master when the master moved is
 * answered after the first replay (a replica that is not promoted yet may
 * even acknowledge it), so it is caught by the later ones: one after the
 * command timeout, one when the failover has surely ended. */
static _Atomic int64_t again[2];

static void replay(void)
{
    size_t n = spool_recent_replay(REPLAY_MS);
    metrics_redis_event("held_sent_again", (int)n);
    if (n)
        LOG_WARN(NULL, "redis: %zu held comments stored in the last %d s go to the new master again "
                 "(each stored once)", n, REPLAY_MS / 1000);
}

static void replay_due(void)
{
    int64_t now = mono_ms();
    for (int i = 0; i < 2; i++) {
        int64_t t = atomic_load(&again[i]);
        if (t && now >= t && atomic_compare_exchange_strong(&again[i], &t, 0))
            replay();
    }
}

static void publish(const char *host, int port)
{
    pthread_mutex_lock(&mu);
    int same = m_port == port && strcmp(m_host, host) == 0, moved = !same && m_port != 0;
    if (!same) {
        snprintf(m_host, sizeof m_host, "%s", host);
        m_port = port;
        atomic_fetch_add(&moves, 1);
    }
    pthread_mutex_unlock(&mu);
    if (!same) {
        LOG_WARN(NULL, "redis: the sentinels name %s:%d as master %s; connecting there", host, port, sc.master);
        store_retarget();
    }
    if (moved) { /* what the old master took lately may not be on this one (spool.h) */
        metrics_redis_event("master_moved", 1);
        replay();
        atomic_store(&again[0], mono_ms() + cmd_ms + 500);
        atomic_store(&again[1], mono_ms() + 5000);
    }
}

/* A replica promoted in a failover still under way (+promoted-slave):
 * the sentinels name the old master until it ends, so until then (at most
 * PROMOTED_MS) resolve keeps to the promoted one while ROLE says master.
 * Under mu (resolve also runs on a thread that opens a connection while
 * no master is known: sentinel_target). */
#define PROMOTED_MS 60000
static char pro_host[256];
static int pro_port;
static int64_t pro_until;

/* Ask the sentinels in turn; the first answer ROLE confirms is the
 * master. Returns 0, or -1 when none could say (or named a replica). */
static int resolve(void)
{
    pthread_mutex_lock(&mu);
    char ph[256];
    int pp = mono_ms() < pro_until ? pro_port : 0;
    snprintf(ph, sizeof ph, "%s", pro_host);
    pthread_mutex_unlock(&mu);
    if (pp && is_master(ph, pp)) {
        publish(ph, pp);
        char host[256];
        int port;
        if (ask(0, host, &port) == 0 && port == pp && strcmp(host, ph) == 0) {
            pthread_mutex_lock(&mu);
            pro_port = 0; /* the failover is over: the sentinels name it too */
            pthread_mutex_unlock(&mu);
        }
        return 0;
    }
    pthread_mutex_lock(&mu);
    pro_port = 0;
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < sc.nnodes && !atomic_load(&w.quit); i++) {
        char host[256];
        int port;
        if (ask(i, host, &port) == 0 && is_master(host, port)) {
            publish(host, port);
            return 0;
        }
    }
    return -1;
}

int sentinel_target(struct redis_target *t, int may_ask)
{
    if (!sentinel_on())
        return 0;
    pthread_mutex_lock(&mu);
    int known = m_port != 0;
    pthread_mutex_unlock(&mu);
    if (!known && !may_ask)
        sentinel_kick();
    if (!known && (!may_ask || resolve() != 0))
        return -1;
    pthread_mutex_lock(&mu);
    snprintf(t->host, sizeof t->host, "%s", m_host);
    t->port = m_port;
    t->sock[0] = 0;
    pthread_mutex_unlock(&mu);
    return 0;
}

unsigned sentinel_gen(void)
{
    return atomic_load(&moves);
}

void sentinel_kick(void)
{
    if (sentinel_on())
        rthread_kick(&w);
}

/* A +switch-master message for our master, "NAME OLDIP OLDPORT NEWIP
 * NEWPORT" (the failover is over), or +promoted-slave, "slave IP:PORT IP
 * PORT @ NAME OLDIP OLDPORT" (the replica answered REPLICAOF NO ONE: the
 * sentinels still name the old master for a few seconds, while they
 * reconfigure the other replicas, but what the old master takes from now
 * on reaches no replica that stays). Either way, once ROLE confirms, the
 * new master is where writes go. */
static void on_message(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[2]->type != REDIS_REPLY_STRING ||
        strcmp(r->element[0]->str ? r->element[0]->str : "", "message") != 0)
        return;
    char name[128], oh[256], nh[256], id[300];
    int op, np;
    if (strcmp(r->element[1]->str, "+promoted-slave") == 0) {
        if (sscanf(r->element[2]->str, "slave %299s %255s %d @ %127s %255s %d", id, nh, &np, name, oh, &op) != 6 ||
            strcmp(name, sc.master) != 0)
            return;
        LOG_INFO(NULL, "redis: sentinel promoted %s:%d to replace master %s", nh, np, name);
        if (!is_master(nh, np))
            return;
        pthread_mutex_lock(&mu);
        snprintf(pro_host, sizeof pro_host, "%s", nh);
        pro_port = np;
        pro_until = mono_ms() + PROMOTED_MS;
        pthread_mutex_unlock(&mu);
    } else {
        pthread_mutex_lock(&mu);
        pro_port = 0;
        pthread_mutex_unlock(&mu);
        if (sscanf(r->element[2]->str, "%127s %255s %d %255s %d", name, oh, &op, nh, &np) != 5 ||
            strcmp(name, sc.master) != 0)
            return;
        LOG_INFO(NULL, "redis: sentinel announced a failover of %s to %s:%d", name, nh, np);
    }
    if (is_master(nh, np))
        publish(nh, np);
    else
        atomic_store(&w.kicked, 1); /* not yet promoted: ask again */
}

/* The watcher: subscribed to one sentinel's +switch-master (the next one
 * when it fails), asking all of them again when kicked and every few
 * seconds in any case. */
static void *watch_main(void *arg)
{
    (void)arg;
    int i = 0;
    while (!atomic_load(&w.quit)) {
        redisContext *c = rthread_dial(sc.node[i].host, sc.node[i].port, conn_ms, cmd_ms);
        redisReply *r = NULL;
        if (c && rthread_login(c, "", sc.pass) == 0)
            r = redisCommand(c, "SUBSCRIBE +switch-master +promoted-slave");
        int ok = r && r->type == REDIS_REPLY_ARRAY;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            if (c)
                redisFree(c);
            i = (i + 1) % sc.nnodes;
            if (atomic_exchange(&w.kicked, 0))
                resolve();
            replay_due();
            rthread_nap(&w, 500);
            continue;
        }
        resolve(); /* subscribed first: no switch falls between the two */
        int64_t next = mono_ms() + 5000;
        while (!atomic_load(&w.quit)) {
            replay_due();
            if (atomic_exchange(&w.kicked, 0) || mono_ms() >= next) {
                resolve();
                next = mono_ms() + 5000;
            }
            struct pollfd p = { c->fd, POLLIN, 0 };
            int n = poll(&p, 1, 100);
            if (n < 0 && errno != EINTR)
                break;
            if (n <= 0)
                continue;
            if (redisBufferRead(c) != REDIS_OK)
                break;
            void *m = NULL;
            int bad = 0;
            while (!bad && (bad = redisGetReplyFromReader(c, &m) != REDIS_OK) == 0 && m) {
                on_message(m);
                freeReplyObject(m);
                m = NULL;
            }
            if (bad)
                break;
        }
        redisFree(c);
        if (!atomic_load(&w.quit)) {
            LOG_WARN(NULL, "redis: lost sentinel %s:%d; trying the next", sc.node[i].host, sc.node[i].port);
            i = (i + 1) % sc.nnodes;
            atomic_store(&w.kicked, 1);
        }
    }
    return NULL;
}

int sentinel_start(const struct cfg *c, int watch)
{
    sc = c->sentinel;
    data = c->redis;
    conn_ms = c->redis_connect_timeout_ms;
    cmd_ms = c->redis_command_timeout_ms;
    if (!sentinel_on())
        return 0;
    spool_recent_keep(RECENT_MAX);
    if (resolve() != 0)
        LOG_WARN(NULL, "redis: no sentinel named a master %s yet; trying again", sc.master);
    if (!watch)
        return 0;
    return rthread_start(&w, watch_main);
}

void sentinel_stop(void)
{
    rthread_stop(&w);
    sodium_memzero(&sc.pass, sizeof sc.pass);
    sodium_memzero(&data, sizeof data);
}
