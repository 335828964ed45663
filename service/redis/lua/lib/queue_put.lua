-- lib/queue_put.lua - Lua for the scripts that hold comments: check.lua,
-- hold.lua and queue_migrate.lua. Not a script of its own: the build puts
-- lib/queue_index.lua, lib/rep.lua and then this in front of theirs (the
-- Makefile's LUA_SCRIPTS), and these functions call mq_ix, mq_index,
-- mq_log, hk_add and rep_uncount (an edit takes back what the comment's
-- decision counted for its author: lib/rep.lua).
--
-- mq_put(P, id, ms, item) stores item as comment id in state held at ms,
-- replacing what was there (an edit) and moving it out of the indexes of
-- its old state; mq_has(rec, item) says whether comment hash rec holds
-- that very comment (the same body: a retry, not an edit); mq_drop(P, id,
-- now, events ms, audit ms) takes a comment out of the queue (an edit
-- that is not held: published), saying so in the CMS's feed (state
-- "published", action "edit"), the audit log and the webhooks' outbox.
-- An edit, held or not, forgets the readers' reports of the text before.
--
-- The cap (moderation.max_held, on_full). mq_over(P, id, max) says how
-- many held comments must leave before comment id is held: 0 when the
-- queue is below max (or max is 0: no cap) or id is held already (an
-- edit replaces it), else the excess plus one, at most 3, so that a cap
-- lowered by a policy is reached a few comments at a time, never with a
-- long pause on the check path. mq_evict(P, now, events ms, audit ms)
-- moves the held comment with the highest score, the oldest among equal
-- scores (to three decimals; then to the millisecond, then the greatest
-- id), to spam, as a moderator's spam action would but teaching the
-- filter nothing: by "modgate", action "overflow", reason
-- "queue_overflow". It returns 1, or 0 when nothing is held. An index
-- entry whose comment is not held (never left so by modgate) is dropped
-- and the next one tried, four at most, so a damaged index costs a
-- bounded time. Comments held before P q:held:byscore existed are found
-- by queue_migrate.lua; until then the oldest held goes.
--
-- P q:held:byscore is a zset of the held ids scored by mq_rank: the
-- score in thousandths (0-1000) times 2^42, plus 2^42 - 1 minus the
-- millisecond it was held (2^42 ms is the year 2109), so the greatest
-- member is the one to evict (ZRANGE ... REV, O(log N)). The largest
-- rank, 1001 * 2^42 - 1 < 2^52, is an exact double: thousandths, not
-- the ten-thousandths check.c stores, leave room for the milliseconds.

local function mq_put(P, id, ms, item)
  local rec = P .. 'c:' .. id
  local old = redis.call('HMGET', rec, 'state', 'ix', 'ver')
  if old[1] then
    mq_index(P, old[1], id, old[2], 0, false)
    rep_uncount(P, rec)
    redis.call('HDEL', rec, 'reports')
    redis.call('DEL', P .. 'rp:' .. id, P .. 'rps:' .. id)
  end
  local score, bfp, ix = mq_ix(item)
  if not ix then score, bfp, ix = '0', '', '|||' end
  redis.call('HSET', rec, 'item', item, 'state', 'held', 'score', score, 'at', ms, 'since', ms,
             'ix', ix, 'bfp', bfp, 'ver', (tonumber(old[3]) or 0) + 1)
  if old[1] then redis.call('HDEL', rec, 'by') end
  local rs = mq_index(P, 'held', id, ix, ms, true, score)
  local cs = {}
  for c in string.gmatch(rs, '[^,]+') do cs[#cs + 1] = c end
  if #cs > 0 then redis.call('SADD', P .. 'codes', unpack(cs)) end
  hk_add(P, 'held', {'comment_id', id, 'state', 'held', 'previous', old[1] or '', 'action', 'check',
    'by', 'modgate', 'score', score, 'reasons', rs})
end
local function mq_has(rec, item)
  local b = redis.call('HGET', rec, 'bfp')
  return b ~= false and b == (select(2, mq_ix(item)) or '')
end
local function mq_drop(P, id, now, ev_ms, au_ms)
  redis.call('DEL', P .. 'rp:' .. id, P .. 'rps:' .. id) -- readers' reports were about the text before
  local rec = P .. 'c:' .. id
  local old = redis.call('HMGET', rec, 'state', 'ix')
  if not old[1] then return end
  mq_index(P, old[1], id, old[2], 0, false)
  rep_uncount(P, rec)
  redis.call('DEL', rec, P .. 'h:' .. id)
  redis.call('XADD', P .. 'audit', 'MINID', '~', now - tonumber(au_ms), '*', 'id', id, 'action', 'edit',
    'from', old[1], 'to', 'published', 'by', 'modgate', 'note', '', 'reason', '', 'filter', '')
  redis.call('XADD', P .. 'events', 'MINID', '~', now - tonumber(ev_ms), '*', 'id', id, 'state', 'published',
    'previous', old[1], 'action', 'edit', 'by', 'modgate')
  hk_add(P, 'decided', {'comment_id', id, 'state', 'published', 'previous', old[1], 'action', 'edit',
    'by', 'modgate', 'note', '', 'reason', ''})
end
local function mq_over(P, id, max)
  if max <= 0 then return 0 end
  local n = redis.call('ZCARD', P .. 'q:held')
  if n < max or redis.call('ZSCORE', P .. 'q:held', id) then return 0 end
  return math.min(3, n - max + 1)
end
local function mq_evict(P, now, ev_ms, au_ms)
  for _ = 1, 4 do
    local id = redis.call('ZRANGE', P .. 'q:held:byscore', 0, 0, 'REV')[1] or
               redis.call('ZRANGE', P .. 'q:held', 0, 0)[1]
    if not id then return 0 end
    local rec = P .. 'c:' .. id
    local cur = redis.call('HMGET', rec, 'state', 'ver', 'ix')
    if cur[1] == 'held' then
      mq_index(P, 'held', id, cur[3], 0, false)
      mq_index(P, 'spam', id, cur[3], now, true)
      redis.call('HSET', rec, 'state', 'spam', 'since', now, 'ver', (tonumber(cur[2]) or 0) + 1, 'by', 'modgate')
      mq_log(P, id, now, 'overflow', 'held', 'spam', 'modgate', '', 'queue_overflow', 'nothing', ev_ms, au_ms)
      return 1
    end
    redis.call('ZREM', P .. 'q:held:byscore', id)
    redis.call('ZREM', P .. 'q:held', id)
  end
  return 0
end
