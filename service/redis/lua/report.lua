-- report.lua - a reader's report of a published comment (reports.c).
-- The build puts lib/queue_index.lua in front.
--
-- No KEYS (P's keys, as the queue's scripts). ARGV P, id, then "read",
-- or "add", the reader's key, reason, note, threshold K, "1" when the
-- CMS should hide it once reported, the state read ("" when the comment
-- is not in the queue), the item to store when it is not (else ""), its
-- index line as the comment hash keeps it (THREAD|AUTHOR|NET|CODES), its
-- score, body fingerprint, the TTL s of the report keys, events ms,
-- audit ms, the kind its check counted for its author (the record's
-- "counted": "a", "r"; "" none) and the decision records' TTL ms.
-- read: {state ("": not in the queue), its decision record ("": none)}.
-- add: {"conflict", state} when the state is no longer the one read;
-- {"gone"} when a comment not in the queue lost its record meanwhile;
-- else {"ok", distinct readers, 1 when this report moved it to
-- "reported", 1 when this reader had not reported it before}.
--
-- P rp:ID (set: the readers' keys) and P rps:ID (the summary JSON
-- {"count","base","reasons":{reason: n},"last":[{"reason","note","at"}]},
-- the last ten) live for the TTL given, renewed by each report, while the
-- comment is not in the queue, and as long as it is while it is (the
-- comment hash keeps the summary as field "reports" too; mq_sweep deletes
-- them with it, and an edit forgets them: lib/queue_put.lua). The K-th
-- distinct reader since a moderator last decided it (base: the count
-- then, queue_act.lua) moves the comment to "reported": stored (item,
-- score, at, since, ver, ix, bfp, and what its check counted for its
-- author) when it was published at once, taken out of "approved" when a
-- moderator had approved it, with a history entry, an audit entry and an
-- event for the CMS (action "report", by "readers", hide "1" or "0").

local P, id = ARGV[1], ARGV[2]
local c = P .. 'c:' .. id
local st = redis.call('HGET', c, 'state') or ''
if ARGV[3] == 'read' then return {st, redis.call('GET', P .. 'dec:' .. id) or ''} end
local reader, reason, note, K, hide = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8]
if st ~= ARGV[9] then return {'conflict', st} end
if st == '' then
  -- the record reports.c read: still there, and still for this body (not edited since)
  local d = redis.call('GET', P .. 'dec:' .. id)
  if not d or string.match(d, '"body_fp":"(%x*)"') ~= ARGV[13] then return {'gone'} end
end
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
local moved = 0
if new == 1 and sum.count - (sum.base or 0) >= K and st ~= 'reported' then
  local ix = ARGV[11]
  if st == '' then
    redis.call('HSET', c, 'item', ARGV[10], 'state', 'reported', 'score', ARGV[12], 'at', now, 'since', now,
      'ver', 1, 'ix', ix, 'bfp', ARGV[13])
    local _, au, net, codes = string.match(ix, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
    local cs = {}
    for code in string.gmatch(codes or '', '[^,]+') do cs[#cs + 1] = code end
    if #cs > 0 then redis.call('SADD', P .. 'codes', unpack(cs)) end
    if ARGV[18] ~= '' then -- its check counted it (trust.count_automatic): a decision now replaces that
      local fs = {}
      if au and au ~= '' then fs[#fs + 1] = 'a:' .. au end
      if net and net ~= '' then fs[#fs + 1] = 'n:' .. net end
      local at = now + redis.call('PTTL', P .. 'dec:' .. id) - tonumber(ARGV[19])
      if #fs > 0 then redis.call('HSET', c, 'rk', ARGV[18], 'rt', at, 'rf', table.concat(fs, '|')) end
    end
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
  hk_add(P, 'reported', {'comment_id', id, 'state', 'reported', 'previous', from, 'action', 'report',
    'by', 'readers', 'reports', tostring(sum.count), 'reasons', why, 'hide', hide})
  moved = 1
end
-- kept while the comment is in the queue (mq_sweep and an edit delete
-- them), else as long as its record
redis.call('SET', sk, js)
if st ~= '' or moved == 1 then
  redis.call('PERSIST', rk)
  redis.call('HSET', c, 'reports', js)
else
  redis.call('EXPIRE', sk, ttl)
  redis.call('EXPIRE', rk, ttl)
end
return {'ok', sum.count, moved, new}
