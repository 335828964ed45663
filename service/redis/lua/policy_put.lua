-- policy_put.lua - store a site's new policy (PUT of the policy API).
--
-- KEYS[1] the site's policy hash, KEYS[2] its log hash (version -> entry).
-- ARGV[1] base version ("": any), ARGV[2] the policy document, ARGV[3]
-- by (the key id), ARGV[4] at (ms), ARGV[5] the log entry.
-- Returns {1, new version}, or {0, current version} when that is not the
-- base version (nothing written). Versions go up by one from 1.

local cur = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= cur then return {0, cur} end
local v = cur + 1
redis.call('HSET', KEYS[1], 'ver', v, 'doc', ARGV[2], 'by', ARGV[3], 'at', ARGV[4])
redis.call('HSET', KEYS[2], tostring(v), ARGV[5])
return {1, v}
