/* rthread.c - the Redis room's background threads (rthread.h). */
#include "rthread.h"

#include <stdatomic.h>
#include <string.h>

#include "util.h"

int rthread_start(struct rthread *t, void *(*fn)(void *))
{
    atomic_store(&t->quit, 0);
    if (pthread_create(&t->thr, NULL, fn, NULL) != 0)
        return -1;
    t->started = 1;
    return 0;
}

void rthread_stop(struct rthread *t)
{
    if (!t->started)
        return;
    thread_stop(t->thr, &t->quit, &t->mu, &t->cv);
    t->started = 0;
}

void rthread_kick(struct rthread *t)
{
    if (atomic_exchange(&t->kicked, 1))
        return;
    pthread_mutex_lock(&t->mu);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void rthread_nap(struct rthread *t, int ms)
{
    pthread_mutex_lock(&t->mu);
    struct timespec ts = deadline_ms(ms);
    if (!atomic_load(&t->quit) && !atomic_load(&t->kicked))
        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
    pthread_mutex_unlock(&t->mu);
}

redisContext *rthread_dial(const char *host, int port, int conn_ms, int cmd_ms)
{
    struct timeval ct = { conn_ms / 1000, (conn_ms % 1000) * 1000 };
    struct timeval mt = { cmd_ms / 1000, (cmd_ms % 1000) * 1000 };
    redisContext *c = redisConnectWithTimeout(host, port, ct);
    if (c && !c->err && redisSetTimeout(c, mt) == REDIS_OK)
        return c;
    if (c)
        redisFree(c);
    return NULL;
}

int rthread_login(redisContext *c, const char *user, const char *pass)
{
    if (!pass[0])
        return 0;
    const char *argv[3] = { "AUTH", user, pass };
    size_t lens[3] = { 4, strlen(user), strlen(pass) };
    redisReply *r = user[0] ? redisCommandArgv(c, 3, argv, lens)
                            : redisCommandArgv(c, 2, (const char *[]){ "AUTH", pass }, (size_t[]){ 4, strlen(pass) });
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}
