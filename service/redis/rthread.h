/* rthread.h - what the Redis room's background threads share: sentinel.c's
 * watcher and cluster.c's refresher each sleep until a timeout or a kick
 * (another thread saw trouble) and talk to servers on short-lived
 * connections of their own. */
#ifndef MODGATE_RTHREAD_H
#define MODGATE_RTHREAD_H

#include <hiredis/hiredis.h>
#include <pthread.h>

struct rthread {
    pthread_t thr;
    int started;
    _Atomic int quit, kicked;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};
#define RTHREAD_INIT { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER }

/* Start 'fn' (it loops while !t->quit). Returns 0 or -1. */
int rthread_start(struct rthread *t, void *(*fn)(void *));

/* Set quit, wake the thread and join it (nothing if not started). */
void rthread_stop(struct rthread *t);

/* Set kicked and wake the thread. Cheap, safe from any thread. */
void rthread_kick(struct rthread *t);

/* Sleep up to 'ms', less if kicked (kicked stays set) or stopping. */
void rthread_nap(struct rthread *t, int ms);

/* A TCP connection to host:port within 'conn_ms', 'cmd_ms' per command
 * after; NULL when it failed. */
redisContext *rthread_dial(const char *host, int port, int conn_ms, int cmd_ms);

/* AUTH [user] pass on 'c' when 'pass' is not "". Returns 0 or -1. */
int rthread_login(redisContext *c, const char *user, const char *pass);

#endif
