-- report.lua - a reader's report of a published comment (reports.c).
-- The build puts lib/queue_index.lua in front.
--
-- No KEYS (P's keys, as the queue's scripts). ARGV P, id, then "read",
-- or "add", the reader's key, reason, note, threshold K, "1" when the
-- CMS should hide it once reported, the state read ("" when the comment
-- is not in the queue), the item to store when it is not (else ""), its
-- index line as the comment hash keeps it (THREAD|AUTHOR|NET|CODES), its
-- score, body fingerprint, the TTL s of the report keys, events ms and
-- audit ms.
-- read: {state ("": not in the queue), its decision record ("": none)}.
-- add: {"conflict", state} when the state is no longer the one read;
-- {"gone"} when a comment not in the queue lost its record meanwhile;
-- else {"ok", distinct readers, 1 when this report moved it to
-- "reported", 1 when this reader had not reported it before}.
--
-- P rp:ID (set: the readers' keys) and P rps:ID (the summary JSON
-- {"count","reasons":{reason: n},"last":[{"reason","note","at"}]}, the
-- last ten) live for the TTL given, renewed by each report; the comment
-- hash keeps the summary as field "reports" too. The K-th distinct reader
-- moves the comment to "reported": stored (item, score, at, since, ver,
-- ix, bfp) when it was published at once, taken out of "approved" when a
-- moderator had approved it, with a history entry, an audit entry and an
-- event for the CMS (action "report", by "readers", hide "1" or "0").

local P, id = ARGV[1], ARGV[2]
local c = P .. 'c:' .. id
local st = redis.call('HGET', c, 'state') or ''
if ARGV[3] == 'read' then return {st, redis.call('GET', P .. 'dec:' .. id) or ''} end
local reader, reason, note, K, hide = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8]
if st ~= ARGV[9] then return {'conflict', st} end
if st == '' and redis.call('EXISTS', P .. 'dec:' .. id) == 0 then return {'gone'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, rk, sk = ARGV[15], P .. 'rp:' .. id, P .. 'rps:' .. id
local new = redis.call('SADD', rk, reader)
local sum = cjson.decode(redis.call('GET', sk) or '{"count":0,"reasons":{}}')
if new == 1 then
  sum.count = sum.count + 1
  sum.reasons[reason] = (sum.reasons[reason] or 0) + 1
  local last = type(sum.last) == 'table' and sum.last or {}
  last[#last + 1] = {reason = reason, note = note, at = now}
  while #last > 10 do table.remove(last, 1) end
  sum.last = last
end
local js = cjson.encode(sum)
redis.call('SET', sk, js, 'EX', ttl)
redis.call('EXPIRE', rk, ttl)
if st ~= '' then redis.call('HSET', c, 'reports', js) end
local moved = 0
if new == 1 and sum.count >= K and st ~= 'reported' then
  local ix = ARGV[11]
  if st == '' then
    redis.call('HSET', c, 'item', ARGV[10], 'state', 'reported', 'score', ARGV[12], 'at', now, 'since', now,
      'ver', 1, 'ix', ix, 'bfp', ARGV[13], 'reports', js)
  else
    ix = redis.call('HGET', c, 'ix') or ''
    mq_index(P, st, id, ix, 0, false)
    redis.call('HSET', c, 'state', 'reported', 'since', now)
    redis.call('HINCRBY', c, 'ver', 1)
  end
  mq_index(P, 'reported', id, ix, now, true)
  local from = st == '' and 'published' or st
  local why = {}
  for r, n in pairs(sum.reasons) do why[#why + 1] = r .. ' ' .. n end
  table.sort(why)
  why = table.concat(why, ', ')
  redis.call('RPUSH', P .. 'h:' .. id, cjson.encode({at = now, action = 'report', from = from, to = 'reported',
    by = 'readers', note = '', reason = why, filter = ''}))
  redis.call('XADD', P .. 'audit', 'MINID', '~', now - tonumber(ARGV[17]), '*', 'id', id, 'action', 'report',
    'from', from, 'to', 'reported', 'by', 'readers', 'note', '', 'reason', why, 'filter', '')
  redis.call('XADD', P .. 'events', 'MINID', '~', now - tonumber(ARGV[16]), '*', 'id', id, 'state', 'reported',
    'previous', from, 'action', 'report', 'by', 'readers', 'hide', hide)
  hk_add(P, now, 'reported', {'comment_id', id, 'state', 'reported', 'previous', from, 'action', 'report',
    'by', 'readers', 'reports', tostring(sum.count), 'reasons', why, 'hide', hide})
  moved = 1
end
return {'ok', sum.count, moved, new}
