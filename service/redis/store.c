/* store.c - Redis glue: connections, timeouts and the Lua scripts.
 *
 * Key schema. Every key of a site carries the hash tag {SITE}, so the keys
 * one script touches always live on one Redis Cluster slot.
 *
 *   mg:{S}:rl:LEN:E      hash: every token bucket of the site in epoch E
 *                        (unix time / LEN s; LEN is four times the longest
 *                        refill time of the site's buckets). Field KIND:ID
 *                        (KIND ip|ip_prefix|author|thread|site|api, ID the
 *                        address, prefix, author, thread, "all" or API key
 *                        id), value 16 bytes: two little-endian doubles,
 *                        tokens left and the time (ms, Redis clock) they
 *                        were counted. Unlinked when epoch E+2 begins;
 *                        expires when epoch E+1 ends (+1 s) in any case.
 *   mg:{S}:dups:W:E      hash: the duplicate lists of the site in window
 *                        E (unix time / W s; W is the duplicate window).
 *                        Field FP (the normalised body's fingerprint),
 *                        value "iIP MS;aAUTHOR MS;...": who posted it in
 *                        the window, oldest first, at most 200 entries. A
 *                        list missing from window E is read from E-1 (and
 *                        then written to E). Unlinked when window E+2
 *                        begins; expires when E+1 ends (+1 s) in any case.
 *   mg:{S}:dec:ID        string          the response for comment ID plus
 *                        "body_fp", for idempotent replays (a different
 *                        body is an edit, judged again). TTL: decision_ttl_s.
 *   mg:{S}:c:ID, mg:{S}:q:held, ...   the moderation queue: see queue.h.
 *
 * Times come from Redis (TIME), so instances with skewed clocks agree. */
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <sys/socket.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "counters.h"
#include "hireply.h"
#include "log.h"
#include "luascripts.h"
#include "cluster.h"
#include "sentinel.h"
#include "util.h"

/* ---------- the scripts ---------- */

/* The check, hold and captcha risk scripts (luascripts.h) are
 * service/redis/lua/check.lua, hold.lua and risk.lua, whose headers give
 * their KEYS, ARGV, replies, invariants and costs. check runs the checks
 * of one site and epoch that reach a lane together as one call
 * (join_checks), hold stores one held comment (push_hold), risk counts a
 * captcha challenge (store_captcha_risk_async). */

/* ---------- settings ---------- */

struct endpoint {
    struct redis_target t;
    int connect_ms, command_ms, retry_ms;
    int min_acked;        /* redis.min_replicas_acked */
    unsigned gen;         /* bumped when the connection settings change */
};

static pthread_mutex_t ep_mu = PTHREAD_MUTEX_INITIALIZER;
static struct endpoint ep;
static int nlanes = 1;          /* redis.connections, fixed while the lanes run */
static int kickers_running;     /* lanes started (0: none; see store_start) */

void store_configure(const struct cfg *c)
{
    struct endpoint e;
    memset(&e, 0, sizeof e);
    e.t = c->redis;
    e.connect_ms = c->redis_connect_timeout_ms;
    e.command_ms = c->redis_command_timeout_ms;
    e.retry_ms = c->redis_retry_ms;
    e.min_acked = c->redis_min_replicas_acked;
    if (!kickers_running) /* the lane count changes only on restart */
        nlanes = c->redis_connections;
    pthread_mutex_lock(&ep_mu);
    int same = memcmp(&e.t, &ep.t, sizeof e.t) == 0 && e.connect_ms == ep.connect_ms &&
               e.command_ms == ep.command_ms;
    e.gen = same ? ep.gen : ep.gen + 1;
    ep = e;
    pthread_mutex_unlock(&ep_mu);
    sodium_memzero(e.t.pass, sizeof e.t.pass);
}

void store_retarget(void)
{
    pthread_mutex_lock(&ep_mu);
    ep.gen++;
    pthread_mutex_unlock(&ep_mu);
}

/* ---------- commands ----------
 *
 * Commands are written in RESP here, without printf: the check command has
 * some thirty arguments, and building it with snprintf and
 * redisFormatCommandArgv took more instructions than parsing the request.
 * cmd_begin takes the argument count up front; each cmd_* call appends one
 * argument. The result (c->b.p, c->b.len) is what the pipeline sends. */
struct cmd {
    struct buf b;
};

/* v in decimal at the end of tmp[24], NUL-terminated; returns its start
 * (the string ends at tmp + 23). */
static char *digits(long long v, char tmp[24])
{
    char *p = tmp + 23;
    *p = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    return p;
}

/* Append "TAG n\r\n"; the caller has reserved the room. */
static char *put_len(char *w, char tag, size_t n)
{
    char tmp[24], *d = digits((long long)n, tmp);
    size_t dl = (size_t)(tmp + 23 - d);
    *w++ = tag;
    memcpy(w, d, dl);
    w += dl;
    *w++ = '\r';
    *w++ = '\n';
    return w;
}

/* argc < 0: no header, for a check's parts. */
static void cmd_begin(struct cmd *c, int argc)
{
    /* One allocation that a check command fits (the buffer grows past it
     * for a long comment id or a held comment's item). */
    c->b.cap = 2048;
    c->b.p = xmalloc(c->b.cap);
    c->b.len = argc < 0 ? 0 : (size_t)(put_len(c->b.p, '*', (size_t)argc) - c->b.p);
    c->b.p[c->b.len] = 0;
}

/* Room for an argument of n bytes and its framing; returns where to write. */
static char *cmd_room(struct cmd *c, size_t n)
{
    buf_reserve(&c->b, n + 32);
    return c->b.p + c->b.len;
}

static void cmd_done(struct cmd *c, char *w)
{
    *w++ = '\r';
    *w++ = '\n';
    *w = 0;
    c->b.len = (size_t)(w - c->b.p);
}

static void cmd_arg(struct cmd *c, const char *s, size_t n)
{
    char *w = put_len(cmd_room(c, n), '$', n);
    memcpy(w, s, n);
    cmd_done(c, w + n);
}

static void cmd_str(struct cmd *c, const char *s)
{
    cmd_arg(c, s, strlen(s));
}

static void cmd_num(struct cmd *c, long long v)
{
    char tmp[24], *d = digits(v, tmp);
    cmd_arg(c, d, (size_t)(tmp + 23 - d));
}

/* One argument made of the NULL-terminated list of strings that follows. */
static void cmd_cat(struct cmd *c, ...)
{
    va_list ap;
    size_t n = 0;
    va_start(ap, c);
    for (const char *s; (s = va_arg(ap, const char *));)
        n += strlen(s);
    va_end(ap);
    char *w = put_len(cmd_room(c, n), '$', n);
    va_start(ap, c);
    for (const char *s; (s = va_arg(ap, const char *));) {
        size_t k = strlen(s);
        memcpy(w, s, k);
        w += k;
    }
    va_end(ap);
    cmd_done(c, w);
}

/* ---------- the pipeline ----------
 *
 * Redis traffic goes over redis.connections lanes, each pipelined by flat
 * combining: a thread with a command to send queues it on its lane; if no
 * batch is in flight there it becomes the lane's combiner, sends every
 * queued command in one write, reads the replies in order and hands each
 * to its callback. Commands that arrive meanwhile form the lane's next
 * batch. At low load a request does its own I/O with no hand-off; under
 * load Redis gets many commands per read and modgate makes one write and
 * few reads per batch, instead of a system call pair and a context switch
 * per request on both sides.
 *
 * How many lanes: a lane has one batch in flight at a time, so while its
 * replies are read and handed out Redis has nothing to do, and while
 * Redis runs the batch the next one waits; with several lanes one batch
 * is sent while another is answered. When each check was a script call
 * of its own, three lanes were best on the two-core bench machine (idle
 * CPU at 64 connections 17-18% with one, 9-10% with three). Since the
 * checks of a batch are joined into one script call, one lane is best
 * there: its batches are the largest (about 28 checks a call against
 * 14 with two lanes, 10 with three, 6 with five) and Redis's CPU per
 * check the lowest (29.5-31 us against 32-34, 33-35 and 35.6-36.2).
 * More lanes help where the round trip, not Redis's CPU, is the limit
 * (a Redis far away). A comment id always takes the same lane, so a
 * decision record written without waiting reaches Redis before a later
 * check of the same comment. */

#define MAX_LANES 8

struct pending {
    struct pending *next;
    char *cmd;              /* the command in RESP (struct cmd) */
    int len;
    redisReply *reply;      /* the answer, or NULL with err set */
    char err[160];
    int detached;           /* nobody waits: the combiner frees it */
    /* Every command but a detached one: the combiner parses the reply
     * into 'out' and calls 'done'. */
    void (*parse)(redisReply *r, const char *err, void *out); /* fills 'out' */
    store_parse_fn ext_parse; /* instead of parse: another module's (store_command_async, store_script_async) */
    void *out;
    const char *src;        /* the script, for resending EVALSHA as EVAL */
    store_done_fn done_fn;
    void *done_arg;
    int retried;            /* NOSCRIPT already answered by resending as EVAL */
    struct lane *lane;
    /* A check is not a whole command: 'cmd' holds its parts in RESP, the
     * site's four epoch keys (ek bytes), the epoch length and number (ea
     * bytes), then its own nkeys keys and nargs arguments. The combiner
     * joins the checks next to each other in a batch into one script
     * call (see run_batch). */
    int check;
    int ek, ea, nkeys, nargs;
    size_t keys_end;        /* where its keys end (and its arguments start) */
    int noscript;           /* its batch's script call answered NOSCRIPT */
    int durable;            /* its write is what the caller says is stored (store_script.durable):
                               DUR_ALWAYS, or a check's DUR_HELD / DUR_RULE (see wrote) */
    int unacked;            /* ... and WAIT found too few replicas with it: a failure */
    int slot;               /* Redis Cluster: its keys' slot (-1: none, or no cluster) */
    int pin;                /* Redis Cluster: 1 + the node it must go to (0: its slot's) */
};

enum { DUR_ALWAYS = 1, DUR_HELD, DUR_RULE };

/* Lock-free hand-off: submitters push onto 'queue' (a stack, reversed by
 * the combiner); whoever flips 'busy' from 0 to 1 is the combiner. Both
 * are sequentially consistent atomics, so a submitter that sees busy == 1
 * after its push can sleep: the combiner looks at the queue again after
 * clearing busy and takes what it finds. */
struct lane {
    _Atomic(struct pending *) queue;
    _Atomic int busy;
    /* A connection per server: node 0 alone without Redis Cluster, else
     * one per master the lane sent to (cluster.h's node indexes). */
    struct node_conn {
        redisContext *rc;       /* owned by the combiner (busy == 1) */
        int live_fd;            /* rc's socket, under live_mu (see store_failfast) */
        unsigned rc_gen;        /* the endpoint's gen when it connected */
        unsigned node_gen;      /* the cluster node's gen then */
        int64_t down_until_ms;  /* after a failed connect, fail fast until then */
    } node[CLUSTER_MAX_NODES];
    /* The lane's kicker thread sends what no request sends: detached
     * writes, and batches queued behind a request's own. */
    sem_t kick_sem;
    _Atomic int kick_now;   /* work is waiting: no delay */
    _Atomic int kick_pending; /* a delayed kick is already on its way */
    _Atomic int64_t last_detached_us; /* when the newest detached write was queued */
    pthread_t kicker_thr;
};

/* live_fd -1: no socket yet (0 would be stdin for store_failfast). */
static struct lane lanes[MAX_LANES];
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int failfast; /* stopping: fail commands instead of sending them */
static _Atomic int quit;

/* Script SHA1s, learnt from SCRIPT LOAD at connect; "" before that. */
static pthread_mutex_t sha_mu = PTHREAD_MUTEX_INITIALIZER;
static char check_sha[41], hold_sha[41], risk_sha[41];

static void push(struct pending *p);
static void finish_async(struct pending *p);
static int cmd_slot(const char *cmd, size_t len, int check);

/* The lane of a comment (or of anything else keyed by 'key'). */
static struct lane *lane_of(const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *k = (const unsigned char *)(key ? key : ""); *k; k++)
        h = (h ^ *k) * 16777619u;
    return &lanes[h % (uint32_t)nlanes];
}

static void drop_rc(struct node_conn *nc)
{
    pthread_mutex_lock(&live_mu);
    nc->live_fd = -1;
    pthread_mutex_unlock(&live_mu);
    redisFree(nc->rc);
    nc->rc = NULL;
}

/* The other modules' scripts (store_script_register). */
#define MAX_SCRIPTS 32
static struct store_script *scripts[MAX_SCRIPTS];
static int nscripts;

static int load_script(redisContext *c, const char *src, char *sha)
{
    const char *argv[] = { "SCRIPT", "LOAD", src };
    size_t lens[] = { 6, 4, strlen(src) };
    redisReply *r = redisCommandArgv(c, 3, argv, lens);
    int ok = r && r->type == REDIS_REPLY_STRING && r->len == 40;
    if (ok) {
        pthread_mutex_lock(&sha_mu);
        memcpy(sha, r->str, 41);
        pthread_mutex_unlock(&sha_mu);
    }
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

static int simple_ok(redisReply *r)
{
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Connect the lane to node 'n' (its combiner only): Redis, the master
 * the sentinels name, or a cluster master. Returns 0, or -1 with a reason
 * in err. */
static int connect_redis(struct lane *l, int n, int force, char *err, size_t errlen)
{
    pthread_mutex_lock(&ep_mu);
    struct endpoint e = ep;
    pthread_mutex_unlock(&ep_mu);
    struct node_conn *nc = &l->node[n];
    unsigned ngen = 0;
    int known = cluster_on() ? cluster_node_target(n, &e.t, &ngen) : sentinel_target(&e.t, 0);
    if (nc->rc && (nc->rc->err || nc->rc_gen != e.gen || nc->node_gen != ngen))
        drop_rc(nc);
    if (nc->rc) {
        sodium_memzero(e.t.pass, sizeof e.t.pass);
        return 0;
    }
    int64_t now = mono_ms();
    if (known != 0) { /* the watcher is asking */
        snprintf(err, errlen, cluster_on() ? "redis cluster: no master known for this site's slot yet"
                                           : "redis: no sentinel has named a master yet");
        sodium_memzero(e.t.pass, sizeof e.t.pass);
        return -1;
    }
    if (!force && now < nc->down_until_ms) {
        snprintf(err, errlen, "redis unreachable; next attempt in %lld ms", (long long)(nc->down_until_ms - now));
        sodium_memzero(e.t.pass, sizeof e.t.pass);
        return -1;
    }
    struct timeval ct = { e.connect_ms / 1000, (e.connect_ms % 1000) * 1000 };
    struct timeval mt = { e.command_ms / 1000, (e.command_ms % 1000) * 1000 };
    redisContext *c = e.t.sock[0] ? redisConnectUnixWithTimeout(e.t.sock, ct)
                                : redisConnectWithTimeout(e.t.host, e.t.port, ct);
    int ok = c && !c->err && redisSetTimeout(c, mt) == REDIS_OK;
    if (ok) {
        /* Published before AUTH and SCRIPT LOAD, which wait for answers: a
         * stop must be able to cut those short too (see store_failfast). */
        pthread_mutex_lock(&live_mu);
        nc->live_fd = c->fd;
        pthread_mutex_unlock(&live_mu);
        ok = !atomic_load(&failfast);
    }
    if (ok && e.t.pass[0]) {
        const char *a3[] = { "AUTH", e.t.user, e.t.pass };
        size_t l3[] = { 4, strlen(e.t.user), strlen(e.t.pass) };
        /* AUTH user pass (Redis 6 ACL) or AUTH pass (requirepass) */
        ok = simple_ok(e.t.user[0] ? redisCommandArgv(c, 3, a3, l3)
                                 : redisCommandArgv(c, 2, (const char *[]){ "AUTH", e.t.pass },
                                                    (size_t[]){ 4, strlen(e.t.pass) })) == 0;
    }
    if (ok && e.t.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", e.t.db);
        ok = simple_ok(redisCommandArgv(c, 2, (const char *[]){ "SELECT", db }, (size_t[]){ 6, strlen(db) })) == 0;
    }
    ok = ok && load_script(c, CHECK_LUA, check_sha) == 0 && load_script(c, HOLD_LUA, hold_sha) == 0 &&
         load_script(c, RISK_LUA, risk_sha) == 0;
    pthread_mutex_lock(&sha_mu);
    int nreg = nscripts;
    pthread_mutex_unlock(&sha_mu);
    for (int i = 0; ok && i < nreg; i++)
        ok = load_script(c, scripts[i]->src, scripts[i]->sha) == 0;
    sodium_memzero(e.t.pass, sizeof e.t.pass);
    if (!ok) {
        if (atomic_load(&failfast))
            snprintf(err, errlen, "redis: not waiting any longer, the service is stopping");
        else
            snprintf(err, errlen, "redis connect failed: %s",
                     c && c->err ? c->errstr : "authentication, SELECT or SCRIPT LOAD refused");
        pthread_mutex_lock(&live_mu);
        nc->live_fd = -1;
        pthread_mutex_unlock(&live_mu);
        if (c)
            redisFree(c);
        nc->down_until_ms = now + e.retry_ms;
        sentinel_kick(); /* with Sentinel: has the master moved? */
        cluster_kick();  /* with Cluster: has the slot map changed? */
        return -1;
    }
    redisEnableKeepAlive(c);
    nc->rc = c;
    nc->rc_gen = e.gen;
    nc->node_gen = ngen;
    nc->down_until_ms = 0;
    if (cluster_on())
        LOG_INFO(NULL, "connected to redis cluster master %s:%d (lane %d)", e.t.host, e.t.port, (int)(l - lanes));
    else
        LOG_INFO(NULL, "connected to redis (lane %d)", (int)(l - lanes));
    return 0;
}

/* Did the server close a connection we thought idle-and-fine (Redis's
 * `timeout`, a restart, a proxy)? Then nothing of the batch was run. */
static int closed_under_us(const redisContext *c)
{
    return c->err == REDIS_ERR_EOF ||
           (c->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE));
}

/* At most this many checks in one script call: it runs atomically, so a
 * longer one would hold Redis up for everyone else. */
#define MAX_GROUP 64

/* What one command of a batch answers: a plain command answers its own
 * pending; a script call joining 'n' checks answers them all. */
struct unit {
    struct pending *first;
    int n;
    char *cmd;              /* the joined command (owned), or NULL: first->cmd */
    size_t len;
    int slot;               /* its keys' cluster slot (-1: none, any node will do) */
    int pin;                /* 1 + the node it must go to (0: none) */
    int node;               /* where it goes this round (0 without Redis Cluster) */
    int ask;                /* an ASK reply named this node for the next round; -1 */
    int todo;               /* not answered yet: a redirect or a retry sends it again */
    char why[160];          /* the last redirect, the error if time runs out */
};

/* Can 'p' join the script call that 'g' begins? */
static int same_group(const struct pending *g, const struct pending *p)
{
    return p->check && p->ek == g->ek && p->ea == g->ea && memcmp(p->cmd, g->cmd, (size_t)(g->ek + g->ea)) == 0;
}

/* One script call for the 'n' checks from 'g' on (all of one site and
 * epoch): EVALSHA, or EVAL of the source when the SHA is not known or
 * Redis said NOSCRIPT to one of them before. Returns a new command. */
static char *join_checks(struct pending *g, int n, size_t *outlen)
{
    char sha[41];
    pthread_mutex_lock(&sha_mu);
    memcpy(sha, check_sha, sizeof sha);
    pthread_mutex_unlock(&sha_mu);
    /* the bucket and duplicate epochs' keys; the epochs' lengths and
     * numbers, 6 buckets' parameters, the cap's 5, the count of checks */
    int eval = !sha[0], nkeys = 9, argc = 2 + 12 + 2 + 5 + 4 + 1;
    size_t size = (size_t)(g->ek + g->ea);
    struct pending *p = g;
    for (int i = 0; i < n; i++, p = p->next) {
        eval |= p->retried;
        nkeys += p->nkeys;
        argc += p->nargs;
        size += (size_t)p->len - (size_t)(p->ek + p->ea);
    }
    struct cmd c;
    cmd_begin(&c, 3 + nkeys + argc);
    size_t srclen = eval ? strlen(CHECK_LUA) : 0;
    buf_reserve(&c.b, size + srclen + 128);
    if (eval) {
        cmd_arg(&c, "EVAL", 4);
        cmd_arg(&c, CHECK_LUA, srclen);
    } else {
        cmd_arg(&c, "EVALSHA", 7);
        cmd_arg(&c, sha, 40);
    }
    cmd_num(&c, nkeys);
    buf_append(&c.b, g->cmd, (size_t)g->ek); /* the epoch keys */
    p = g;
    for (int i = 0; i < n; i++, p = p->next) /* each check's keys */
        buf_append(&c.b, p->cmd + p->ek + p->ea, p->keys_end - (size_t)(p->ek + p->ea));
    buf_append(&c.b, g->cmd + g->ek, (size_t)g->ea); /* epoch length and number */
    cmd_num(&c, n);
    p = g;
    for (int i = 0; i < n; i++, p = p->next) /* each check's arguments */
        buf_append(&c.b, p->cmd + p->keys_end, (size_t)p->len - p->keys_end);
    *outlen = c.b.len;
    return c.b.p;
}

/* Hand the answer of a joined script call to its 'n' checks: one element
 * each, or, when Redis refused the call, its error to each of them. Takes
 * 'r' over. */
static void split_reply(redisReply *r, struct pending *g, int n)
{
    struct pending *p = g;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == (size_t)n) {
        for (int i = 0; i < n; i++, p = p->next) {
            p->reply = r->element[i];
            r->element[i] = NULL; /* now p's: freeReplyObject skips NULL */
        }
    } else {
        int noscript = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
        for (int i = 0; i < n; i++, p = p->next) {
            p->reply = NULL;
            p->noscript = noscript;
            snprintf(p->err, sizeof p->err, "redis: %.100s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply to a batch of checks");
        }
    }
    freeReplyObject(r);
}

/* Cut a batch into units: each run of checks of one site and epoch
 * becomes one script call, every other command stays as it is (so the
 * order of a lane's commands is kept). Returns the count. */
static int make_units(struct pending *batch, struct unit *u)
{
    int nu = 0;
    for (struct pending *p = batch; p;) {
        u[nu] = (struct unit){ p, 1, NULL, (size_t)p->len, p->slot, p->pin, 0, -1, 1, "" };
        struct pending *q = p->next;
        if (p->check) {
            while (q && u[nu].n < MAX_GROUP && same_group(p, q)) {
                u[nu].n++;
                q = q->next;
            }
            u[nu].cmd = join_checks(p, u[nu].n, &u[nu].len);
        }
        nu++;
        p = q;
    }
    return nu;
}

/* Did p store what its caller will say is stored? Any reply of a
 * DUR_ALWAYS command that is not an error; a check that carried a held
 * comment (DUR_HELD) when the script wrote its record, and one that
 * carried a rule's hold (DUR_RULE) when it wrote that (check.lua's
 * reply: "ok", ..., element 5 the record written: 1 the filters', 2 the
 * rule's hold). */
static int wrote(const struct pending *p)
{
    const redisReply *r = p->reply;
    if (!p->durable || !r || r->type == REDIS_REPLY_ERROR)
        return 0;
    if (p->durable == DUR_ALWAYS)
        return 1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 6 || r->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(r->element[0]->str, "ok") != 0 || r->element[5]->type != REDIS_REPLY_INTEGER)
        return 0;
    long long rec = r->element[5]->integer;
    return p->durable == DUR_HELD ? rec >= 1 : rec == 2;
}

/* redis.min_replicas_acked: after a batch that stored something durable
 * on node 'n', WAIT for its replicas (one more round trip, for those
 * batches only). The durable writes of the units 'u' answered by 'n' that
 * fewer than 'want' replicas acknowledged are failures (finish_async). A
 * WAIT that got no answer fails them too, and drops the connection. */
static void check_acked(struct lane *l, int n, struct unit *u, int nu, int want, int wait_ms)
{
    int any = 0;
    for (int i = 0; i < nu && !any; i++) {
        struct pending *p = u[i].first;
        for (int k = 0; k < u[i].n && !any; k++, p = p->next)
            any = !u[i].todo && u[i].node == n && wrote(p);
    }
    if (!any)
        return;
    struct node_conn *nc = &l->node[n];
    void *w = NULL;
    redisAppendCommand(nc->rc, "WAIT %d %d", want, wait_ms > 0 ? wait_ms : 1);
    int ok = redisGetReply(nc->rc, &w) == REDIS_OK;
    const redisReply *wr = w;
    long long got = ok && wr && wr->type == REDIS_REPLY_INTEGER ? wr->integer : -1;
    if (w)
        freeReplyObject(w);
    if (!ok)
        drop_rc(nc);
    if (got >= want)
        return;
    LOG_WARN(NULL, "redis: %lld of %d replicas acknowledged within %d ms (redis.min_replicas_acked): what this "
             "batch stored is answered as not stored", got < 0 ? 0 : got, want, wait_ms);
    int count = 0;
    for (int i = 0; i < nu; i++) {
        struct pending *p = u[i].first;
        for (int k = 0; k < u[i].n; k++, p = p->next)
            if (!u[i].todo && u[i].node == n && wrote(p)) {
                count++;
                p->unacked = 1;
                snprintf(p->err, sizeof p->err, "redis: %lld of %d replicas acknowledged the write within %d ms "
                         "(redis.min_replicas_acked)", got < 0 ? 0 : got, want, wait_ms);
            }
    }
    metrics_redis_event("unacked_writes", count);
}

/* Fail the units still to do on node 'n' (all nodes: -1) with 'err'. */
static void fail_units(struct unit *u, int nu, int n, const char *err)
{
    for (int i = 0; i < nu; i++)
        if (u[i].todo && (n < 0 || u[i].node == n)) {
            u[i].todo = 0;
            struct pending *p = u[i].first;
            for (int k = 0; k < u[i].n; k++, p = p->next) {
                p->reply = NULL;
                snprintf(p->err, sizeof p->err, "%s", err);
            }
        }
}

/* Where a unit goes this round: its ASK node, its slot's master (any
 * master for a command without keys), or node 0 without Redis Cluster. */
static int route(const struct unit *u)
{
    if (!cluster_on())
        return 0;
    if (u->ask >= 0)
        return u->ask;
    if (u->pin)
        return u->pin - 1;
    if (u->slot >= 0)
        return cluster_node_of((unsigned)u->slot);
    int any;
    return cluster_masters(&any, 1) == 1 ? any : -1;
}

/* Is 'r' a reply that says: not here, or not now (Redis Cluster moving a
 * slot or failing over, a demoted master)? Then the unit is sent again
 * (to the node it names) while the batch's time lasts. Sets '*pause' when
 * the next round should wait a moment first. */
static int redirected(struct unit *u, const redisReply *r, int *pause)
{
    if (r->type != REDIS_REPLY_ERROR || (!cluster_on() && !sentinel_on()))
        return 0; /* one Redis: an error is the answer, as it always was */
    const char *e = r->str;
    if (strncmp(e, "MOVED ", 6) == 0 || strncmp(e, "ASK ", 4) == 0) {
        int ask = e[1] == 'S';
        char *end;
        long slot = strtol(e + (ask ? 4 : 6), &end, 10);
        int n = -1;
        if (*end == ' ' && end[1] == ':') { /* no host (cluster-preferred-endpoint-type unknown-endpoint): the node asked's */
            struct redis_target t;
            unsigned gen;
            char hp[300];
            if (cluster_node_target(u->node, &t, &gen) == 0) {
                snprintf(hp, sizeof hp, "%.255s%s", t.host, end + 1);
                n = cluster_node_named(hp, strlen(hp));
            }
        } else if (*end == ' ') {
            n = cluster_node_named(end + 1, strlen(end + 1));
        }
        if (!cluster_on() || n < 0 || slot < 0 || slot >= CLUSTER_SLOTS)
            return 0;
        metrics_redis_event(ask ? "ask" : "moved", 1);
        if (ask) {
            u->ask = n;
        } else {
            u->ask = -1;
            if (n == u->node) /* the node that sent it away names itself: the map is changing, wait */
                *pause = 1;
            cluster_moved((unsigned)slot, n);
        }
    } else if (strncmp(e, "TRYAGAIN", 8) == 0 || strncmp(e, "CLUSTERDOWN", 11) == 0) {
        metrics_redis_event(e[0] == 'T' ? "tryagain" : "clusterdown", 1);
        cluster_kick(); /* a slot migrating (its keys are on two nodes), or a failover */
        u->ask = -1;
        *pause = 1;
    } else if (strncmp(e, "READONLY", 8) == 0) {
        sentinel_kick(); /* a replica now: the sentinels, or the cluster, name the master */
        cluster_kick();
        u->ask = -1;
        *pause = 1;
    } else {
        return 0;
    }
    snprintf(u->why, sizeof u->why, "redis: %.150s", e);
    return 1;
}

/* Send a batch and read its replies (the lane's combiner only). Each unit
 * goes to its node (see route); all of a node's go in one write and are
 * answered in order. A unit redirected (MOVED, ASK, TRYAGAIN, READONLY:
 * see redirected) is sent again in the next round, until the command
 * timeout has passed since the batch began. */
static void run_batch(struct lane *l, struct pending *batch)
{
    char err[160];
    int count = 0;
    for (struct pending *p = batch; p; p = p->next)
        count++;
    struct unit *units = xmalloc((size_t)count * sizeof *units);
    int nu = make_units(batch, units);
    /* redis.min_replicas_acked: a batch with a durable write waits for
     * the replicas (check_acked), well inside the command timeout */
    pthread_mutex_lock(&ep_mu);
    int min_acked = ep.min_acked, wait_ms = ep.command_ms * 3 / 4;
    int64_t deadline = mono_ms() + ep.command_ms;
    pthread_mutex_unlock(&ep_mu);
    int want_ack = 0;
    for (struct pending *p = batch; p && min_acked > 0 && !want_ack; p = p->next)
        want_ack = p->durable;
    int64_t t0 = 0;
    int failed = 0;
    char retried[CLUSTER_MAX_NODES] = { 0 };
    for (int round = 0;; round++) {
        if (atomic_load(&failfast)) {
            fail_units(units, nu, -1, "redis: not waiting any longer, the service is stopping");
            failed = 1;
            break;
        }
        char used[CLUSTER_MAX_NODES] = { 0 };
        int pause = 0;
        for (int i = 0; i < nu; i++)
            if (units[i].todo) {
                units[i].node = route(&units[i]);
                if (units[i].node < 0) { /* no master known for the slot: ask, and wait a moment */
                    cluster_kick();
                    pause = 1;
                    if (units[i].slot >= 0)
                        snprintf(units[i].why, sizeof units[i].why, "redis cluster: no master serves slot %d",
                                 units[i].slot);
                    else
                        snprintf(units[i].why, sizeof units[i].why, "redis cluster: no master known yet");
                } else {
                    used[units[i].node] = 1;
                }
            }
        /* Every node's commands are written before any reply is read, so
         * a batch over k masters costs one round trip, not k. */
        char sent[CLUSTER_MAX_NODES] = { 0 };
        for (int n = 0; n < CLUSTER_MAX_NODES; n++) {
            if (!used[n])
                continue;
            if (connect_redis(l, n, retried[n], err, sizeof err) != 0) {
                failed = 1;
                fail_units(units, nu, n, err);
                continue;
            }
            if (!t0)
                t0 = mono_us();
            redisContext *rc = l->node[n].rc;
            for (int i = 0; i < nu; i++)
                if (units[i].todo && units[i].node == n) {
                    if (units[i].ask >= 0)
                        redisAppendCommand(rc, "ASKING");
                    redisAppendFormattedCommand(rc, units[i].cmd ? units[i].cmd : units[i].first->cmd,
                                                units[i].len);
                }
            int done = 0;
            while (!done && redisBufferWrite(rc, &done) == REDIS_OK)
                ;
            sent[n] = 1; /* a write that failed shows as rc->err when its replies are read */
        }
        for (int n = 0; n < CLUSTER_MAX_NODES; n++) {
            if (!sent[n])
                continue;
            redisContext *rc = l->node[n].rc;
            int answered = 0, broken = 0;
            for (int i = 0; i < nu && !broken; i++) {
                if (!units[i].todo || units[i].node != n)
                    continue;
                void *r = NULL;
                if (units[i].ask >= 0 && redisGetReply(rc, &r) == REDIS_OK) { /* ASKING's +OK */
                    freeReplyObject(r);
                    r = NULL;
                    units[i].ask = -1;
                }
                if (rc->err || redisGetReply(rc, &r) != REDIS_OK) {
                    broken = 1;
                    break;
                }
                answered++;
                if (redirected(&units[i], r, &pause)) {
                    freeReplyObject(r);
                    continue;
                }
                units[i].todo = 0;
                if (units[i].cmd)
                    split_reply(r, units[i].first, units[i].n);
                else
                    units[i].first->reply = r;
            }
            if (!broken) {
                if (want_ack)
                    check_acked(l, n, units, nu, min_acked, wait_ms);
                continue;
            }
            /* A connection closed by the server before it answered anything
             * is retried once on a fresh one: no command sent on it ran. */
            int again = !retried[n] && answered == 0 && closed_under_us(rc);
            /* Otherwise (timeout, reset mid-batch) a late reply would be read
             * as the answer to the next command: the connection goes, and
             * for the retry interval commands fail fast instead of each
             * waiting out the timeout again. */
            snprintf(err, sizeof err, "redis: %s", rc->err ? rc->errstr : "protocol error");
            drop_rc(&l->node[n]);
            sentinel_kick();
            cluster_kick();
            if (again) {
                retried[n] = 1;
                continue;
            }
            failed = 1;
            pthread_mutex_lock(&ep_mu);
            l->node[n].down_until_ms = mono_ms() + ep.retry_ms;
            pthread_mutex_unlock(&ep_mu);
            fail_units(units, nu, n, err);
        }
        int left = 0;
        for (int i = 0; i < nu; i++)
            left += units[i].todo;
        if (!left)
            break;
        if (mono_ms() >= deadline) {
            for (int i = 0; i < nu; i++)
                if (units[i].todo)
                    fail_units(&units[i], 1, -1, units[i].why[0] ? units[i].why : "redis: timed out");
            failed = 1;
            break;
        }
        if (pause) {
            struct timespec ts = { 0, 5 * 1000000L }; /* a slot's keys moving, a master being named */
            nanosleep(&ts, NULL);
        }
    }
    metrics_redis(!failed && t0 ? mono_us() - t0 : 0, !failed);
    for (int i = 0; i < nu; i++)
        free(units[i].cmd);
    free(units);
}

/* Have the lane's kicker send what is queued, without delay. */
static void kick(struct lane *l)
{
    atomic_store(&l->kick_now, 1);
    sem_post(&l->kick_sem);
}

/* Be the lane's combiner while there is work, for at most 'rounds'
 * batches: take the queue (oldest first), run it, hand out the results.
 * Returns at once if another thread is the combiner. A request thread does
 * one round (its own command is in it) and leaves the rest to the kicker,
 * so that its own answer is not held back by other threads' I/O and it
 * gets back to its HTTP connections instead of serving everyone's. */
static void combine(struct lane *l, int rounds)
{
    for (int round = 0;; round++) {
        if (round == rounds) {
            if (atomic_load(&l->queue))
                kick(l);
            return;
        }
        int expected = 0;
        if (!atomic_compare_exchange_strong(&l->busy, &expected, 1))
            return;
        struct pending *stack = atomic_exchange(&l->queue, NULL), *batch = NULL;
        while (stack) { /* reverse: submission order is reply order */
            struct pending *n = stack->next;
            stack->next = batch;
            batch = stack;
            stack = n;
        }
        if (batch)
            run_batch(l, batch);
        for (struct pending *p = batch, *next; p; p = next) {
            next = p->next; /* p may vanish once done is set */
            if (p->done_fn) {
                finish_async(p); /* calls back last: the caller may free at once */
            } else { /* detached */
                if (p->reply)
                    freeReplyObject(p->reply);
                free(p->cmd);
                free(p);
            }
        }
        atomic_store(&l->busy, 0);
        if (!atomic_load(&l->queue))
            return;
    }
}

static void push(struct pending *p)
{
    struct lane *l = p->lane;
    struct pending *head = atomic_load(&l->queue);
    do
        p->next = head;
    while (!atomic_compare_exchange_weak(&l->queue, &head, p));
}


/* Queue a command nobody waits for; it rides with the lane's next batch,
 * or the kicker sends it when the lane is idle. Steals 'cmd'. */
static void submit_detached(struct lane *l, char *cmd, int len)
{
    struct pending *p = xcalloc(1, sizeof *p);
    p->cmd = cmd;
    p->len = len;
    p->detached = 1;
    p->lane = l;
    p->slot = cmd_slot(cmd, (size_t)len, 0);
    atomic_store(&l->last_detached_us, mono_us());
    push(p);
    /* One wake-up per kick delay at most, not one per write. */
    if (!atomic_load(&l->busy) && !atomic_exchange(&l->kick_pending, 1))
        sem_post(&l->kick_sem);
}

/* The kicker waits a moment before sending: under steady traffic the next
 * request's batch carries detached writes in the same write, which costs
 * nothing; only an idle pipeline needs the kicker's own round trip. */
#define KICK_DELAY_US 2000

static void *kicker(void *arg)
{
    struct lane *l = arg;
    while (!atomic_load(&quit)) {
        sem_wait(&l->kick_sem);
        /* Send only once writes have paused for the delay: while requests
         * keep coming they carry the writes, and a batch of the kicker's
         * own would only make the next request wait behind it. */
        while (!atomic_exchange(&l->kick_now, 0) && !atomic_load(&quit)) {
            int64_t idle = mono_us() - atomic_load(&l->last_detached_us);
            if (idle >= KICK_DELAY_US)
                break;
            struct timespec ts = { 0, (long)(KICK_DELAY_US - idle) * 1000L };
            nanosleep(&ts, NULL);
        }
        atomic_store(&l->kick_pending, 0);
        combine(l, INT_MAX);
    }
    combine(l, INT_MAX); /* whatever is left at shutdown */
    return NULL;
}

int store_start(void)
{
    atomic_store(&quit, 0);
    for (int i = 0; i < nlanes; i++) {
        struct lane *l = &lanes[i];
        for (int n = 0; n < CLUSTER_MAX_NODES; n++)
            l->node[n].live_fd = -1; /* no socket yet (0 would be stdin for store_failfast) */
        sem_init(&l->kick_sem, 0, 0);
        if (pthread_create(&l->kicker_thr, NULL, kicker, l) != 0) {
            store_stop();
            return -1;
        }
        kickers_running = i + 1;
    }
    return 0;
}

void store_failfast(int on)
{
    atomic_store(&failfast, on);
    if (!on)
        return;
    /* A batch already sent is not waited for either: the combiner's
     * blocking read returns EOF now instead of at the command timeout. */
    pthread_mutex_lock(&live_mu);
    for (int i = 0; i < kickers_running; i++)
        for (int n = 0; n < CLUSTER_MAX_NODES; n++)
            if (lanes[i].node[n].live_fd >= 0)
                shutdown(lanes[i].node[n].live_fd, SHUT_RDWR);
    pthread_mutex_unlock(&live_mu);
}

void store_stop(void)
{
    atomic_store(&quit, 1);
    for (int i = 0; i < kickers_running; i++) {
        sem_post(&lanes[i].kick_sem);
        pthread_join(lanes[i].kicker_thr, NULL);
    }
    kickers_running = 0;
    for (int i = 0; i < nlanes; i++)
        for (int n = 0; n < CLUSTER_MAX_NODES; n++)
            if (lanes[i].node[n].rc)
                drop_rc(&lanes[i].node[n]);
}



/* ---------- check ---------- */

static long long elem_int(const redisReply *r, size_t i)
{
    if (i >= r->elements)
        return 0;
    const redisReply *e = r->element[i];
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return strtoll(e->str, NULL, 10);
    return 0;
}

/* Rewrite a formatted EVALSHA command as the equivalent EVAL of 'src':
 * "*N $7 EVALSHA $40 <sha> <rest>" becomes "*N $4 EVAL $len <src> <rest>".
 * Returns a new command (free()) and its length, or NULL. */
static char *evalsha_to_eval(const char *cmd, int len, const char *src, int *outlen)
{
    static const char tag[] = "$7\r\nEVALSHA\r\n$40\r\n";
    const char *nl = memchr(cmd, '\n', (size_t)len);
    if (!nl)
        return NULL;
    size_t head = (size_t)(nl - cmd) + 1, tl = sizeof tag - 1;
    if ((size_t)len < head + tl + 42 || memcmp(cmd + head, tag, tl) != 0)
        return NULL;
    const char *rest = cmd + head + tl + 42;
    size_t restlen = (size_t)len - (size_t)(rest - cmd), sl = strlen(src);
    char mid[48];
    int ml = snprintf(mid, sizeof mid, "$4\r\nEVAL\r\n$%zu\r\n", sl);
    size_t n = head + (size_t)ml + sl + 2 + restlen;
    char *out = xmalloc(n);
    memcpy(out, cmd, head);
    memcpy(out + head, mid, (size_t)ml);
    memcpy(out + head + (size_t)ml, src, sl);
    memcpy(out + head + (size_t)ml + sl, "\r\n", 2);
    memcpy(out + head + (size_t)ml + sl + 2, rest, restlen);
    *outlen = (int)n;
    return out;
}

static void parse_check(redisReply *r, const char *err, void *out)
{
    struct store_check_res *res = out;
    if (!r) {
        snprintf(res->error, sizeof res->error, "%s", err);
        res->status = ST_DOWN;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING) {
        snprintf(res->error, sizeof res->error, "redis: unexpected check reply: %.100s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "wrong type");
        res->status = ST_DOWN;
        return;
    }
    /* The script is ours, but what comes back is still checked: a bucket
     * index out of range would index the request's arrays. */
    const char *tag = r->element[0]->str;
    long long b = elem_int(r, 1), n = res->nbuckets;
    if (strcmp(tag, "ok") == 0 && b >= 0 && b <= n) {
        res->status = ST_OK;
        res->bucket = (int)b - 1;
        res->remaining = (double)elem_int(r, 2);
        res->dup_ips = (long)elem_int(r, 3);
        res->dup_authors = (long)elem_int(r, 4);
        long long rec = elem_int(r, 5);
        res->recorded = rec == 1 || rec == 2 ? (int)rec : 0;
        res->evicted = (int)elem_int(r, 6);
        res->refused = elem_int(r, 7) == 1;
        long long cls = elem_int(r, 8);
        const redisReply *why = r->elements >= 10 ? r->element[9] : NULL;
        res->rep = cls >= REP_NONE && cls <= REP_BANNED && why && why->type == REDIS_REPLY_STRING ? (enum rep_class)cls
                                                                                              : REP_NONE;
        if (res->rep != REP_NONE)
            snprintf(res->rep_why, sizeof res->rep_why, "%.*s", (int)why->len, why->str);
    } else if (strcmp(tag, "replay") == 0 && r->element[1]->type == REDIS_REPLY_STRING) {
        res->status = ST_REPLAY;
        res->replay = xstrndup(r->element[1]->str, r->element[1]->len);
    } else if (strcmp(tag, "limited") == 0 && b >= 1 && b <= n && elem_int(r, 2) >= 0 &&
               elem_int(r, 2) <= 86400000LL * 366) {
        res->status = ST_LIMITED;
        res->bucket = (int)b - 1;
        res->retry_after_ms = (long)elem_int(r, 2);
    } else if (strcmp(tag, "api") == 0 && b >= 0 && b <= 86400000LL * 366) {
        res->status = ST_API_LIMITED;
        res->retry_after_ms = (long)b;
    } else {
        snprintf(res->error, sizeof res->error, "redis: unexpected check reply (%.20s)", tag);
        res->status = ST_DOWN;
    }
}

/* Combiner side of an asynchronous command: resend as EVAL once if Redis
 * lost the script, else fill the result and call back. */
static void finish_async(struct pending *p)
{
    redisReply *r = p->reply;
    if (p->noscript && !p->retried) { /* its batch's script call is sent again as EVAL */
        p->noscript = 0;
        p->retried = 1;
        push(p);
        return;
    }
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0 && !p->retried) {
        int len;
        char *eval = evalsha_to_eval(p->cmd, p->len, p->src, &len);
        if (eval) {
            freeReplyObject(r);
            free(p->cmd);
            p->cmd = eval;
            p->len = len;
            p->reply = NULL;
            p->retried = 1;
            push(p); /* taken by this combiner's next round or the kicker */
            return;
        }
    }
    if (p->unacked) { /* check_acked: not on enough replicas, so not stored as far as anyone is told */
        if (r)
            freeReplyObject(r);
        r = NULL;
    }
    if (p->ext_parse) { /* the module sees a store_reply, borrowing r's strings */
        struct store_reply *v = hireply_new(r, 0);
        p->ext_parse(v, p->err, p->out);
        free(v);
    } else {
        p->parse(r, p->err, p->out);
    }
    if (r)
        freeReplyObject(r);
    free(p->cmd);
    store_done_fn fn = p->done_fn;
    void *arg = p->done_arg;
    free(p);
    fn(arg);
}

/* Start a script call with 'argc' arguments after the script: EVALSHA with
 * the SHA learnt at connect, or EVAL of the source when no connection has
 * learnt it yet. Returns 1 for EVALSHA. */
static int cmd_script(struct cmd *c, const char *sha_slot, const char *src, int argc)
{
    char sha[41];
    pthread_mutex_lock(&sha_mu);
    memcpy(sha, sha_slot, sizeof sha);
    pthread_mutex_unlock(&sha_mu);
    cmd_begin(c, argc + 2);
    if (!sha[0]) {
        cmd_arg(c, "EVAL", 4);
        cmd_str(c, src);
        return 0;
    }
    cmd_arg(c, "EVALSHA", 7);
    cmd_arg(c, sha, 40);
    return 1;
}

/* Redis Cluster: the slot of a command in RESP ('check': a check's parts,
 * whose first is a key): its first key's, -1 for a command without keys
 * (PING, INFO, ...) and -2 for a script without keys. -1 without a
 * cluster. */
static int cmd_slot(const char *cmd, size_t len, int check)
{
    if (!cluster_on())
        return -1;
    const char *arg[4];
    size_t alen[4];
    int argc = 4;
    const char *q = cmd, *end = cmd + len;
    if (!check) {
        if (q >= end || *q != '*')
            return -1;
        argc = (int)strtol(q + 1, NULL, 10);
        if (!(q = memchr(q, '\n', (size_t)(end - q))))
            return -1;
        q++;
    }
    int n = 0;
    for (; n < 4 && n < argc; n++) {
        if (q >= end || *q != '$')
            break;
        alen[n] = (size_t)strtol(q + 1, NULL, 10);
        if (!(q = memchr(q, '\n', (size_t)(end - q))))
            break;
        arg[n] = ++q;
        q += alen[n] + 2;
        if (q > end)
            break;
    }
    if (check)
        return n ? (int)cluster_key_slot(arg[0], alen[0]) : -1;
    if (n == 0)
        return -1;
    if ((alen[0] == 4 && strncasecmp(arg[0], "EVAL", 4) == 0) || (alen[0] == 7 && strncasecmp(arg[0], "EVALSHA", 7) == 0))
        return n >= 3 && strtol(arg[2], NULL, 10) == 0 ? -2 /* no keys */
               : n == 4 ? (int)cluster_key_slot(arg[3], alen[3]) : -1;
    static const char *const keyless[] = { "PING", "INFO", "CONFIG", "SCRIPT", "WAIT", "TIME", "CLUSTER", "ROLE",
                                           NULL };
    for (int i = 0; keyless[i]; i++)
        if (alen[0] == strlen(keyless[i]) && strncasecmp(arg[0], keyless[i], alen[0]) == 0)
            return -1;
    return n >= 2 ? (int)cluster_key_slot(arg[1], alen[1]) : -1;
}

/* A pending command waited for: 'c' is taken over; 'parse' fills 'out'
 * from the reply, then 'done(arg)' runs. */
static struct pending *new_pending(struct lane *l, struct cmd *c, void (*parse)(redisReply *, const char *, void *),
                                   void *out, store_done_fn done, void *arg)
{
    struct pending *p = xcalloc(1, sizeof *p);
    p->lane = l;
    p->cmd = c->b.p;
    p->len = (int)c->b.len;
    p->parse = parse;
    p->out = out;
    p->done_fn = done;
    p->done_arg = arg;
    p->slot = cmd_slot(p->cmd, (size_t)p->len, 0);
    return p;
}

/* Queue pending command 'p' (taken over) without waiting; its parse and
 * done run when the reply (or a failure) is there. 'src', when not NULL,
 * is the script an EVALSHA is resent as after NOSCRIPT. With 'inline_io'
 * this thread sends the lane's batch itself when the lane is idle;
 * without, the lane's kicker does. */
static void queue_pending(struct pending *p, const char *src, int retried, int inline_io)
{
    struct lane *l = p->lane;
    p->src = src;
    p->retried = retried || !src;
    push(p);
    if (inline_io) {
        combine(l, 1);
    } else { /* the lane's kicker does the I/O; this thread goes on */
        kick(l);
    }
}

/* Queue a built command (taken over): queue_pending with 'parse' filling
 * 'out' from the hiredis reply, then 'done(arg)'. */
static void queue_async(struct lane *l, struct cmd *c, const char *src, int retried,
                        void (*parse)(redisReply *, const char *, void *), void *out, store_done_fn done,
                        void *arg, int inline_io)
{
    queue_pending(new_pending(l, c, parse, out, done, arg), src, retried, inline_io);
}

/* queue_async, inline, for a command of another module: its 'parse' gets
 * a store_reply (finish_async builds it). */
static void queue_ext(const char *lane_key, struct cmd *c, const char *src, int retried, int durable,
                      store_parse_fn parse, void *out, store_done_fn done, void *arg)
{
    struct pending *p = new_pending(lane_of(lane_key), c, NULL, out, done, arg);
    if (p->slot == -2) /* a script without keys works on its lane key's (a site's) */
        p->slot = lane_key ? (int)cluster_key_slot(lane_key, strlen(lane_key)) : -1;
    p->ext_parse = parse;
    p->durable = durable ? DUR_ALWAYS : 0;
    queue_pending(p, src, retried, 1);
}

/* The held queue's cap as the scripts take it (see the check script's
 * ARGV[17..21]): max_held, "1" to refuse at the cap, then retention,
 * events and audit ms. 'm' NULL: no cap. 'evict' set: evict at the cap
 * whatever the site says (a comment the CMS was told is kept). */
static void cap_args(struct cmd *c, const struct moderation_cfg *m, int evict)
{
    static const long long day_ms = 86400000LL;
    cmd_num(c, m ? m->max_held : 0);
    cmd_str(c, m && m->on_full_refuse && !evict ? "1" : "0");
    cmd_num(c, m ? m->retention_days * day_ms : 0);
    cmd_num(c, m ? m->events_days * day_ms : 0);
    cmd_num(c, m ? m->audit_days * day_ms : 0);
}

void store_check_async(const struct store_check_req *q, struct store_check_res *res,
                       store_done_fn done, void *arg)
{
    memset(res, 0, sizeof *res);
    res->bucket = -1;
    res->nbuckets = q->nbuckets;
    int api = q->api->enabled, rec = q->rec_head && q->comment_id;
    /* The epoch by our clock; the script corrects it by Redis's. */
    long len = q->epoch_s > 0 ? q->epoch_s : 1;
    long e = (long)(time(NULL) / len);
    char len_s[24], *len_d = digits(len, len_s);

    int held = rec && q->held_item;
    /* the texts of a rule's hold (check.lua's a+17..19) */
    int hv = q->comment_id && q->hold_head && q->hold_tail && q->hold_item;
    /* Its parts, to be joined with the checks queued next to it (see
     * struct pending): the epoch keys and numbers, then its own keys and
     * arguments. */
    struct cmd c;
    cmd_begin(&c, -1);
    long dlen = q->dup_epoch_s > 0 ? q->dup_epoch_s : 1, de = (long)(time(NULL) / dlen);
    char dlen_s[24], *dlen_d = digits(dlen, dlen_s);
    for (int i = 0; i < 4; i++) {
        char e_s[24];
        cmd_cat(&c, "mg:{", q->site, "}:rl:", len_d, ":", digits(e - 2 + i, e_s), NULL);
    }
    for (int i = 0; i < 4; i++) {
        char e_s[24];
        cmd_cat(&c, "mg:{", q->site, "}:dups:", dlen_d, ":", digits(de - 2 + i, e_s), NULL);
    }
    cmd_cat(&c, "mg:{", q->site, "}:rep", NULL);
    int ek = (int)c.b.len;
    cmd_num(&c, len);
    cmd_num(&c, e);
    /* Every bucket's capacity and refill, the same for all checks of the
     * site: slot 0 the API key's, slot 1 + kind the others'. */
    cmd_str(&c, q->api->capacity_s);
    cmd_str(&c, q->api->per_second_s);
    for (int k = 0; k < BK_COUNT; k++) {
        cmd_str(&c, q->buckets[k].capacity_s);
        cmd_str(&c, q->buckets[k].per_second_s);
    }
    cmd_num(&c, dlen);
    cmd_num(&c, de);
    cap_args(&c, q->mod, 0);
    const struct trust_cfg *t = q->trust;
    cmd_num(&c, t ? t->approved_to_trust : 0);
    cmd_str(&c, t ? t->max_rate_s : "0");
    cmd_num(&c, t ? t->window_days : 1);
    cmd_num(&c, t ? t->min_decisions : 1);
    int ea = (int)c.b.len - ek;
    cmd_cat(&c, "mg:{", q->site, "}:dec:", q->comment_id ? q->comment_id : "", NULL);
    if (held || hv) {
        cmd_cat(&c, "mg:{", q->site, "}:c:", q->comment_id, NULL);
        cmd_cat(&c, "mg:{", q->site, "}:q:held", NULL);
    }
    size_t keys_end = c.b.len;
    cmd_str(&c, q->comment_id && !q->no_replay ? "1" : "0");
    cmd_num(&c, q->dup_fp ? q->dup_window_ms : 0);
    cmd_str(&c, q->src_ip ? q->src_ip : "");
    cmd_str(&c, q->src_author ? q->src_author : "");
    cmd_str(&c, rec ? q->rec_head : "");
    cmd_str(&c, rec ? q->rec_tail : "");
    cmd_num(&c, q->rec_ttl_s);
    cmd_num(&c, q->dup_fp ? q->rec_max_dups : 0);
    cmd_str(&c, held ? q->held_item : "");
    cmd_num(&c, held || hv ? (long long)q->held_ms : 0);
    cmd_str(&c, q->no_replay ? "1" : "0");
    cmd_str(&c, (held || hv || q->no_replay) && q->comment_id ? q->comment_id : "");
    cmd_str(&c, q->dup_fp ? q->dup_fp : "");
    char slots[BK_COUNT + 2];
    int ns = 0;
    if (api)
        slots[ns++] = '0';
    for (int i = 0; i < q->nbuckets; i++)
        slots[ns++] = (char)('1' + q->kind[i]);
    cmd_arg(&c, slots, (size_t)ns);
    cmd_str(&c, q->trust && q->net ? q->net : "");
    char flags[5] = { q->trust_publishes ? '1' : '0', q->count_as ? q->count_as : '-', q->d0 ? q->d0 : 'a',
                      q->premod_new ? 'n' : '-', 0 };
    cmd_str(&c, flags);
    cmd_num(&c, q->trust ? q->new_hold : 0);
    cmd_str(&c, hv ? q->hold_head : "");
    cmd_str(&c, hv ? q->hold_tail : "");
    cmd_str(&c, hv ? q->hold_item : "");
    if (api)
        cmd_cat(&c, "api:", q->api_key_id, NULL);
    for (int i = 0; i < q->nbuckets; i++)
        cmd_cat(&c, bucket_name(q->kind[i]), ":", q->bucket_id[i], NULL);
    /* a check without an id or an IP (Coral's) is spread by its author */
    const char *spread = q->comment_id ? q->comment_id : q->src_ip && *q->src_ip ? q->src_ip : q->src_author;
    struct pending *p = new_pending(lane_of(spread), &c, parse_check, res,
                                    done, arg);
    p->check = 1;
    p->slot = cmd_slot(p->cmd, (size_t)p->len, 1);
    p->ek = ek;
    p->ea = ea;
    p->keys_end = keys_end;
    p->nkeys = 1 + 2 * (held || hv);
    p->nargs = 20 + ns;
    p->durable = held ? DUR_HELD : hv ? DUR_RULE : 0; /* a held comment: "stored" only once replicas have it */
    /* Once pushed, p belongs to whichever thread combines the lane next
     * (it may be answered and freed before push returns): read nothing
     * of it after. */
    struct lane *l = p->lane;
    push(p);
    combine(l, 1);
}

void store_api_token_async(const struct site_cfg *site, const char *key_id, struct store_check_res *res,
                           store_done_fn done, void *arg)
{
    struct store_check_req q = { 0 };
    q.site = site->name;
    q.api_key_id = key_id;
    q.api = &site->api;
    q.epoch_s = site->bucket_epoch_s;
    q.buckets = site->buckets;
    q.dup_epoch_s = site->dup_window_s;
    q.mod = &site->mod; /* as a comment check sends it: they join one script call */
    q.trust = &site->trust;
    q.src_ip = key_id; /* spreads the keys over the lanes */
    store_check_async(&q, res, done, arg); /* reads 'q' only during the call */
}

static void sync_done(void *arg)
{
    sem_post(arg);
}


/* ---------- writes ---------- */

void store_remember(const char *site, const char *comment_id, const char *json, long ttl_s)
{
    struct cmd c;
    cmd_begin(&c, 5);
    cmd_arg(&c, "SET", 3);
    cmd_cat(&c, "mg:{", site, "}:dec:", comment_id, NULL);
    cmd_str(&c, json);
    cmd_arg(&c, "EX", 2);
    cmd_num(&c, ttl_s);
    submit_detached(lane_of(comment_id), c.b.p, (int)c.b.len);
}

/* Does Redis's error say that it cannot take writes just now (full,
 * a replica after a failover, a script running long, loading its data,
 * a cluster reconfiguring)? Those pass by themselves; a comment refused
 * for one must wait, not be set aside as refused for good. */
static int transient_error(const char *e)
{
    static const char *const kinds[] = { "OOM", "READONLY", "BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN",
                                         "CLUSTERDOWN", "NOREPLICAS", "MOVED", "ASK", NULL };
    for (int i = 0; kinds[i]; i++) {
        size_t n = strlen(kinds[i]);
        if (strncmp(e, kinds[i], n) == 0 && (e[n] == ' ' || e[n] == 0))
            return 1;
    }
    return 0;
}

static void parse_hold(redisReply *r, const char *err, void *out)
{
    struct store_hold_res *h = out;
    if (!r) {
        h->rc = -1;
        snprintf(h->error, sizeof h->error, "%s", err);
        return;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        h->rc = r->integer >= 1 ? 1 : r->integer == -1 ? 2 : 0;
        h->evicted = r->integer > 1 ? (int)(r->integer - 1) : 0;
        return;
    }
    h->rc = -2;
    if (r->type == REDIS_REPLY_ERROR && transient_error(r->str))
        h->rc = -1; /* it passes: try again, as when Redis is down */
    snprintf(h->error, sizeof h->error, "redis %s the held comment: %.100s", h->rc == -1 ? "could not take" : "refused",
             r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
}

/* The hold script's call for one comment, queued on its lane but not
 * sent: 'res' is filled and 'done(arg)' called once a batch carried it.
 * Returns the lane. */
enum { HOLD_NEW, HOLD_EDIT, HOLD_LATE };

static struct lane *push_hold(const char *site, const char *comment_id, const char *response_json,
                              const char *item_json, long ttl_s, int64_t created_ms, int mode,
                              const struct moderation_cfg *mod, int may_refuse, struct store_hold_res *res,
                              store_done_fn done, void *arg)
{
    memset(res, 0, sizeof *res);
    struct cmd c;
    int evalsha = cmd_script(&c, hold_sha, HOLD_LUA, 16);
    cmd_arg(&c, "3", 1);
    cmd_cat(&c, "mg:{", site, "}:dec:", comment_id, NULL);
    cmd_cat(&c, "mg:{", site, "}:c:", comment_id, NULL);
    cmd_cat(&c, "mg:{", site, "}:q:held", NULL);
    cmd_str(&c, response_json);
    cmd_num(&c, (long long)ttl_s * 1000);
    cmd_str(&c, item_json);
    cmd_num(&c, (long long)created_ms);
    cmd_str(&c, comment_id);
    cmd_str(&c, mode == HOLD_EDIT ? "1" : "0");
    cap_args(&c, mod, !may_refuse);
    cmd_str(&c, mode == HOLD_LATE ? "1" : "0");
    struct pending *p = new_pending(lane_of(comment_id), &c, parse_hold, res, done, arg);
    p->src = HOLD_LUA;
    p->retried = !evalsha;
    p->durable = DUR_ALWAYS;
    struct lane *l = p->lane; /* p is not ours once pushed (store_check_async) */
    push(p);
    return l;
}

void store_hold_async(const char *site, const char *comment_id, const char *response_json,
                      const char *item_json, long ttl_s, int64_t created_ms, int replace,
                      const struct moderation_cfg *mod, int may_refuse, struct store_hold_res *res,
                      store_done_fn done, void *arg)
{
    struct lane *l = push_hold(site, comment_id, response_json, item_json, ttl_s, created_ms,
                               replace ? HOLD_EDIT : HOLD_NEW, mod, may_refuse, res, done, arg);
    combine(l, 1);
}

void store_hold_many(const struct store_hold_req *reqs, int n, struct store_hold_res *res)
{
    sem_t sem;
    sem_init(&sem, 0, 0);
    int used[MAX_LANES] = { 0 };
    for (int i = 0; i < n; i++) {
        const struct store_hold_req *q = &reqs[i];
        struct lane *l = push_hold(q->site, q->comment_id, q->response_json, q->item_json, q->ttl_s,
                                   q->created_ms, HOLD_LATE, q->mod, 0, &res[i], sync_done, &sem);
        used[l - lanes] = 1;
    }
    /* Every command is queued before any is sent: each lane's kicker
     * takes its share in one batch (one write, replies read in order),
     * together with whatever checks queued meanwhile. */
    for (int i = 0; i < nlanes; i++)
        if (used[i])
            kick(&lanes[i]);
    for (int i = 0; i < n; i++)
        while (sem_wait(&sem) != 0)
            ; /* EINTR */
    sem_destroy(&sem);
}

int store_hold(const char *site, const char *comment_id, const char *response_json,
               const char *item_json, long ttl_s, int64_t created_ms, const struct moderation_cfg *mod,
               int *evicted, char *err, size_t errlen)
{
    sem_t sem;
    sem_init(&sem, 0, 0);
    struct store_hold_res res;
    combine(push_hold(site, comment_id, response_json, item_json, ttl_s, created_ms, HOLD_LATE, mod, 0, &res,
                      sync_done, &sem), 1);
    while (sem_wait(&sem) != 0)
        ; /* EINTR */
    sem_destroy(&sem);
    if (res.rc < 0)
        snprintf(err, errlen, "%s", res.error);
    *evicted = res.evicted;
    return res.rc;
}

struct ping_res {
    int rc;
    char error[160];
};

static void parse_ping(redisReply *r, const char *err, void *out)
{
    struct ping_res *p = out;
    p->rc = r && r->type == REDIS_REPLY_STATUS ? 0 : -1;
    if (!r)
        snprintf(p->error, sizeof p->error, "%s", err);
    else if (p->rc)
        snprintf(p->error, sizeof p->error, "redis: %.100s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "bad PING reply");
}

int store_ping(char *err, size_t errlen)
{
    /* Every lane, all at once: a check may take any of them. Inside a
     * lane's retry interval after a failure this answers "down" at once
     * instead of waiting for a connect attempt; after it, the PING itself
     * reconnects. */
    struct ping_res res[MAX_LANES];
    sem_t sem;
    sem_init(&sem, 0, 0);
    for (int i = 0; i < nlanes; i++) {
        res[i] = (struct ping_res){ 0, "" };
        struct cmd c;
        cmd_begin(&c, 1);
        cmd_arg(&c, "PING", 4);
        queue_async(&lanes[i], &c, NULL, 1, parse_ping, &res[i], sync_done, &sem, 0);
    }
    for (int i = 0; i < nlanes; i++)
        while (sem_wait(&sem) != 0)
            ; /* EINTR */
    sem_destroy(&sem);
    for (int i = 0; i < nlanes; i++)
        if (res[i].rc) {
            snprintf(err, errlen, "%s", res[i].error);
            return res[i].rc;
        }
    return 0;
}


/* ---------- reads and other modules' commands ---------- */

/* Why a reply is no answer, into error[160]: Redis unreachable ('r'
 * NULL, 'err' says why), an error reply, or not the reply expected. */
static void reply_error_text(char error[static 160], const redisReply *r, const char *err)
{
    snprintf(error, 160, "%s%.100s", r ? "redis: " : "",
             r ? (r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply") : err);
}

static void parse_get(redisReply *r, const char *err, void *out)
{
    struct store_get_res *g = out;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        g->rc = -1;
        reply_error_text(g->error, r, err);
        return;
    }
    g->rc = r->type == REDIS_REPLY_STRING;
    if (g->rc)
        g->value = xstrndup(r->str, r->len);
}

void store_held_get_async(const char *site, const char *comment_id, struct store_get_res *res,
                          store_done_fn done, void *arg)
{
    memset(res, 0, sizeof *res);
    struct cmd c;
    cmd_begin(&c, 3);
    cmd_arg(&c, "HGET", 4);
    cmd_cat(&c, "mg:{", site, "}:c:", comment_id, NULL);
    cmd_arg(&c, "item", 4);
    queue_async(lane_of(comment_id), &c, NULL, 1, parse_get, res, done, arg, 1);
}

static void parse_risk(redisReply *r, const char *err, void *out)
{
    struct store_risk_res *k = out;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_INTEGER) {
        k->rc = -1;
        reply_error_text(k->error, r, err);
        return;
    }
    k->rate = (long)r->element[0]->integer;
    k->spam = (long)r->element[1]->integer;
}

/* The window key mg:{S}:cap:KIND:N, N = now / len. */
static void risk_key(struct cmd *c, const char *site, const char *kind, long long n)
{
    char num[24];
    num[fmt_int(num, n)] = '\0';
    cmd_cat(c, "mg:{", site, "}:cap:", kind, ":", num, NULL);
}

void store_captcha_risk_async(const char *site, const char *prefix, long long now_s, struct store_risk_res *res,
                              store_done_fn done, void *arg)
{
    memset(res, 0, sizeof *res);
    struct cmd c;
    int evalsha = cmd_script(&c, risk_sha, RISK_LUA, 6);
    cmd_arg(&c, "4", 1);
    risk_key(&c, site, "r", now_s / 60);
    risk_key(&c, site, "r", now_s / 60 - 1);
    risk_key(&c, site, "s", now_s / 3600);
    risk_key(&c, site, "s", now_s / 3600 - 1);
    cmd_str(&c, prefix);
    queue_async(lane_of(prefix), &c, RISK_LUA, !evalsha, parse_risk, res, done, arg, 1);
}

void store_captcha_spam(const char *site, const char *prefix, long long now_s)
{
    struct cmd c;
    cmd_begin(&c, 4);
    cmd_arg(&c, "HINCRBY", 7);
    risk_key(&c, site, "s", now_s / 3600);
    cmd_str(&c, prefix);
    cmd_arg(&c, "1", 1);
    submit_detached(lane_of(prefix), c.b.p, (int)c.b.len);
    cmd_begin(&c, 3);
    cmd_arg(&c, "EXPIRE", 6);
    risk_key(&c, site, "s", now_s / 3600);
    cmd_arg(&c, "7300", 4);
    submit_detached(lane_of(prefix), c.b.p, (int)c.b.len);
}

static void parse_redeem(redisReply *r, const char *err, void *out)
{
    struct store_get_res *g = out;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        g->rc = -1;
        reply_error_text(g->error, r, err);
        return;
    }
    g->rc = r->type == REDIS_REPLY_STATUS; /* OK; nil when the key was there */
}

void store_captcha_redeem_async(const char *site, const char *nonce, long ttl_s, struct store_get_res *res,
                                store_done_fn done, void *arg)
{
    memset(res, 0, sizeof *res);
    struct cmd c;
    cmd_begin(&c, 6);
    cmd_arg(&c, "SET", 3);
    cmd_cat(&c, "mg:{", site, "}:captcha:", nonce, NULL);
    cmd_arg(&c, "1", 1);
    cmd_arg(&c, "NX", 2);
    cmd_arg(&c, "EX", 2);
    cmd_num(&c, ttl_s < 1 ? 1 : ttl_s);
    queue_async(lane_of(nonce), &c, NULL, 1, parse_redeem, res, done, arg, 1);
}

int store_same_slot(const char *a, const char *b)
{
    return !cluster_on() || cluster_key_slot(a, strlen(a)) == cluster_key_slot(b, strlen(b));
}

void store_script_register(struct store_script *s)
{
    pthread_mutex_lock(&sha_mu);
    int known = 0;
    for (int i = 0; i < nscripts; i++)
        known |= scripts[i] == s;
    if (!known && nscripts < MAX_SCRIPTS)
        scripts[nscripts++] = s;
    pthread_mutex_unlock(&sha_mu);
}

/* Redis Cluster: a call of several sites' keys (only KEYS), sent as one
 * call per run of keys of one slot (store_script_async). Each part's
 * reply is copied; the last part to answer hands 'parse' the
 * concatenation of their arrays (or the first part that is not one). */
struct split_call {
    _Atomic int left;
    int nparts;
    struct store_reply **part;   /* hireply_new copies; NULL: not answered */
    char err[160];
    store_parse_fn parse;
    void *out;
    store_done_fn done;
    void *arg;
};

struct split_part {
    struct split_call *sc;
    int i;
};

static void part_parse(redisReply *r, const char *err, void *out)
{
    struct split_part *sp = out;
    sp->sc->part[sp->i] = hireply_new(r, 1);
    if (!r && err[0])
        snprintf(sp->sc->err, sizeof sp->sc->err, "%s", err);
}

static void part_done(void *arg)
{
    struct split_part *sp = arg;
    struct split_call *sc = sp->sc;
    free(sp);
    if (atomic_fetch_sub(&sc->left, 1) != 1)
        return;
    const struct store_reply *bad = NULL;
    size_t total = 0;
    int failed = 0;
    for (int i = 0; i < sc->nparts && !failed; i++) {
        failed = !sc->part[i] || sc->part[i]->type != STORE_REPLY_ARRAY;
        bad = failed ? sc->part[i] : NULL;
        total += failed ? 0 : sc->part[i]->elements;
    }
    if (failed) {
        sc->parse(bad, sc->err[0] ? sc->err : "redis: no reply", sc->out);
    } else {
        struct store_reply all = { .type = STORE_REPLY_ARRAY, .elements = total };
        all.element = xcalloc(total + 1, sizeof *all.element);
        size_t k = 0;
        for (int i = 0; i < sc->nparts; i++)
            for (size_t j = 0; j < sc->part[i]->elements; j++)
                all.element[k++] = sc->part[i]->element[j];
        sc->parse(&all, "", sc->out);
        free(all.element);
    }
    for (int i = 0; i < sc->nparts; i++)
        free(sc->part[i]);
    free(sc->part);
    store_done_fn fn = sc->done;
    void *fa = sc->arg;
    free(sc);
    fn(fa);
}

/* The keys argv[0..nkeys) run in several slots: send a call per run. */
static void split_script(struct store_script *s, const char *lane_key, int nkeys, const char *const *argv,
                         const size_t *lens, store_parse_fn parse, void *out, store_done_fn done, void *arg)
{
    int *run = xmalloc((size_t)nkeys * sizeof *run), nruns = 0;
    unsigned prev = CLUSTER_SLOTS;
    for (int i = 0; i < nkeys; i++) {
        unsigned slot = cluster_key_slot(argv[i], lens[i]);
        if (slot != prev)
            run[nruns++] = i;
        prev = slot;
    }
    struct split_call *sc = xcalloc(1, sizeof *sc);
    atomic_store(&sc->left, nruns);
    sc->nparts = nruns;
    sc->part = xcalloc((size_t)nruns, sizeof *sc->part);
    sc->parse = parse;
    sc->out = out;
    sc->done = done;
    sc->arg = arg;
    for (int r = 0; r < nruns; r++) {
        int from = run[r], to = r + 1 < nruns ? run[r + 1] : nkeys;
        struct cmd c;
        int evalsha = cmd_script(&c, s->sha, s->src, to - from + 1);
        cmd_num(&c, to - from);
        for (int i = from; i < to; i++)
            cmd_arg(&c, argv[i], lens[i]);
        struct split_part *sp = xmalloc(sizeof *sp);
        *sp = (struct split_part){ sc, r };
        struct pending *p = new_pending(lane_of(lane_key), &c, part_parse, sp, part_done, sp);
        p->durable = s->durable ? DUR_ALWAYS : 0;
        p->src = s->src;
        p->retried = !evalsha;
        push(p); /* all queued first: the lane sends them in one write */
    }
    free(run);
    combine(lane_of(lane_key), 1);
}

void store_script_async(struct store_script *s, const char *lane_key, int nkeys, int argc,
                        const char *const *argv, const size_t *lens, store_parse_fn parse, void *out,
                        store_done_fn done, void *arg)
{
    store_script_register(s);
    if (cluster_on() && nkeys > 1 && nkeys == argc) {
        unsigned first = cluster_key_slot(argv[0], lens[0]);
        for (int i = 1; i < nkeys; i++)
            if (cluster_key_slot(argv[i], lens[i]) != first) {
                split_script(s, lane_key, nkeys, argv, lens, parse, out, done, arg);
                return;
            }
    }
    struct cmd c;
    int evalsha = cmd_script(&c, s->sha, s->src, argc + 1);
    cmd_num(&c, nkeys);
    for (int i = 0; i < argc; i++)
        cmd_arg(&c, argv[i], lens[i]);
    queue_ext(lane_key, &c, s->src, !evalsha, s->durable, parse, out, done, arg);
}

void store_command_async(const char *lane_key, int argc, const char *const *argv, const size_t *lens,
                         const char *script_src, int durable, store_parse_fn parse, void *out, store_done_fn done,
                         void *arg)
{
    struct cmd c;
    cmd_begin(&c, argc);
    for (int i = 0; i < argc; i++)
        cmd_arg(&c, argv[i], lens[i]);
    /* evalsha_to_eval rewrites exactly "EVALSHA <40-digit sha>". */
    int evalsha = script_src && argc >= 2 && lens[0] == 7 && memcmp(argv[0], "EVALSHA", 7) == 0 && lens[1] == 40;
    queue_ext(lane_key, &c, evalsha ? script_src : NULL, !evalsha, durable, parse, out, done, arg);
}

/* ---------- Redis's own settings ----------
 *
 * Whether a Redis restart keeps what modgate acknowledged, and whether a
 * full Redis may drop modgate's keys. CONFIG GET says it exactly; managed
 * Redis often renames or disables CONFIG, so INFO persistence and INFO
 * memory are asked too, and what neither tells is "unknown", never a
 * failure. Five commands sent together (one round trip on a lane), each
 * parsed into its part of 'struct info_call'; the last to finish decides. */

enum { IC_AOF, IC_SAVE, IC_POLICY, IC_PERSIST, IC_MEMORY, IC_N };

struct info_part {
    struct info_call *call;
    int kind;
};

struct info_call {
    struct store_redis_info *out;
    store_done_fn done;
    void *arg;
    _Atomic int left;
    struct info_part part[IC_N];
    int aof, save;           /* CONFIG: 1 on, 0 off, -1 not answered */
    char policy[32];         /* CONFIG maxmemory-policy, "" not answered */
    int info_ok;             /* INFO persistence answered */
    int info_aof, info_rdb;  /* aof_enabled; an RDB snapshot was seen (1) or not (-1: can't tell) */
    char info_policy[32];
    int mem_ok;
    long long used, maxmem;
};

/* The value of 'key' in INFO text 's' ("key:value\r\n" lines) into
 * val[n]. Returns 0, or -1 when the field is not there. */
static int info_field(const char *s, const char *key, char *val, size_t n)
{
    size_t kl = strlen(key);
    for (const char *p = s; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
            const char *v = p + kl + 1;
            size_t l = strcspn(v, "\r\n");
            snprintf(val, n, "%.*s", (int)(l < n ? l : n - 1), v);
            return 0;
        }
    }
    return -1;
}

static long long info_num(const char *s, const char *key, long long def)
{
    char v[32];
    return info_field(s, key, v, sizeof v) == 0 ? strtoll(v, NULL, 10) : def;
}

/* CONFIG GET NAME answers [NAME, value]; anything else (an error: CONFIG
 * renamed or refused) leaves the value unknown. Returns it, or NULL. */
static const char *config_value(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING)
        return NULL;
    return r->element[1]->str;
}

static void parse_info(redisReply *r, const char *err, void *out)
{
    (void)err;
    struct info_part *pt = out;
    struct info_call *ic = pt->call;
    const char *v = pt->kind <= IC_POLICY ? config_value(r) : NULL;
    const char *text = r && r->type == REDIS_REPLY_STRING ? r->str : NULL;
    switch (pt->kind) {
    case IC_AOF:
        ic->aof = v ? strcmp(v, "yes") == 0 : -1;
        break;
    case IC_SAVE:
        ic->save = v ? v[0] != '\0' : -1;
        break;
    case IC_POLICY:
        snprintf(ic->policy, sizeof ic->policy, "%s", v ? v : "");
        break;
    case IC_PERSIST:
        if (!text)
            break;
        ic->info_ok = 1;
        ic->info_aof = info_num(text, "aof_enabled", 0) == 1;
        /* no CONFIG: a snapshot taken (or tried) says RDB is configured;
         * none yet says nothing (the first may simply not be due) */
        ic->info_rdb = info_num(text, "rdb_saves", 0) > 0 || info_num(text, "rdb_last_bgsave_time_sec", -1) >= 0 ? 1
                                                                                                              : -1;
        break;
    case IC_MEMORY:
        if (!text)
            break;
        ic->mem_ok = 1;
        ic->used = info_num(text, "used_memory", -1);
        ic->maxmem = info_num(text, "maxmemory", 0);
        if (info_field(text, "maxmemory_policy", ic->info_policy, sizeof ic->info_policy) != 0)
            ic->info_policy[0] = '\0';
        break;
    }
}

/* The verdict from what the five commands said (see store.h). */
static void info_decide(const struct info_call *ic, struct store_redis_info *o)
{
    int aof = ic->aof >= 0 ? ic->aof : ic->info_ok ? ic->info_aof : -1;
    int rdb = ic->save >= 0 ? ic->save : ic->info_ok ? ic->info_rdb : -1;
    o->rc = ic->info_ok || ic->mem_ok || ic->aof >= 0 ? 0 : -1;
    o->used_memory = ic->mem_ok ? ic->used : -1;
    o->maxmemory = ic->mem_ok ? ic->maxmem : -1;
    const char *mode = aof == 1 && rdb == 1 ? "aof+rdb"
                       : aof == 1           ? "aof"
                       : rdb == 1           ? "rdb"
                       : aof == 0 && rdb == 0 ? "none"
                                              : "unknown";
    snprintf(o->persistence, sizeof o->persistence, "%s", mode);
    const char *pol = ic->policy[0] ? ic->policy : ic->info_policy[0] ? ic->info_policy : "unknown";
    snprintf(o->eviction, sizeof o->eviction, "%s", pol);
    int known = strcmp(mode, "unknown") != 0 && strcmp(pol, "unknown") != 0;
    o->safe = strcmp(mode, "none") == 0 || (strcmp(pol, "unknown") != 0 && strcmp(pol, "noeviction") != 0) ? 0
              : known                                                                                      ? 1
                                                                                                           : -1;
}

static void info_done(void *arg)
{
    struct info_part *pt = arg;
    struct info_call *ic = pt->call;
    if (atomic_fetch_sub(&ic->left, 1) != 1)
        return;
    info_decide(ic, ic->out);
    store_done_fn fn = ic->done;
    void *a = ic->arg;
    free(ic);
    fn(a);
}

/* One server's settings: node 'pin' - 1 of a cluster (0: the lane's). */
static void info_one(struct store_redis_info *out, store_done_fn done, void *arg, int pin)
{
    memset(out, 0, sizeof *out);
    struct info_call *ic = xcalloc(1, sizeof *ic);
    ic->out = out;
    ic->done = done;
    ic->arg = arg;
    ic->aof = ic->save = -1;
    atomic_store(&ic->left, IC_N);
    static const char *const cmds[IC_N][3] = { { "CONFIG", "GET", "appendonly" }, { "CONFIG", "GET", "save" },
                                               { "CONFIG", "GET", "maxmemory-policy" }, { "INFO", "persistence", 0 },
                                               { "INFO", "memory", 0 } };
    struct lane *l = lane_of("redis-info");
    for (int i = 0; i < IC_N; i++) {
        ic->part[i] = (struct info_part){ ic, i };
        int argc = cmds[i][2] ? 3 : 2;
        struct cmd c;
        cmd_begin(&c, argc);
        for (int k = 0; k < argc; k++)
            cmd_str(&c, cmds[i][k]);
        struct pending *p = new_pending(l, &c, parse_info, &ic->part[i], info_done, &ic->part[i]);
        p->pin = pin;
        queue_pending(p, NULL, 1, 0);
    }
}

/* Redis Cluster: every master's settings, then the least safe of them
 * (see store.h). */
struct info_all {
    _Atomic int left;
    int n;
    struct store_redis_info part[CLUSTER_MAX_NODES];
    struct store_redis_info *out;
    store_done_fn done;
    void *arg;
};

/* Rank of a persistence mode, the least safe lowest. */
static int persist_rank(const char *m)
{
    static const char *const order[] = { "none", "unknown", "rdb", "aof", "aof+rdb", NULL };
    for (int i = 0; order[i]; i++)
        if (strcmp(m, order[i]) == 0)
            return i;
    return 1;
}

static void info_all_done(void *arg)
{
    struct info_all *a = arg;
    if (atomic_fetch_sub(&a->left, 1) != 1)
        return;
    struct store_redis_info *o = a->out;
    memset(o, 0, sizeof *o);
    o->rc = -1;
    o->safe = 1;
    snprintf(o->persistence, sizeof o->persistence, "aof+rdb");
    snprintf(o->eviction, sizeof o->eviction, "noeviction");
    int answered = 0, nolimit = 0;
    for (int i = 0; i < a->n; i++) {
        const struct store_redis_info *p = &a->part[i];
        if (p->rc != 0) { /* a master that did not answer: nothing can be told of it */
            o->safe = o->safe == 0 ? 0 : -1;
            continue;
        }
        answered++;
        if (persist_rank(p->persistence) < persist_rank(o->persistence))
            snprintf(o->persistence, sizeof o->persistence, "%s", p->persistence);
        int evicts = strcmp(p->eviction, "noeviction") != 0 && strcmp(p->eviction, "unknown") != 0;
        if (evicts || (strcmp(p->eviction, "unknown") == 0 && strcmp(o->eviction, "noeviction") == 0))
            snprintf(o->eviction, sizeof o->eviction, "%s", p->eviction);
        o->safe = p->safe == 0 || o->safe == 0 ? 0 : p->safe < 0 || o->safe < 0 ? -1 : 1;
        o->used_memory += p->used_memory > 0 ? p->used_memory : 0;
        nolimit |= p->maxmemory == 0;
        o->maxmemory += p->maxmemory > 0 ? p->maxmemory : 0;
    }
    if (answered) {
        o->rc = 0;
        if (nolimit)
            o->maxmemory = 0;
    }
    store_done_fn fn = a->done;
    void *fa = a->arg;
    free(a);
    fn(fa);
}

void store_redis_info_async(struct store_redis_info *out, store_done_fn done, void *arg)
{
    int nodes[CLUSTER_MAX_NODES], n = cluster_on() ? cluster_masters(nodes, CLUSTER_MAX_NODES) : 0;
    if (n == 0) { /* one Redis (or a cluster whose map is not known yet: any node) */
        info_one(out, done, arg, 0);
        return;
    }
    struct info_all *a = xcalloc(1, sizeof *a);
    atomic_store(&a->left, n);
    a->n = n;
    a->out = out;
    a->done = done;
    a->arg = arg;
    for (int i = 0; i < n; i++)
        info_one(&a->part[i], info_all_done, a, nodes[i] + 1);
}

void store_redis_info(struct store_redis_info *out)
{
    sem_t sem;
    sem_init(&sem, 0, 0);
    store_redis_info_async(out, sync_done, &sem);
    while (sem_wait(&sem) != 0)
        ; /* EINTR */
    sem_destroy(&sem);
}

void store_redis_info_log(const struct store_redis_info *in)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char last[64]; /* what was logged last: logged again only when it changes */
    if (in->rc != 0)
        return;
    char now[64];
    snprintf(now, sizeof now, "%s %s", in->persistence, in->eviction);
    pthread_mutex_lock(&mu);
    int same = strcmp(now, last) == 0;
    snprintf(last, sizeof last, "%s", now);
    pthread_mutex_unlock(&mu);
    if (same)
        return;
    if (strcmp(in->persistence, "none") == 0)
        LOG_WARN(NULL, "redis: no persistence (appendonly no and no save points): a restart of Redis loses every "
                 "held comment and decision modgate acknowledged; set appendonly yes (README: going live)");
    else if (strcmp(in->persistence, "unknown") == 0)
        LOG_WARN(NULL, "redis: persistence unknown (CONFIG is not available, and INFO shows no append-only file "
                 "and no snapshot yet): make sure Redis persists its data, or a restart loses held comments");
    else if (strcmp(in->persistence, "rdb") == 0)
        LOG_INFO(NULL, "redis: persistence by RDB snapshots only: comments acknowledged since the last snapshot are "
                 "lost if Redis stops; appendonly yes loses at most a second");
    if (strcmp(in->eviction, "unknown") == 0)
        LOG_WARN(NULL, "redis: maxmemory-policy unknown (neither CONFIG nor INFO says): it must be noeviction");
    else if (strcmp(in->eviction, "noeviction") != 0)
        LOG_WARN(NULL, "redis: maxmemory-policy is %s: a full Redis drops modgate's keys (decision records, "
                 "rate-limit buckets%s); set noeviction, so that a full Redis refuses writes instead", in->eviction,
                 strncmp(in->eviction, "allkeys", 7) == 0 ? ", held comments" : "");
    if (in->safe == 1)
        LOG_INFO(NULL, "redis: persistence %s, maxmemory-policy %s", in->persistence, in->eviction);
}
