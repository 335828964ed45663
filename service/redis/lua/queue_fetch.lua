-- queue_fetch.lua - what a moderator action needs to know first
-- (queue_fetch_async).
--
-- No KEYS. ARGV P, then either "ids" and the ids, or "index", state, kind
-- (a|n|t), value, limit: the oldest comments of that index.
-- Returns per comment {id, state, ver, item, learned, lfp}, or {id} when
-- there is no such comment. Read only.

local P, ids = ARGV[1], {}
if ARGV[2] == 'index' then
  ids = redis.call('ZRANGE', P .. 'q:' .. ARGV[3] .. ':' .. ARGV[4] .. ':' .. ARGV[5], 0, tonumber(ARGV[6]) - 1)
else
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local out = {}
for i = 1, #ids do
  local h = redis.call('HMGET', P .. 'c:' .. ids[i], 'state', 'ver', 'item', 'learned', 'lfp')
  if h[1] then out[i] = {ids[i], h[1], h[2], h[3], h[4] or '', h[5] or ''}
  else out[i] = {ids[i]} end
end
return out
