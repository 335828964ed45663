-- queue_migrate.lua - bring a site's queue up to this version's format
-- (queue_migrate, at start). The build puts lib/queue_index.lua and
-- lib/queue_put.lua in front.
--
-- No KEYS. ARGV[1] P, ARGV[2] the rank in P q:held to go on from (0 the
-- first call).
-- Moves the comments of modgate's first queue format (a string
-- mg:{S}:held:ID per held comment, its id in q:held) into the hashes of
-- queue.h, once per site (the key P migrated marks it done). Their index
-- line is rebuilt from the item as far as Lua can: score and reason codes
-- (thread, author and network keys need a hash Lua lacks).
-- Then, when P q:held:byscore has fewer members than P q:held (comments
-- held before it existed), adds the missing ones, 1000 from ARGV[2] per
-- call so that no call holds Redis up for long, and takes out of both sets
-- an id whose comment is not held (left by an older version), so that the
-- counts meet.
-- Returns {moved, indexed, the rank to go on from or -1}.

local P = ARGV[1]
local n, indexed = 0, 0
if redis.call('SET', P .. 'migrated', '1', 'NX') then
  local ids = redis.call('ZRANGE', P .. 'q:held', 0, -1, 'WITHSCORES')
  for i = 1, #ids, 2 do
    local id, ms = ids[i], ids[i + 1]
    local item = redis.call('GET', P .. 'held:' .. id)
    if item and redis.call('EXISTS', P .. 'c:' .. id) == 0 and string.sub(item, -1) == '}' then
      local score = string.match(item, ',"score":([0-9.]+),"reasons":') or '0'
      local codes = {}
      for c in string.gmatch(item, '"code":"([a-z0-9_]+)"') do codes[#codes + 1] = c end
      item = string.gsub(item, ',"state":"held","decision":', ',"decision":', 1)
      item = string.sub(item, 1, -2) .. ',"ix":"' .. score .. '||||' .. '|' .. table.concat(codes, ',') .. '"}'
      redis.call('ZREM', P .. 'q:held', id)
      mq_put(P, id, ms, item)
      redis.call('DEL', P .. 'held:' .. id)
      n = n + 1
    end
  end
end
local hk, bk = P .. 'q:held', P .. 'q:held:byscore'
local start = tonumber(ARGV[2])
if start == 0 and redis.call('ZCARD', bk) >= redis.call('ZCARD', hk) then return {n, 0, -1} end
local ids, gone = redis.call('ZRANGE', hk, start, start + 999), 0
for i = 1, #ids do
  local h = redis.call('HMGET', P .. 'c:' .. ids[i], 'state', 'score', 'since')
  if h[1] == 'held' then indexed = indexed + redis.call('ZADD', bk, 'NX', mq_rank(h[2], h[3]), ids[i])
  else redis.call('ZREM', hk, ids[i]); redis.call('ZREM', bk, ids[i]); gone = gone + 1 end
end
return {n, indexed, #ids == 1000 and start + 1000 - gone or -1}
