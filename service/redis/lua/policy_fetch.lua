-- policy_fetch.lua - stored policies (policy.c, when a version changed).
--
-- KEYS: policy hashes. No ARGV.
-- Returns their {ver, doc, by, at}, flat, "" for what is missing. Read
-- only.

local out = {}
for _, k in ipairs(KEYS) do
  local h = redis.call('HMGET', k, 'ver', 'doc', 'by', 'at')
  for j = 1, 4 do out[#out + 1] = h[j] or '' end
end
return out
