/* queue.h - the moderation queue in Redis: held comments and what
 * moderators decide about them.
 *
 * Key schema. P is "mg:{S}:" for site S: every key carries the site's
 * hash tag. The index keys are named inside the scripts, from P and the
 * comment's index line, so they are not declared in KEYS (modgate talks
 * to one Redis, never a cluster).
 *
 *   P c:ID        hash    a comment: item (the JSON check.c stores: the
 *                         request, score, reasons, times), state (held,
 *                         approved, rejected or spam), score, at (ms it
 *                         was held), since (ms it entered its state), ver
 *                         (+1 for every change), ix (its index line, see
 *                         below), learned ("", "spam" or "ham": what the
 *                         filter learned from it), lfp (the fingerprint it
 *                         was learned under), by (the key id that last
 *                         decided it). Decided comments are deleted
 *                         moderation.retention_days after their decision.
 *   P q:STATE     zset    ids in STATE, scored by 'since'.
 *   P q:STATE:t:H, :a:H, :n:NET, :r:CODE
 *                 zset    the same for one thread (H: a hash of its id),
 *                         author (request.h's author key), network (the
 *                         /24 or /64) and reason code.
 *   P q:held:byscore
 *                 zset    the held ids again, ranked for eviction at the
 *                         cap (moderation.max_held): see
 *                         service/redis/lua/lib/queue_put.lua.
 *   P codes       set     every reason code a held comment had.
 *   P h:ID        list    the comment's history: one JSON object per
 *                         action, oldest first.
 *   P audit       stream  every action (id, action, from, to, by, note,
 *                         reason), trimmed moderation.audit_days after.
 *   P events      stream  every change of a comment's state, for the CMS
 *                         (id, state, previous, action, by), trimmed
 *                         moderation.events_days after.
 *
 * The index line is the last field of the stored item, "ix":
 * "SCORE|BODYFP|THREAD|AUTHOR|NET|CODE,CODE,..." (queue_index_line), with
 * characters that need no JSON escape, so the scripts find it in the
 * item's last 1100 bytes (a plain search: a pattern anchored only at the
 * end would be tried at every byte of the item) and read it with one
 * pattern; the hash keeps it without the score and the
 * body's fingerprint (field bfp). */
#ifndef MODGATE_QUEUE_H
#define MODGATE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct json_t;


/* The index line of a held comment (see above) into out[QUEUE_IX_MAX]:
 * its score, body fingerprint, thread (hashed by request.h's req_key),
 * author key, network and reason codes. Any argument may be "" (or
 * ncodes 0). */
#define QUEUE_IX_MAX 1024
void queue_index_line(char out[QUEUE_IX_MAX], double score, const char *body_fp, const char *thread_key,
                      const char *author_key, const char *net, const char *const *codes, int ncodes);

/* Move site's held comments of modgate's first queue format (before the
 * moderation API: mg:{S}:held:ID strings) into this one, once, and add
 * held comments missing from P q:held:byscore to it (held before it
 * existed), without waiting; the log says how many. */
void queue_migrate(const char *site);

/* Register the queue's scripts with the store, so that they are loaded at
 * connect and run with EVALSHA (call before store_start). */
void queue_init(void);

/* What every call below gives back. */
struct queue_res {
    int rc;               /* 0: Redis answered; -1: unavailable; -2: refused */
    struct json_t *json;  /* rc 0: the answer (new; the caller decrefs) */
    char *text;           /* rc 0, list and get: JSON text (new; free()) */
    struct json_t *author; /* rc 0, get: its author's and network's reputation
                              (authors.h; new, the caller decrefs), or NULL */
    long days;            /* get: trust.window_days */
    char error[160];
};

/* A page of the queue: state's comments after the cursor, oldest first
 * unless newest_first, matching every filter given ("" or NULL: any). */
struct queue_list_req {
    const char *site, *state;
    int newest_first, limit, budget, counts;
    const char *cursor_ms, *cursor_id;   /* NULL: from the start */
    const char *thread_key, *author_key, *net, *reason;
    const char *score_min, *score_max;   /* decimal text, NULL: no bound */
};

/* text: the page's comments, a JSON array (queue_item_text each). json:
 * {"done": whether the list ended, "last_ms", "last_id" (the cursor of
 * what was looked at last), "looked_at", "matching" (-1 when not known
 * exactly), and with counts "counts" {state: n} and "reason_counts"
 * {code: n} for the listed state}. */
void queue_list_async(const struct queue_list_req *q, struct queue_res *res, store_done_fn done, void *arg);

struct buf;

/* One comment as the API shows it, appended to 'b' as JSON: the stored
 * item (item_len bytes) without its index line, with state, version,
 * state_since, learned and decided_by. */
void queue_item_text(struct buf *b, const char *state, const char *ver, const char *item, size_t item_len,
                     const char *since_ms, const char *learned, const char *by, const char *reports);

/* text: the comment (as queue_item_text), json: its history entries as
 * stored (an array of JSON texts, oldest first); both NULL (rc 0) when
 * there is no such comment. */
void queue_get_async(const char *site, const char *id, long window_days, struct queue_res *res, store_done_fn done,
                     void *arg);

/* Comments to act on, by index instead of ids: the oldest 'limit' of
 * state's index 'kind' ("a" author, "n" network, "t" thread) = value. */
struct queue_select {
    const char *state, *kind, *value;
    int limit;
};

/* json: an array of {id, state, ver, item (the stored JSON, as a string),
 * learned, lfp} or {id, missing}:
 * for ids[0..nids), or for 'sel' when not NULL. */
void queue_fetch_async(const char *site, const char *const *ids, int nids, const struct queue_select *sel,
                       struct queue_res *res, store_done_fn done, void *arg);

/* One action (see the act script in queue.c): it applies only while the
 * comment is still in 'from' at version 'ver', and teaches the site's
 * model 'teach' ("spam", "ham" or "": nothing), first undoing what the
 * comment taught before. */
struct queue_act {
    const char *site, *model, *id, *action, *to, *from, *ver, *by, *note, *reason, *teach;
    const char *fp, *lfp;            /* the comment's fingerprint now, and the one it was learned under */
    const char *z;                   /* its raw score before the lesson (bayesdb_learn_z; "" or NULL: none) */
    const uint64_t *toks;            /* its token hashes */
    size_t ntoks;
    int tok_version, stream_maxlen;
    long long retention_ms, events_ms, audit_ms;
};

/* json: {"status": "ok" (with from, state, version, at, audit_id,
 * event_id, filter), "conflict" or "same" (with state and version),
 * "missing" or "version" (tok_version)}. */
void queue_act_async(const struct queue_act *a, struct queue_res *res, store_done_fn done, void *arg);

/* Redis Cluster, sites whose model lives on another slot: teach the
 * lessons their outboxes kept for more than 5 s (an action whose lesson
 * step failed; see "a model on another Redis Cluster slot" in queue.c).
 * policy.c's poller calls it (policy_also_poll). Returns 0, or -1 when
 * Redis did not answer. */
struct cfg;
int queue_lessons_drain(const struct cfg *c);

struct learn_move;
struct learn_move_res;

/* learn.h's mover: POST /v1/learn of a comment by id moves it out of the
 * queue when it is held (spam: to spam, ham: to approved), by the key,
 * teaching its label in the same script (the act script at any version,
 * from held only). main.c wires it to learn.c. */
void queue_learn_move_async(const struct learn_move *m, struct learn_move_res *res, store_done_fn done,
                            void *arg);

/* json: {"lost": entries after 'after' were trimmed, "entries": [{cursor,
 * at, fields...}]} of site's stream ("audit" or "events"), after the
 * cursor 'after' ("" or NULL: from the start, or the end when
 * newest_first), at most 'count'. */
void queue_stream_async(const char *site, const char *stream, const char *after, int newest_first, int count,
                        struct queue_res *res, store_done_fn done, void *arg);

#endif
