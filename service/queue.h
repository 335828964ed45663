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
 *                         cap (moderation.max_held): see QUEUE_PUT_LUA.
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

/* Lua shared by the scripts that move comments (the act script, and the
 * scripts that hold comments below):
 * mq_index(P, st, id, ix, ms, add, sc) adds comment id to (or, add false,
 * takes it out of) state st's sets at ms, by its index line ix; a held
 * comment also goes into P q:held:byscore (see mq_rank), with score sc.
 * mq_log(P, id, now, action, from, to, by, note, reason, did, events ms,
 * audit ms) writes an action's history entry, audit entry and CMS event
 * and returns the two entries' ids. mq_sweep(P, now, retention ms)
 * deletes up to ten decided comments of each decided state past their
 * retention. */
#define QUEUE_INDEX_LUA \
    "local function mq_ix(item)\n" \
    "  local s = string.find(item, ',\"ix\":\"', math.max(1, #item - 1100), true)\n" \
    "  if not s then return nil end\n" \
    "  return string.match(item, '^,\"ix\":\"([^|\"]*)|([^|\"]*)|([^\"\\\\]*)\"}$', s)\n" \
    "end\n" \
    "local function mq_rank(sc, ms)\n" \
    "  local s = math.floor((tonumber(sc) or 0) * 1000 + 0.5)\n" \
    "  if s < 0 then s = 0 elseif s > 1000 then s = 1000 end\n" \
    "  local t = math.floor(tonumber(ms) or 0)\n" \
    "  if t < 0 then t = 0 elseif t > 4398046511103 then t = 4398046511103 end\n" \
    "  return string.format('%.0f', s * 4398046511104 + 4398046511103 - t)\n" \
    "end\n" \
    "local function mq_index(P, st, id, ix, ms, add, sc)\n" \
    "  local q = P .. 'q:' .. st\n" \
    "  local t, a, n, rs = string.match(ix or '', '^([^|]*)|([^|]*)|([^|]*)|(.*)$')\n" \
    "  local ks = {q}\n" \
    "  if t and t ~= '' then ks[#ks + 1] = q .. ':t:' .. t end\n" \
    "  if a and a ~= '' then ks[#ks + 1] = q .. ':a:' .. a end\n" \
    "  if n and n ~= '' then ks[#ks + 1] = q .. ':n:' .. n end\n" \
    "  for c in string.gmatch(rs or '', '[^,]+') do ks[#ks + 1] = q .. ':r:' .. c end\n" \
    "  for i = 1, #ks do\n" \
    "    if add then redis.call('ZADD', ks[i], ms, id) else redis.call('ZREM', ks[i], id) end\n" \
    "  end\n" \
    "  if st == 'held' then\n" \
    "    if add then redis.call('ZADD', q .. ':byscore', mq_rank(sc, ms), id)\n" \
    "    else redis.call('ZREM', q .. ':byscore', id) end\n" \
    "  end\n" \
    "  return rs or ''\n" \
    "end\n" \
    "local function mq_log(P, id, now, act, from, to, by, note, reason, did, ev_ms, au_ms)\n" \
    "  redis.call('RPUSH', P .. 'h:' .. id, cjson.encode({at = now, action = act, from = from, to = to,\n" \
    "    by = by, note = note, reason = reason, filter = did}))\n" \
    "  local aid = redis.call('XADD', P .. 'audit', 'MINID', '~', now - tonumber(au_ms), '*', 'id', id,\n" \
    "    'action', act, 'from', from, 'to', to, 'by', by, 'note', note, 'reason', reason, 'filter', did)\n" \
    "  local eid = redis.call('XADD', P .. 'events', 'MINID', '~', now - tonumber(ev_ms), '*', 'id', id,\n" \
    "    'state', to, 'previous', from, 'action', act, 'by', by)\n" \
    "  return aid, eid\n" \
    "end\n" \
    "local function mq_sweep(P, now, ret_ms)\n" \
    "  for _, s in ipairs({'approved', 'rejected', 'spam'}) do\n" \
    "    local old = redis.call('ZRANGE', P .. 'q:' .. s, '-inf', now - tonumber(ret_ms), 'BYSCORE', 'LIMIT', 0, 10)\n" \
    "    for i = 1, #old do\n" \
    "      mq_index(P, s, old[i], redis.call('HGET', P .. 'c:' .. old[i], 'ix'), 0, false)\n" \
    "      redis.call('DEL', P .. 'c:' .. old[i], P .. 'h:' .. old[i])\n" \
    "    end\n" \
    "  end\n" \
    "end\n"

/* Lua for the scripts that hold comments (store.c):
 * mq_put(P, id, ms, item) stores item as comment id in state held at ms,
 * replacing what was there (an edit) and moving it out of the indexes of
 * its old state; mq_has(rec, item) says whether comment hash rec holds
 * that very comment (the same body: a retry, not an edit); mq_drop(P, id)
 * takes a comment out of the queue (an edit the filters did not hold).
 *
 * The cap (moderation.max_held, on_full). mq_over(P, id, max) says how
 * many held comments must leave before comment id is held: 0 when the
 * queue is below max (or max is 0: no cap) or id is held already (an
 * edit replaces it), else the excess plus one, at most 3, so that a cap
 * lowered by a policy is reached a few comments at a time, never with a
 * long pause on the check path. mq_evict(P, now, events ms, audit ms)
 * moves the held comment with the highest score, the oldest among equal
 * scores (to three decimals; then to the millisecond, then the greatest
 * id), to spam, as a
 * moderator's spam action would but teaching the filter nothing: by
 * "modgate", action "overflow", reason "queue_overflow". It returns 1,
 * or 0 when nothing is held. An index entry whose comment is not held
 * (never left so by modgate) is dropped and the next one tried, four at
 * most, so a damaged index costs a bounded time. Comments held before P q:held:byscore
 * existed are found by queue_migrate; until then the oldest held goes.
 *
 * P q:held:byscore is a zset of the held ids scored by mq_rank: the
 * score in thousandths (0-1000) times 2^42, plus 2^42 - 1 minus the
 * millisecond it was held (2^42 ms is the year 2109), so the greatest
 * member is the one to evict (ZRANGE ... REV, O(log N)). The largest
 * rank, 1001 * 2^42 - 1 < 2^52, is an exact double: thousandths, not
 * the ten-thousandths check.c stores, leave room for the milliseconds. */
#define QUEUE_PUT_LUA QUEUE_INDEX_LUA \
    "local function mq_put(P, id, ms, item)\n" \
    "  local rec = P .. 'c:' .. id\n" \
    "  local old = redis.call('HMGET', rec, 'state', 'ix', 'ver')\n" \
    "  if old[1] then mq_index(P, old[1], id, old[2], 0, false) end\n" \
    "  local score, bfp, ix = mq_ix(item)\n" \
    "  if not ix then score, bfp, ix = '0', '', '|||' end\n" \
    "  redis.call('HSET', rec, 'item', item, 'state', 'held', 'score', score, 'at', ms, 'since', ms,\n" \
    "             'ix', ix, 'bfp', bfp, 'ver', (tonumber(old[3]) or 0) + 1)\n" \
    "  if old[1] then redis.call('HDEL', rec, 'by') end\n" \
    "  local rs = mq_index(P, 'held', id, ix, ms, true, score)\n" \
    "  local cs = {}\n" \
    "  for c in string.gmatch(rs, '[^,]+') do cs[#cs + 1] = c end\n" \
    "  if #cs > 0 then redis.call('SADD', P .. 'codes', unpack(cs)) end\n" \
    "end\n" \
    "local function mq_has(rec, item)\n" \
    "  local b = redis.call('HGET', rec, 'bfp')\n" \
    "  return b ~= false and b == (select(2, mq_ix(item)) or '')\n" \
    "end\n" \
    "local function mq_drop(P, id)\n" \
    "  local rec = P .. 'c:' .. id\n" \
    "  local old = redis.call('HMGET', rec, 'state', 'ix')\n" \
    "  if not old[1] then return end\n" \
    "  mq_index(P, old[1], id, old[2], 0, false)\n" \
    "  redis.call('DEL', rec, P .. 'h:' .. id)\n" \
    "end\n" \
    "local function mq_over(P, id, max)\n" \
    "  if max <= 0 then return 0 end\n" \
    "  local n = redis.call('ZCARD', P .. 'q:held')\n" \
    "  if n < max or redis.call('ZSCORE', P .. 'q:held', id) then return 0 end\n" \
    "  return math.min(3, n - max + 1)\n" \
    "end\n" \
    "local function mq_evict(P, now, ev_ms, au_ms)\n" \
    "  for _ = 1, 4 do\n" \
    "    local id = redis.call('ZRANGE', P .. 'q:held:byscore', 0, 0, 'REV')[1] or\n" \
    "               redis.call('ZRANGE', P .. 'q:held', 0, 0)[1]\n" \
    "    if not id then return 0 end\n" \
    "    local rec = P .. 'c:' .. id\n" \
    "    local cur = redis.call('HMGET', rec, 'state', 'ver', 'ix')\n" \
    "    if cur[1] == 'held' then\n" \
    "      mq_index(P, 'held', id, cur[3], 0, false)\n" \
    "      mq_index(P, 'spam', id, cur[3], now, true)\n" \
    "      redis.call('HSET', rec, 'state', 'spam', 'since', now, 'ver', (tonumber(cur[2]) or 0) + 1, 'by', 'modgate')\n" \
    "      mq_log(P, id, now, 'overflow', 'held', 'spam', 'modgate', '', 'queue_overflow', 'nothing', ev_ms, au_ms)\n" \
    "      return 1\n" \
    "    end\n" \
    "    redis.call('ZREM', P .. 'q:held:byscore', id)\n" \
    "    redis.call('ZREM', P .. 'q:held', id)\n" \
    "  end\n" \
    "  return 0\n" \
    "end\n"

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
                     const char *since_ms, const char *learned, const char *by);

/* text: the comment (as queue_item_text), json: its history entries as
 * stored (an array of JSON texts, oldest first); both NULL (rc 0) when
 * there is no such comment. */
void queue_get_async(const char *site, const char *id, struct queue_res *res, store_done_fn done, void *arg);

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
    const uint64_t *toks;            /* its token hashes */
    size_t ntoks;
    int tok_version, stream_maxlen;
    long long retention_ms, events_ms, audit_ms;
};

/* json: {"status": "ok" (with from, state, version, at, audit_id,
 * event_id, filter), "conflict" or "same" (with state and version),
 * "missing" or "version" (tok_version)}. */
void queue_act_async(const struct queue_act *a, struct queue_res *res, store_done_fn done, void *arg);

/* json: {"lost": entries after 'after' were trimmed, "entries": [{cursor,
 * at, fields...}]} of site's stream ("audit" or "events"), after the
 * cursor 'after' ("" or NULL: from the start, or the end when
 * newest_first), at most 'count'. */
void queue_stream_async(const char *site, const char *stream, const char *after, int newest_first, int count,
                        struct queue_res *res, store_done_fn done, void *arg);

#endif
