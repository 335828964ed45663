-- metrics_depth.lua - the moderation queue's depth per site and state,
-- for /metrics.
--
-- No KEYS. ARGV the sites' key prefixes (P: queue.h).
-- Returns ZCARD of each one's five state sets (held, approved, rejected,
-- spam, reported), five per site. Read only.

local out = {}
for i = 1, #ARGV do
  for _, s in ipairs({'held', 'approved', 'rejected', 'spam', 'reported'}) do
    out[#out + 1] = redis.call('ZCARD', ARGV[i] .. 'q:' .. s)
  end
end
return out
