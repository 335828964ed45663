-- threads_poll.lua - the sites' threads versions, polled every 200 ms by
-- each instance (threads.c, from policy.c's poller).
--
-- KEYS: each site's threads version key. No ARGV.
-- Returns their versions, in order, "0" when none is stored. Read only.

local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('GET', k) or '0' end
return out
