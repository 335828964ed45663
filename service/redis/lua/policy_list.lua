-- policy_list.lua - a page of a site's policy log, newest first.
--
-- KEYS[1] the site's policy hash, KEYS[2] its log hash.
-- ARGV[1] before (0: from the newest), ARGV[2] limit.
-- Returns {current, version, entry, version, entry, ...}, newest first
-- ("" for an entry the log lacks). Read only.

local cur = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')
local v = cur
local b = tonumber(ARGV[1])
if b > 0 and b - 1 < v then v = b - 1 end
local out = {cur}
local n = tonumber(ARGV[2])
while v >= 1 and n > 0 do
  out[#out + 1] = v
  out[#out + 1] = redis.call('HGET', KEYS[2], tostring(v)) or ''
  v = v - 1
  n = n - 1
end
return out
