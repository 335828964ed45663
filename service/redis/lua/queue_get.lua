-- queue_get.lua - one comment of the moderation queue (queue_get_async).
--
-- No KEYS. ARGV P, id.
-- Returns {the comment's hash as field, value pairs (empty: no such
-- comment), its history (JSON strings)}. Read only.

local h = redis.call('HGETALL', ARGV[1] .. 'c:' .. ARGV[2])
if #h == 0 then return {h, {}} end
return {h, redis.call('LRANGE', ARGV[1] .. 'h:' .. ARGV[2], 0, -1)}
