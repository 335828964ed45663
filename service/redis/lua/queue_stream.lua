-- queue_stream.lua - a page of a site's audit or events stream
-- (queue_stream_async).
--
-- No KEYS. ARGV the stream's key, after ("" from the start), "1" newest
-- first, count.
-- Returns {lost, entries}: lost is 1 when the entry 'after' is gone: it
-- was trimmed, so entries after it may have been too (cursors are only
-- ever ids of entries). Read only.

local k, after, rev, n = ARGV[1], ARGV[2], ARGV[3] == '1', tonumber(ARGV[4])
local lost = 0
if after ~= '' and #redis.call('XRANGE', k, after, after) == 0 then lost = 1 end
local r
if rev then r = redis.call('XREVRANGE', k, after ~= '' and '(' .. after or '+', '-', 'COUNT', n)
else r = redis.call('XRANGE', k, after ~= '' and '(' .. after or '-', '+', 'COUNT', n) end
return {lost, r}
