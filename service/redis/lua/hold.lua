-- hold.lua - store one held comment (store_hold_async: the spool, a
-- taken-over journal, spool import, and a held check whose batch could
-- not store it). The build puts lib/queue_index.lua and lib/queue_put.lua
-- in front.
--
-- KEYS[1] dec key, KEYS[2] held item (the comment's hash, P c:ID),
-- KEYS[3] held queue (P q:held).
-- ARGV[1] response JSON (the decision record, ending in its body_fp and ix),
-- ARGV[2] its TTL ms, ARGV[3] item JSON, ARGV[4] queue score (ms held),
-- ARGV[5] comment id, ARGV[6] "1" to replace (an edited comment), ARGV[7]
-- the queue's cap (0: none), ARGV[8] "1" to refuse at the cap (else
-- evict), ARGV[9..11] retention, events and audit ms, ARGV[12] "1" for a
-- comment stored late (the spool, a taken-over journal, spool import).
--
-- Returns 1 + the number of held comments evicted when stored, 0 when
-- the item was already there (another instance or an earlier retry) and
-- not replaced, -1 when refused at the cap (nothing written). Otherwise
-- the decision record is written only if absent.
--
-- A late comment must not undo what happened while it waited: it is
-- stored only if it is newer than what Redis has. So nothing is done when
-- the comment's hash holds the same body or was held at or after this
-- one's ms (a moderator's decision on it included), or when a decision
-- record of another body was written after this one was held (its time:
-- Redis's clock plus the record's PTTL less its full TTL, against
-- modgate's clock at hold: instances' clocks must agree to the
-- millisecond-ish, as NTP keeps them). A newer late comment replaces both,
-- as an edit does.

local P = string.sub(KEYS[3], 1, -7)
local replace = ARGV[6] == '1'
if ARGV[12] == '1' then
  local ms = tonumber(ARGV[4])
  local cur = redis.call('HMGET', KEYS[2], 'at', 'bfp')
  if cur[1] then
    if cur[2] == (select(2, mq_ix(ARGV[3])) or '') or (tonumber(cur[1]) or 0) >= ms then return 0 end
    replace = true
  end
  local d = redis.call('GET', KEYS[1])
  local pat = '"body_fp":"(%x*)"' -- once in a record: the only unescaped quote-key pair of that name
  if d and string.match(d, pat) ~= string.match(ARGV[1], pat) then
    local t = redis.call('TIME')
    local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) +
               redis.call('PTTL', KEYS[1]) - tonumber(ARGV[2])
    if at >= ms then return 0 end
    replace = true
  end
elseif not replace and mq_has(KEYS[2], ARGV[3]) then
  return 0
end
local over = mq_over(P, ARGV[5], tonumber(ARGV[7]))
if over > 0 and ARGV[8] == '1' then return -1 end
if replace then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
end
local ev = 0
if over > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for _ = 1, over do ev = ev + mq_evict(P, now, ARGV[10], ARGV[11]) end
  mq_sweep(P, now, ARGV[9])
end
mq_put(P, ARGV[5], ARGV[4], ARGV[3])
return 1 + ev
