-- risk.lua - count a captcha challenge of a network and read its spam
-- counts (store_captcha_risk_async), for the captcha's difficulty.
--
-- KEYS[1], KEYS[2] the challenge counts of this and the previous minute,
-- KEYS[3], KEYS[4] the spam counts of this and the previous hour (hashes,
-- field: a network). ARGV[1] the network.
-- Counts this challenge (KEYS[1] expires 130 s after its last count) and
-- returns {challenges in this and the previous minute, spam in this and
-- the previous hour}.

local r = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], 130)
local p = tonumber(redis.call('HGET', KEYS[2], ARGV[1])) or 0
local s = (tonumber(redis.call('HGET', KEYS[3], ARGV[1])) or 0) +
          (tonumber(redis.call('HGET', KEYS[4], ARGV[1])) or 0)
return {r + p, s}
