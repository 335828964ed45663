/* conn.c - a blocking Redis connection (see conn.h). */
#include "conn.h"

#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "hireply.h"
#include "sentinel.h"
#include "store.h"
#include "util.h"

struct conn {
    redisContext *rc;   /* never NULL */
};

struct conn *conn_open(const struct redis_target *t, int conn_ms, int cmd_ms, char *err, size_t errlen)
{
    struct timeval ct = { conn_ms / 1000, (conn_ms % 1000) * 1000 };
    struct timeval mt = { cmd_ms / 1000, (cmd_ms % 1000) * 1000 };
    struct redis_target m = *t;
    if (sentinel_target(&m, 1) != 0) {
        snprintf(err, errlen, "no sentinel named a master");
        sodium_memzero(&m, sizeof m);
        return NULL;
    }
    t = &m;
    redisContext *rc = t->sock[0] ? redisConnectUnixWithTimeout(t->sock, ct)
                                  : redisConnectWithTimeout(t->host, t->port, ct);
    sodium_memzero(&m, sizeof m);
    if (!rc || rc->err || redisSetTimeout(rc, mt) != REDIS_OK) {
        snprintf(err, errlen, "%s", rc && rc->err ? rc->errstr : "cannot set up the connection");
        redisFree(rc);
        return NULL;
    }
    redisEnableKeepAlive(rc);
    struct conn *c = xmalloc(sizeof *c);
    c->rc = rc;
    return c;
}

/* One command whose answer only matters as "not an error". */
static int simple(struct conn *c, int argc, const char *const *argv)
{
    struct store_reply *r = conn_command_argv(c, argc, argv, NULL);
    int ok = r && r->type != STORE_REPLY_ERROR;
    conn_reply_free(r);
    return ok ? 0 : -1;
}

int conn_login(struct conn *c, const struct redis_target *t)
{
    if (t->pass[0]) {
        const char *a3[] = { "AUTH", t->user, t->pass };
        const char *a2[] = { "AUTH", t->pass };
        if (t->user[0] ? simple(c, 3, a3) : simple(c, 2, a2))
            return -1;
    }
    if (t->db) {
        char db[16]; /* an int in decimal */
        snprintf(db, sizeof db, "%d", t->db);
        const char *a[] = { "SELECT", db };
        if (simple(c, 2, a))
            return -1;
    }
    return 0;
}

struct store_reply *conn_command_argv(struct conn *c, int argc, const char *const *argv, const size_t *lens)
{
    if (conn_append_argv(c, argc, argv, lens))
        return NULL;
    return conn_get_reply(c);
}

int conn_append_argv(struct conn *c, int argc, const char *const *argv, const size_t *lens)
{
    return redisAppendCommandArgv(c->rc, argc, (const char **)argv, lens) == REDIS_OK ? 0 : -1;
}

struct store_reply *conn_get_reply(struct conn *c)
{
    redisReply *r = NULL;
    if (redisGetReply(c->rc, (void **)&r) != REDIS_OK || !r)
        return NULL;
    struct store_reply *o = hireply_new(r, 1);
    freeReplyObject(r);
    return o;
}

void conn_reply_free(struct store_reply *r)
{
    free(r);
}

const char *conn_error(const struct conn *c)
{
    return c->rc->err ? c->rc->errstr : NULL;
}

int conn_fd(const struct conn *c)
{
    return c->rc->fd;
}

void conn_close(struct conn *c)
{
    if (!c)
        return;
    redisFree(c->rc);
    free(c);
}
