-- metrics_depth.lua - the moderation queue's depth per site and state,
-- for /metrics.
--
-- KEYS the sites' key prefixes (P: queue.h), so that Redis Cluster
-- routes it (store.c sends one call per site's slot there). No ARGV.
-- Returns ZCARD of each one's five state sets (held, approved, rejected,
-- spam, reported), five per site, in the order of KEYS. Read only.

local out = {}
for i = 1, #KEYS do
  for _, s in ipairs({'held', 'approved', 'rejected', 'spam', 'reported'}) do
    out[#out + 1] = redis.call('ZCARD', KEYS[i] .. 'q:' .. s)
  end
end
return out
