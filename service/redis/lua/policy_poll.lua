-- policy_poll.lua - the stored policies' versions, polled every 200 ms
-- by each instance (policy.c's poller).
--
-- KEYS: each site's policy hash. No ARGV.
-- Returns their versions, in order, "0" when none is stored. Read only.

local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('HGET', k, 'ver') or '0' end
return out
