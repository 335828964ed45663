-- queue_get.lua - one comment of the moderation queue (queue_get_async).
-- The build puts lib/rep.lua in front.
--
-- No KEYS. ARGV P, id, trust.window_days.
-- Returns {the comment's hash as field, value pairs (empty: no such
-- comment), its history (JSON strings), its author's and network's
-- reputation (rep_view of its index line's author and network)}. Read
-- only.

local h = redis.call('HGETALL', ARGV[1] .. 'c:' .. ARGV[2])
if #h == 0 then return {h, {}, {}} end
local ix = ''
for i = 1, #h, 2 do if h[i] == 'ix' then ix = h[i + 1] end end
local _, au, net = string.match(ix, '^([^|]*)|([^|]*)|([^|]*)|')
return {h, redis.call('LRANGE', ARGV[1] .. 'h:' .. ARGV[2], 0, -1),
  rep_view(ARGV[1], au or '', net or '', tonumber(ARGV[3]))}
