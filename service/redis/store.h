/* store.h - everything modgate keeps in Redis (hiredis stays in this room).
 *
 * A few connections ("lanes"), each pipelined: concurrent requests share
 * Redis round trips (see "the pipeline" in store.c), with separate connect
 * and command timeouts. A check costs one round trip: one Lua script takes
 * the API-key token, replays a stored decision, takes every rate-limit
 * bucket (all or none), counts duplicates and records the decision; the
 * checks that reach a connection together share one call of it. The key schema is
 * documented at the top of store.c and in api.md. */
#ifndef MODGATE_STORE_H
#define MODGATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Apply connection settings from 'c' (URL, timeouts). Threads reconnect
 * when the URL changes. Call before serving and after each reload. */
void store_configure(const struct cfg *c);

struct store_check_req {
    const char *site;
    const char *comment_id;   /* NULL: nothing to replay */
    int no_replay;            /* 1: take the tokens even if the id was decided (an edit) */
    const char *api_key_id;   /* the caller's key id, for the API bucket */
    const struct bucket_cfg *api;    /* borrowed from the site's config */
    long epoch_s;             /* the site's bucket_epoch_s */
    int nbuckets;
    enum bucket_kind kind[BK_COUNT];
    const char *bucket_id[BK_COUNT]; /* "203.0.113.7", "203.0.113.0/24", ... */
    const struct bucket_cfg *buckets; /* the site's, one per kind (BK_COUNT) */
    long dup_window_ms;       /* 0: do not count duplicates */
    long dup_epoch_s;         /* the site's duplicate window, s: duplicate
                                 lists live in one hash per window */
    const char *dup_fp;       /* fingerprint of the normalised body */
    const char *src_ip;
    const char *src_author;   /* NULL when the comment has no author */
    /* The decision record the script writes itself when the check ends as
     * the filters already say: tokens left and no duplicate counted.
     * head + rate-limit JSON + tail; NULL head: write none. */
    const char *rec_head, *rec_tail;
    long rec_ttl_s;
    long rec_max_dups;        /* write only while both duplicate counts are
                                 below this (0: duplicates not counted) */
    /* With a record: the comment is held; the script stores this item
     * (JSON) and queues it at held_ms, unless an earlier check stored it
     * already (replaced when no_replay: an edit). NULL: not held. */
    const char *held_item;
    int64_t held_ms;
    /* The site's held-queue cap and retention (borrowed; NULL: no cap):
     * at moderation.max_held the held comment either evicts the held one
     * with the highest score to spam or, on_full "refuse", is not stored
     * (queue.h). */
    const struct moderation_cfg *mod;
    /* Reputation (check.lua, lib/rep.lua): the site's rules (NULL: none
     * apply), the comment's network ("" or NULL: none; its author is
     * src_author), trust_publishes 1 when trust would publish it,
     * count_as 'a' or 'r' when the record written counts as an automatic
     * decision (0: not), new_hold the new-commenter hold for it and d0
     * (below). */
    const struct trust_cfg *trust;
    const char *net;
    int trust_publishes;
    char count_as;
    long new_hold;
    char d0;                  /* the filters' decision: 'a', 'c', 'h' or 'r' (check.lua drops an
                                 edit that will not be held) */
    int premod_new;           /* the story pre-moderates new commenters (the rule's detail says so) */
    /* The record and held item to write instead when a reputation rule
     * holds a comment the filters accept or challenge (NULL: none; then
     * check.c stores it with the hold script). A held comment's texts,
     * these and those above when d0 is 'h', have a byte 1 where the
     * rule's reason goes (check.lua). */
    const char *hold_head, *hold_tail, *hold_item;
};

/* The reputation rule the check script found for a comment (check.lua). */
enum rep_class {
    REP_NONE = 0, REP_TRUSTED, REP_TRUSTED_SET, REP_NEW, REP_RECENT, REP_RECENT_NET, REP_PREMOD, REP_BANNED
};

enum store_status {
    ST_OK = 0,       /* tokens taken; dup counts valid */
    ST_REPLAY,       /* this comment id was decided before: replay */
    ST_LIMITED,      /* a comment bucket is empty: nothing was taken */
    ST_API_LIMITED,  /* the caller's API key is over its rate */
    ST_DOWN,         /* Redis unreachable, slow or failing */
};

struct store_check_res {
    int nbuckets;            /* in: the request's bucket count (replies are checked against it) */
    enum store_status status;
    char *replay;            /* ST_REPLAY: the stored response JSON (new; free()) */
    int bucket;              /* ST_LIMITED: which request bucket (index into req arrays);
                                ST_OK: the one with the fewest tokens left, or -1 */
    double remaining;        /* ST_OK: tokens left in that bucket */
    long retry_after_ms;     /* ST_LIMITED / ST_API_LIMITED */
    long dup_ips, dup_authors; /* ST_OK with duplicates counted */
    int recorded;            /* ST_OK: the script wrote the decision record
                                (and stored the held comment, if any): 1 the
                                filters' decision, 2 the hold of the rule */
    int evicted;             /* ST_OK: held comments moved to spam to make room */
    int refused;             /* ST_OK: the held comment was not stored: the
                                queue is at its cap and the site refuses
                                (recorded is 0) */
    enum rep_class rep;      /* ST_OK: the rule that applies */
    char rep_why[160];       /* ST_OK: its detail, with the counts it read */
    char error[160];         /* ST_DOWN: why, without secrets */
};

typedef void (*store_done_fn)(void *arg);

/* Run the check script without waiting: 'res' is filled, then 'done(arg)'
 * is called, from this thread (when it did the I/O itself) or from the
 * thread that did, possibly before this function returns. Status may be
 * ST_DOWN; the wait is bounded by the connect + command timeouts. 'req' is
 * only read during the call. */
void store_check_async(const struct store_check_req *req, struct store_check_res *res,
                       store_done_fn done, void *arg);


/* Take one token of key 'key_id''s API bucket on 'site' (what a check
 * takes first), without waiting: the check script run as a check of no
 * comment. 'res' gets ST_OK, ST_API_LIMITED (retry_after_ms) or ST_DOWN;
 * then done(arg) is called as for store_check_async. The bucket must be
 * enabled (site->api.enabled). */
void store_api_token_async(const struct site_cfg *site, const char *key_id, struct store_check_res *res,
                           store_done_fn done, void *arg);

/* Remember the decision record for a comment id (replacing an older one:
 * an edited comment's new decision wins), for replays, without
 * waiting for Redis to answer: the command rides with the next pipelined
 * batch (or is sent by the store thread when idle), so it reaches Redis
 * before any later check of this instance. */
void store_remember(const char *site, const char *comment_id, const char *json, long ttl_s);

struct store_hold_res {
    int rc;            /* as store_hold's return value, or 2: refused at
                          the cap (nothing written) */
    int evicted;       /* rc 1: held comments moved to spam to make room */
    char error[160];
};

/* store_hold without waiting: 'res' is filled, then 'done(arg)' is called
 * (see store_check_async for where and when). 'mod' is the site's cap
 * (NULL: none); with 'may_refuse' set a site whose on_full is "refuse"
 * gets rc 2 at the cap, else the cap evicts. */
void store_hold_async(const char *site, const char *comment_id, const char *response_json,
                      const char *item_json, long ttl_s, int64_t created_ms, int replace,
                      const struct moderation_cfg *mod, int may_refuse, struct store_hold_res *res,
                      store_done_fn done, void *arg);

/* One comment for store_hold_many: the arguments of store_hold. */
struct store_hold_req {
    const char *site, *comment_id, *response_json, *item_json;
    long ttl_s;
    int64_t created_ms;
    const struct moderation_cfg *mod;  /* the site's cap (NULL: none); never refused */
};

/* store_hold (a late comment) for 'n' comments at once, and wait for all: res[i] gets what
 * store_hold would return for reqs[i] (rc and error). Every call is queued
 * before any is sent, so each lane sends them in one write and Redis
 * answers them in one round trip, instead of one each. 'reqs' is read
 * during the call only. Each call is a script of its own, so Redis serves
 * other clients between them, but checks queued on the same lane wait for
 * the whole batch: keep 'n' small (the spool sends SPOOL_BATCH). */
void store_hold_many(const struct store_hold_req *reqs, int n, struct store_hold_res *res);

/* Store a held comment late (the spool, spool import), durably: its
 * response for replays, the item for moderators and its place in the
 * site's held queue, atomically, unless Redis holds a newer state of the
 * comment (the same body stored, a version held at or after this one's
 * 'created_ms', or a decision on another body made after it: see
 * HOLD_LUA in store.c). At the site's cap ('mod', NULL: none) it evicts
 * whatever on_full says: the CMS was told this comment is kept;
 * '*evicted' gets how many went. Returns 1 when Redis stored it, 0 when
 * Redis had it or something newer (nothing was changed), -1 when Redis
 * could not be asked or could not take writes just now (down, full,
 * read-only, busy: try again later), -2 when Redis answered with an error
 * that trying again will not mend. 'err' says why. */
int store_hold(const char *site, const char *comment_id, const char *response_json,
               const char *item_json, long ttl_s, int64_t created_ms, const struct moderation_cfg *mod,
               int *evicted, char *err, size_t errlen);

struct store_get_res {
    int rc;            /* 1: found, 0: no such key, -1: Redis unavailable */
    char *value;       /* rc 1: the stored JSON (new; free()) */
    char error[160];
};

/* Read the item of comment ID in the moderation queue (queue.h) without waiting:
 * 'res' is filled, then 'done(arg)' is called (see store_check_async). */
void store_held_get_async(const char *site, const char *comment_id, struct store_get_res *res,
                          store_done_fn done, void *arg);

/* Redeem a solved captcha: mark nonce 'nonce' of 'site' used for ttl_s
 * seconds (until its challenge expires) without waiting. 'res->rc' gets 1
 * when this was its first use, 0 when it was used before, -1 when Redis
 * could not be asked; then done(arg) runs (see store_check_async). */
void store_captcha_redeem_async(const char *site, const char *nonce, long ttl_s, struct store_get_res *res,
                                store_done_fn done, void *arg);

/* What a captcha's difficulty scales with, for one network (an IP's /24
 * or /64) of a site: challenges it was given in this and the previous
 * minute (this one included), and its comments rejected in this and the
 * previous hour. */
struct store_risk_res {
    int rc;            /* 0, or -1: Redis unavailable (rate and spam 0) */
    long rate, spam;
    char error[160];
};

/* Count one challenge given to 'prefix' and read its risk, without
 * waiting; then done(arg) (see store_check_async). 'now_s' picks the
 * minute and hour windows. */
void store_captcha_risk_async(const char *site, const char *prefix, long long now_s, struct store_risk_res *res,
                              store_done_fn done, void *arg);

/* Count a rejected comment of 'prefix', without waiting for Redis (as
 * store_remember). */
void store_captcha_spam(const char *site, const char *prefix, long long now_s);

/* For the other modules that keep data in Redis (bayesdb.c, queue.c,
 * metrics.c, policy.c, tuning.c): any command on the pipelined lanes.
 * hiredis stays out of this header and out of those modules: a reply
 * reaches them as a store_reply, modgate's copy of hiredis's redisReply
 * with the same field names and meanings (hireply.c builds it). */

/* store_reply.type: the RESP2 reply types, the values of hiredis's
 * REDIS_REPLY_* (hireply.c asserts it at compile time). modgate never
 * asks for RESP3, so no other type arrives. */
enum {
    STORE_REPLY_STRING = 1,   /* bulk string: str, len */
    STORE_REPLY_ARRAY = 2,    /* element[0..elements) */
    STORE_REPLY_INTEGER = 3,  /* integer */
    STORE_REPLY_NIL = 4,      /* nothing */
    STORE_REPLY_STATUS = 5,   /* "+OK": str, len */
    STORE_REPLY_ERROR = 6,    /* "-ERR ...": str, len */
};

struct store_reply {
    int type;                       /* STORE_REPLY_* */
    long long integer;              /* STORE_REPLY_INTEGER */
    size_t len;                     /* bytes of str, its NUL not counted */
    const char *str;                /* STRING, STATUS, ERROR: NUL-terminated (a
                                       bulk string may hold NULs too); else NULL */
    size_t elements;                /* STORE_REPLY_ARRAY: how many; else 0 */
    struct store_reply **element;   /* STORE_REPLY_ARRAY: never NULL entries
                                       (a nil one is of type NIL) */
};

/* Fills 'out' from 'r' (borrowed: freed after the call), or from 'err'
 * when 'r' is NULL (Redis unreachable, timed out, stopping). */
typedef void (*store_parse_fn)(const struct store_reply *r, const char *err, void *out);

/* Send the command argv[0..argc) (binary-safe, lens[i] bytes each) on
 * the lane of 'lane_key' without waiting; 'parse(reply, err, out)' then
 * 'done(arg)' run when the answer (or a failure) is there (see
 * store_check_async for where and when). When argv is EVALSHA SHA ...,
 * 'script_src' is the script it is sent again as (EVAL) if Redis lost it
 * (NOSCRIPT); else NULL. The arguments are copied before it returns. */
void store_command_async(const char *lane_key, int argc, const char *const *argv, const size_t *lens,
                         const char *script_src, int durable, store_parse_fn parse, void *out, store_done_fn done,
                         void *arg);

/* A Lua script of another module, run with EVALSHA: loaded (its 'sha'
 * filled) at every connect once registered, and sent whole (EVAL) until
 * then or when Redis lost it. 'src' is static; 'sha' belongs to store.c. */
struct store_script {
    const char *src;
    char sha[41];
    /* Its writes are what a caller is told is stored (a moderator's
     * action, a policy version, ...): with redis.min_replicas_acked, a
     * call whose write no replica count acknowledged in time (WAIT) is
     * answered as a failure (reply NULL, err says why), as when Redis is
     * unavailable. So are "durable" commands (store_command_async), held
     * comments (the check and hold scripts) and none else. */
    int durable;
};

/* Load 's' at every connect from now on (idempotent; at most 32). */
void store_script_register(struct store_script *s);

/* Run 's' with argv[0..nkeys) as KEYS and argv[nkeys..argc) as ARGV on the
 * lane of 'lane_key', without waiting; then parse and done as for
 * store_command_async (registering it first if need be). With Redis
 * Cluster, a call of only KEYS that lie in several slots (several sites'
 * keys: the pollers', /metrics') is sent as one call per run of keys of
 * one slot, and 'parse' gets the concatenation of their array replies:
 * a script called so must answer each key's part in key order, whatever
 * the other keys. A script without keys runs on the slot of 'lane_key'
 * (a site's name). */
void store_script_async(struct store_script *s, const char *lane_key, int nkeys, int argc,
                        const char *const *argv, const size_t *lens, store_parse_fn parse, void *out,
                        store_done_fn done, void *arg);

/* Do keys tagged {a} and keys tagged {b} live together: 1 without Redis
 * Cluster, or when both tags hash to one slot; else 0 (one script call
 * cannot touch both). */
int store_same_slot(const char *a, const char *b);

/* PING Redis. Returns 0 if it answered, -1 with a reason (at once inside
 * the retry interval after a failure). */
int store_ping(char *err, size_t errlen);

/* What modgate can tell about Redis's own settings: whether a restart
 * keeps what modgate acknowledged, and whether a full Redis may drop its
 * keys. From CONFIG GET (appendonly, save, maxmemory-policy), or where
 * CONFIG is renamed or refused (managed Redis) from INFO persistence and
 * INFO memory; what neither tells is "unknown". */
struct store_redis_info {
    int rc;                   /* 0: Redis answered; -1: unavailable (nothing below is known) */
    long long used_memory;    /* INFO memory used_memory, bytes (-1: not known) */
    long long maxmemory;      /* bytes, 0: no limit (-1: not known) */
    char persistence[16];     /* "aof", "rdb", "aof+rdb", "none" or "unknown" */
    char eviction[32];        /* maxmemory-policy, or "unknown" */
    int safe;                 /* 1: persisted (aof or rdb) and noeviction; 0: no
                                 persistence, or a policy that evicts (any but
                                 noeviction: volatile-* drop decision records and
                                 rate-limit buckets, allkeys-* held comments too);
                                 -1: cannot tell */
};

/* Ask Redis without waiting (one round trip); then done(arg). Never
 * touches /v1/check's path: the commands go on their own lane's batch.
 * With Redis Cluster every master is asked, and 'out' is the least safe
 * of them: the least safe persistence, an evicting policy if any has one,
 * safe 0 if any is unsafe (-1 if any cannot tell or did not answer), the
 * memory summed (maxmemory 0 if any has no limit); rc 0 when one
 * answered. */
void store_redis_info_async(struct store_redis_info *out, store_done_fn done, void *arg);

/* The same, waiting (bounded by the connect and command timeouts). */
void store_redis_info(struct store_redis_info *out);

/* Log what 'in' says when it differs from what was logged last (the
 * first answer included): a warning for no persistence, an evicting
 * policy or "unknown". Nothing while Redis is unavailable. */
void store_redis_info_log(const struct store_redis_info *in);

/* Start the thread that sends writes nobody waits for. Returns 0 or -1. */
int store_start(void);

/* The master moved (sentinel.c): every lane connects again, to
 * sentinel_target's address. */
void store_retarget(void);

/* While on, commands are failed at once (ST_DOWN / -1) instead of being
 * sent, and turning it on cuts short a batch already waiting for replies
 * (the connection is shut down): lets a stopping service finish every
 * request without waiting on a stalled Redis. Stays on until turned off. */
void store_failfast(int on);

/* Send what is queued, stop that thread, close the connection. */
void store_stop(void);

#endif
