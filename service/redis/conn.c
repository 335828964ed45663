/* conn.c - a blocking Redis connection (see conn.h).
 *
 * With Redis Cluster a conn is a connection per master, each made on first
 * use, and every command goes to the master of its key's slot
 * (cluster.h): the first key (an EVAL's first KEYS entry, XREAD's first
 * stream, SCAN's MATCH pattern), or any master for a command without one.
 * What a single server does in one command, the cluster does here:
 *   - SCRIPT LOAD goes to every master connected, and is replayed on each
 *     one connected later, so an EVALSHA finds its script anywhere;
 *   - an XREAD of streams in several slots becomes one XREAD per slot
 *     without BLOCK, the replies merged; when none has anything new it
 *     waits min(BLOCK, 100 ms) itself, then answers nil as Redis would;
 *   - a MOVED, ASK or TRYAGAIN reply is followed: the command is sent
 *     again, on a connection of its own to the node named (the node's
 *     pipeline may hold later commands), until the command timeout. */
#include "conn.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cluster.h"
#include "config.h"
#include "hireply.h"
#include "sentinel.h"
#include "store.h"
#include "util.h"

/* A command sent on a cluster conn and not answered yet. */
struct sent {
    int node;
    char *cmd;          /* in RESP, for sending it again after a redirect */
    size_t len;
    int xread;          /* > 0: one part of a split XREAD of this many (see take_xread) */
    int block_ms;       /* its BLOCK, for the wait when no part has news */
};

struct conn {
    redisContext *rc;   /* without Cluster: the connection; with: the first made */
    int cluster;
    int conn_ms, cmd_ms;
    redisContext *node[CLUSTER_MAX_NODES];
    unsigned node_gen[CLUSTER_MAX_NODES];
    struct redis_target who;   /* conn_login's user and password (secret), for every node */
    int logged;
    char **script;             /* SCRIPT LOAD sources, for every node */
    int nscript;
    struct sent *q;            /* the unanswered, oldest first at q[qh] */
    size_t qh, qn, qcap;
    char err[320];             /* a cluster conn's failure */
    /* conn_cut, from another thread: the sockets are shut down (not
     * closed) under cut_mu, which also guards adding and freeing them */
    pthread_mutex_t cut_mu;
    _Atomic int cut;
    redisContext *tmp;         /* follow's connection of its own, while it waits (cut_mu) */
};

static redisContext *dial(const struct redis_target *t, int conn_ms, int cmd_ms, char *err, size_t errlen)
{
    struct timeval ct = { conn_ms / 1000, (conn_ms % 1000) * 1000 };
    struct timeval mt = { cmd_ms / 1000, (cmd_ms % 1000) * 1000 };
    redisContext *rc = t->sock[0] ? redisConnectUnixWithTimeout(t->sock, ct)
                                  : redisConnectWithTimeout(t->host, t->port, ct);
    if (!rc || rc->err || redisSetTimeout(rc, mt) != REDIS_OK) {
        snprintf(err, errlen, "%s", rc && rc->err ? rc->errstr : "cannot set up the connection");
        redisFree(rc);
        return NULL;
    }
    redisEnableKeepAlive(rc);
    return rc;
}

/* A reply that is not an error, freed. */
static int ok_reply(redisReply *r)
{
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r)
        freeReplyObject(r);
    return ok;
}

/* Log in and load the scripts on a new connection to a cluster node. */
static int node_setup(struct conn *c, redisContext *rc)
{
    const struct redis_target *t = &c->who;
    if (c->logged && t->pass[0] &&
        !ok_reply(t->user[0] ? redisCommand(rc, "AUTH %s %s", t->user, t->pass) : redisCommand(rc, "AUTH %s", t->pass)))
        return -1;
    for (int i = 0; i < c->nscript; i++)
        if (!ok_reply(redisCommand(rc, "SCRIPT LOAD %s", c->script[i])))
            return -1;
    return 0;
}

/* A connection to cluster node 'n' (made, logged in and loaded if need
 * be), or NULL with c->err set. */
static redisContext *node_conn(struct conn *c, int n)
{
    struct redis_target t = { 0 };
    unsigned gen;
    if (n < 0 || cluster_node_target(n, &t, &gen) != 0) {
        snprintf(c->err, sizeof c->err, "redis cluster: no master known for the slot");
        cluster_kick();
        return NULL;
    }
    if (c->node[n] && (c->node[n]->err || c->node_gen[n] != gen)) {
        pthread_mutex_lock(&c->cut_mu);
        if (c->node[n] != c->rc)
            redisFree(c->node[n]);
        c->node[n] = NULL;
        pthread_mutex_unlock(&c->cut_mu);
    }
    if (c->node[n])
        return c->node[n];
    redisContext *rc = dial(&t, c->conn_ms, c->cmd_ms, c->err, sizeof c->err);
    if (rc && node_setup(c, rc) != 0) {
        snprintf(c->err, sizeof c->err, "redis cluster: %.200s:%d refused the login or a script", t.host, t.port);
        redisFree(rc);
        rc = NULL;
    }
    if (!rc) {
        cluster_kick();
        return NULL;
    }
    pthread_mutex_lock(&c->cut_mu);
    if (atomic_load(&c->cut))
        shutdown(rc->fd, SHUT_RDWR);
    c->node[n] = rc;
    c->node_gen[n] = gen;
    pthread_mutex_unlock(&c->cut_mu);
    return rc;
}

static int any_master(void)
{
    int n;
    return cluster_masters(&n, 1) == 1 ? n : -1;
}

struct conn *conn_open(const struct redis_target *t, int conn_ms, int cmd_ms, char *err, size_t errlen)
{
    struct conn *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->cut_mu, NULL);
    c->conn_ms = conn_ms;
    c->cmd_ms = cmd_ms;
    c->cluster = cluster_on();
    if (c->cluster) { /* the first master now: tells whether the cluster can be reached at all */
        int n = any_master();
        c->rc = node_conn(c, n);
        if (!c->rc) {
            snprintf(err, errlen, "%s", c->err);
            pthread_mutex_destroy(&c->cut_mu);
            free(c);
            return NULL;
        }
        return c;
    }
    struct redis_target m = *t;
    if (sentinel_target(&m, 1) != 0) {
        snprintf(err, errlen, "no sentinel named a master");
        sodium_memzero(&m, sizeof m);
        pthread_mutex_destroy(&c->cut_mu);
        free(c);
        return NULL;
    }
    c->rc = dial(&m, conn_ms, cmd_ms, err, errlen);
    sodium_memzero(&m, sizeof m);
    if (!c->rc) {
        pthread_mutex_destroy(&c->cut_mu);
        free(c);
        return NULL;
    }
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
    if (c->cluster) { /* every node: the one open now, and each made later */
        c->who = *t;
        c->logged = 1;
        return node_setup(c, c->rc) == 0 ? 0 : -1;
    }
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

/* ---------- Redis Cluster ---------- */

static int is(const char *a, size_t n, const char *word)
{
    return n == strlen(word) && strncasecmp(a, word, n) == 0;
}

/* The slot a command goes to, -1 for any master. */
static int slot_of(int argc, const char *const *argv, const size_t *lens)
{
    if (argc < 2)
        return -1;
    if (is(argv[0], lens[0], "EVAL") || is(argv[0], lens[0], "EVALSHA"))
        return argc > 3 && strtol(argv[2], NULL, 10) > 0 ? (int)cluster_key_slot(argv[3], lens[3]) : -1;
    if (is(argv[0], lens[0], "XREAD")) {
        for (int i = 1; i + 1 < argc; i++)
            if (is(argv[i], lens[i], "STREAMS"))
                return (int)cluster_key_slot(argv[i + 1], lens[i + 1]);
        return -1;
    }
    if (is(argv[0], lens[0], "SCAN")) { /* the keys of a MATCH pattern with a hash tag live on one node */
        for (int i = 2; i + 1 < argc; i++)
            if (is(argv[i], lens[i], "MATCH"))
                return (int)cluster_key_slot(argv[i + 1], lens[i + 1]);
        return -1;
    }
    static const char *const keyless[] = { "PING", "INFO", "CONFIG", "SCRIPT", "TIME", "CLUSTER", "ROLE", "AUTH",
                                           "SELECT", NULL };
    for (int i = 0; keyless[i]; i++)
        if (is(argv[0], lens[0], keyless[i]))
            return -1;
    return (int)cluster_key_slot(argv[1], lens[1]);
}

static void enqueue(struct conn *c, int node, char *cmd, size_t len, int xread, int block_ms)
{
    if (c->qh + c->qn == c->qcap) {
        if (c->qh) {
            memmove(c->q, c->q + c->qh, c->qn * sizeof *c->q);
            c->qh = 0;
        } else {
            c->qcap = c->qcap ? 2 * c->qcap : 16;
            c->q = xrealloc(c->q, c->qcap * sizeof *c->q);
        }
    }
    c->q[c->qh + c->qn++] = (struct sent){ node, cmd, len, xread, block_ms };
}

/* Format and send argv to 'node'. Returns 0 or -1 (c->err). */
static int send_to(struct conn *c, int node, int argc, const char *const *argv, const size_t *lens, int xread,
                   int block_ms)
{
    redisContext *rc = node_conn(c, node);
    char *cmd = NULL;
    long long len = redisFormatCommandArgv(&cmd, argc, (const char **)argv, lens);
    if (!rc || len < 0) {
        if (len >= 0)
            redisFreeCommand(cmd);
        return -1;
    }
    if (redisAppendFormattedCommand(rc, cmd, (size_t)len) != REDIS_OK) {
        redisFreeCommand(cmd);
        snprintf(c->err, sizeof c->err, "%s", rc->errstr);
        return -1;
    }
    enqueue(c, node, cmd, (size_t)len, xread, block_ms);
    return 0;
}

/* XREAD [COUNT n] [BLOCK ms] STREAMS k1..kn id1..idn: one XREAD per run
 * of streams of one slot, without BLOCK. */
static int send_xread(struct conn *c, int argc, const char *const *argv, const size_t *lens)
{
    int st = -1, block_ms = 0;
    for (int i = 1; i < argc && st < 0; i++)
        if (is(argv[i], lens[i], "STREAMS"))
            st = i;
        else if (is(argv[i], lens[i], "BLOCK") && i + 1 < argc)
            block_ms = (int)strtol(argv[i + 1], NULL, 10);
    int n = st < 0 ? 0 : (argc - st - 1) / 2;
    if (n < 2) /* one slot at most: as it is */
        return send_to(c, cluster_node_of((unsigned)slot_of(argc, argv, lens)), argc, argv, lens, 0, 0);
    int runs = 0;
    for (int i = 0; i < n; i++)
        runs += i == 0 || cluster_key_slot(argv[st + 1 + i], lens[st + 1 + i]) !=
                              cluster_key_slot(argv[st + i], lens[st + i]);
    const char **a = xmalloc((size_t)argc * sizeof *a);
    size_t *l = xmalloc((size_t)argc * sizeof *l);
    int rc = 0;
    for (int from = 0; from < n && rc == 0;) {
        unsigned slot = cluster_key_slot(argv[st + 1 + from], lens[st + 1 + from]);
        int to = from + 1;
        while (to < n && cluster_key_slot(argv[st + 1 + to], lens[st + 1 + to]) == slot)
            to++;
        int k = 0;
        for (int i = 0; i < st; i++) /* XREAD and its options, BLOCK left out */
            if (is(argv[i], lens[i], "BLOCK"))
                i++;
            else
                a[k] = argv[i], l[k++] = lens[i];
        a[k] = argv[st], l[k++] = lens[st];
        for (int i = from; i < to; i++)
            a[k] = argv[st + 1 + i], l[k++] = lens[st + 1 + i];
        for (int i = from; i < to; i++)
            a[k] = argv[st + 1 + n + i], l[k++] = lens[st + 1 + n + i];
        rc = send_to(c, cluster_node_of(slot), k, a, l, runs, block_ms);
        from = to;
    }
    free(a);
    free(l);
    return rc;
}

/* A redirect reply (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) to 's': sends the
 * command again on a connection of its own to the node named (TRYAGAIN:
 * the node last tried, after 10 ms) until it is answered otherwise or
 * the command timeout passes. Takes 'r'; returns the answer (NULL: the
 * connection failed). */
static redisReply *follow(struct conn *c, const struct sent *s, redisReply *r)
{
    int64_t deadline = mono_ms() + c->cmd_ms;
    int node = s->node;
    while (r && r->type == REDIS_REPLY_ERROR && mono_ms() < deadline && !atomic_load(&c->cut)) {
        int ask = strncmp(r->str, "ASK ", 4) == 0;
        if (ask || strncmp(r->str, "MOVED ", 6) == 0) {
            char *end;
            long slot = strtol(r->str + (ask ? 4 : 6), &end, 10);
            int to = *end == ' ' ? cluster_node_named(end + 1, strlen(end + 1)) : -1;
            if (to < 0)
                break;
            if (!ask)
                cluster_moved((unsigned)slot, to);
            node = to;
        } else if (strncmp(r->str, "TRYAGAIN", 8) == 0 || strncmp(r->str, "CLUSTERDOWN", 11) == 0) {
            struct timespec ts = { 0, 10 * 1000000L };
            nanosleep(&ts, NULL);
        } else {
            break;
        }
        struct redis_target t = { 0 };
        unsigned gen;
        redisContext *rc = NULL;
        if (cluster_node_target(node, &t, &gen) == 0 && (rc = dial(&t, c->conn_ms, c->cmd_ms, c->err, sizeof c->err)) &&
            node_setup(c, rc) != 0) {
            redisFree(rc);
            rc = NULL;
        }
        if (!rc)
            break;
        pthread_mutex_lock(&c->cut_mu); /* conn_cut reaches it too */
        if (atomic_load(&c->cut))
            shutdown(rc->fd, SHUT_RDWR);
        c->tmp = rc;
        pthread_mutex_unlock(&c->cut_mu);
        freeReplyObject(r);
        r = NULL;
        if (ask)
            redisAppendCommand(rc, "ASKING");
        redisAppendFormattedCommand(rc, s->cmd, s->len);
        void *x = NULL;
        if (ask && redisGetReply(rc, &x) == REDIS_OK)
            freeReplyObject(x);
        if (redisGetReply(rc, (void **)&r) != REDIS_OK)
            r = NULL;
        pthread_mutex_lock(&c->cut_mu);
        c->tmp = NULL;
        redisFree(rc);
        pthread_mutex_unlock(&c->cut_mu);
    }
    return r;
}

/* The reply to the oldest command sent, followed if redirected. */
static redisReply *take(struct conn *c, struct sent *s)
{
    if (c->qn == 0) { /* a split XREAD whose parts were not all sent */
        memset(s, 0, sizeof *s);
        snprintf(c->err, sizeof c->err, "redis cluster: no command waits for an answer");
        return NULL;
    }
    *s = c->q[c->qh++];
    c->qn--;
    redisContext *rc = c->node[s->node];
    redisReply *r = NULL;
    if (!rc || redisGetReply(rc, (void **)&r) != REDIS_OK || !r) {
        snprintf(c->err, sizeof c->err, "%s", rc && rc->err ? rc->errstr : "redis cluster: connection lost");
        cluster_kick();
        return NULL;
    }
    return follow(c, s, r);
}

/* The parts of a split XREAD (s: the first, taken), merged as one reply:
 * the streams that have news, or nil (after the BLOCK wait) if none. */
static redisReply *take_xread(struct conn *c, struct sent *s, redisReply *r)
{
    int parts = s->xread, block_ms = s->block_ms, failed = !r;
    redisReply *all = xcalloc(1, sizeof *all);
    all->type = REDIS_REPLY_ARRAY;
    for (int i = 0; i < parts; i++) {
        if (i) {
            free(s->cmd);
            r = take(c, s);
            failed |= !r;
        }
        if (r && r->type == REDIS_REPLY_ARRAY) {
            all->element = xrealloc(all->element, (all->elements + r->elements) * sizeof *all->element);
            for (size_t j = 0; j < r->elements; j++) {
                all->element[all->elements++] = r->element[j];
                r->element[j] = NULL;
            }
        }
        if (r)
            freeReplyObject(r);
    }
    if (failed || all->elements == 0) {
        free(all->element);
        free(all);
        all = NULL;
        if (failed)
            return NULL;
        struct timespec ts = { 0, (long)(block_ms < 100 ? block_ms : 100) * 1000000L };
        nanosleep(&ts, NULL);
        all = xcalloc(1, sizeof *all);
        all->type = REDIS_REPLY_NIL;
    }
    return all;
}

/* ---------- both ---------- */

int conn_append_argv(struct conn *c, int argc, const char *const *argv, const size_t *lens)
{
    if (!c->cluster)
        return redisAppendCommandArgv(c->rc, argc, (const char **)argv, lens) == REDIS_OK ? 0 : -1;
    c->err[0] = 0; /* the last failure was the last command's */
    size_t *own = NULL;
    if (!lens) {
        own = xmalloc((size_t)argc * sizeof *own);
        for (int i = 0; i < argc; i++)
            own[i] = strlen(argv[i]);
        lens = own;
    }
    int rc;
    if (argc >= 2 && is(argv[0], lens[0], "SCRIPT") && is(argv[1], lens[1], "LOAD") && argc == 3) {
        /* kept for every node connected later; loaded on each connected now (their answers read at once:
         * so only while no command waits for one) and answered by the first (the SHA is the same) */
        if (c->qn) {
            snprintf(c->err, sizeof c->err, "SCRIPT LOAD while commands wait for answers");
            free(own);
            return -1;
        }
        c->script = xrealloc(c->script, (size_t)(c->nscript + 1) * sizeof *c->script);
        c->script[c->nscript++] = xstrndup(argv[2], lens[2]);
        for (int n = 0; n < CLUSTER_MAX_NODES; n++)
            if (c->node[n] && c->node[n] != c->rc)
                ok_reply(redisCommandArgv(c->node[n], argc, (const char **)argv, lens));
        rc = -1;
        for (int n = 0; n < CLUSTER_MAX_NODES && rc; n++)
            if (c->node[n] == c->rc)
                rc = send_to(c, n, argc, argv, lens, 0, 0);
    } else if (is(argv[0], lens[0], "XREAD")) {
        rc = send_xread(c, argc, argv, lens);
    } else {
        int slot = slot_of(argc, argv, lens);
        rc = send_to(c, slot < 0 ? any_master() : cluster_node_of((unsigned)slot), argc, argv, lens, 0, 0);
    }
    free(own);
    return rc;
}

struct store_reply *conn_get_reply(struct conn *c)
{
    redisReply *r = NULL;
    if (!c->cluster) {
        if (redisGetReply(c->rc, (void **)&r) != REDIS_OK || !r)
            return NULL;
    } else {
        c->err[0] = 0;
        struct sent s;
        r = take(c, &s);
        if (s.xread)
            r = take_xread(c, &s, r);
        free(s.cmd);
        if (!r)
            return NULL;
    }
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
    if (c->cluster && c->err[0])
        return c->err;
    return c->rc->err ? c->rc->errstr : NULL;
}

void conn_cut(struct conn *c)
{
    pthread_mutex_lock(&c->cut_mu);
    atomic_store(&c->cut, 1);
    shutdown(c->rc->fd, SHUT_RDWR);
    if (c->tmp)
        shutdown(c->tmp->fd, SHUT_RDWR);
    for (int n = 0; n < CLUSTER_MAX_NODES; n++)
        if (c->node[n])
            shutdown(c->node[n]->fd, SHUT_RDWR);
    pthread_mutex_unlock(&c->cut_mu);
}

void conn_close(struct conn *c)
{
    if (!c)
        return;
    for (int n = 0; n < CLUSTER_MAX_NODES; n++)
        if (c->node[n] && c->node[n] != c->rc)
            redisFree(c->node[n]);
    redisFree(c->rc);
    for (size_t i = 0; i < c->qn; i++)
        free(c->q[c->qh + i].cmd);
    free(c->q);
    for (int i = 0; i < c->nscript; i++)
        free(c->script[i]);
    free(c->script);
    sodium_memzero(&c->who, sizeof c->who);
    pthread_mutex_destroy(&c->cut_mu);
    free(c);
}
