-- metrics_depth.lua - the moderation queue's depth per site and state,
-- for /metrics.
--
-- No KEYS. ARGV the sites' key prefixes (P: queue.h).
-- Returns ZCARD of each one's four state sets (held, approved, rejected,
-- spam), four per site. Read only.

local out = {}
for i = 1, #ARGV do
  for _, s in ipairs({'held', 'approved', 'rejected', 'spam'}) do
    out[#out + 1] = redis.call('ZCARD', ARGV[i] .. 'q:' .. s)
  end
end
return out
