-- threads_put.lua - set or clear one thread's editorial settings (PUT and
-- DELETE of the threads API, threads.c).
--
-- KEYS[1] the site's threads hash (thread id -> its settings, JSON),
-- KEYS[2] their ends (sorted set: thread id scored by its end in ms; a
-- setting with no end is not in it), KEYS[3] the site's threads version
-- (a counter every change bumps: instances poll it, threads_poll.lua).
-- ARGV[1] the thread id, ARGV[2] its settings ("": delete them), ARGV[3]
-- their end in ms ("0": none), ARGV[4] the most settings a site may have.
-- Settings already ended go first (at most 1000 a call, by Redis's clock;
-- instances ignore ended ones in any case).
-- Returns {1, version, 1 if the thread had settings before, else 0}, or
-- {0, count} when the site has ARGV[4] settings and this thread none
-- (nothing written).

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
if #gone > 0 then
  redis.call('HDEL', KEYS[1], unpack(gone))
  redis.call('ZREM', KEYS[2], unpack(gone))
end
local had = redis.call('HEXISTS', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  if had == 1 then
    redis.call('HDEL', KEYS[1], ARGV[1])
    redis.call('ZREM', KEYS[2], ARGV[1])
  end
else
  if had == 0 then
    local n = redis.call('HLEN', KEYS[1])
    if n >= tonumber(ARGV[4]) then return {0, n} end
  end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  if ARGV[3] ~= '0' then
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  else
    redis.call('ZREM', KEYS[2], ARGV[1])
  end
end
return {1, redis.call('INCR', KEYS[3]), had}
