-- tuning_labelled.lua - one page of a state's decided comments in a time
-- window, newest first (tuning.c: the threshold sweep and dry run).
-- Pages keep each script (and so Redis and the connection the checks
-- share) short.
--
-- No KEYS. ARGV[1] P, ARGV[2] from ms, ARGV[3] to ms, ARGV[4] state,
-- ARGV[5] offset, ARGV[6] count.
-- Returns {ids looked at, id, item, since, ...}: only comments still in
-- that state. Read only.

local P, st = ARGV[1], ARGV[4]
local ids = redis.call('ZREVRANGEBYSCORE', P .. 'q:' .. st, ARGV[3], ARGV[2], 'LIMIT',
                       tonumber(ARGV[5]), tonumber(ARGV[6]))
local out = {#ids}
for _, id in ipairs(ids) do
  local h = redis.call('HMGET', P .. 'c:' .. id, 'item', 'since', 'state')
  if h[1] and h[3] == st then
    out[#out + 1] = id; out[#out + 1] = h[1]; out[#out + 1] = h[2] or '0'
  end
end
return out
