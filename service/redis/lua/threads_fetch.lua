-- threads_fetch.lua - one site's thread settings, with their version
-- (threads.c, when the poll saw a new version).
--
-- KEYS[1] the site's threads hash, KEYS[2] its version key. No ARGV.
-- Returns {version, id, settings, id, settings, ...}, "0" for a site with
-- none. Read only: ended settings come too (the reader skips them).

local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, redis.call('GET', KEYS[2]) or '0')
return out
