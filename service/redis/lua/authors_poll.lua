-- authors_poll.lua - how many authors each site's moderators pre-moderate
-- (authors.c, polled with the policies every 200 ms by each instance).
--
-- KEYS: each site's set of pre-moderated author keys (authors.lua keeps
-- it). No ARGV. Returns their sizes, in order. Read only.

local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('SCARD', k) end
return out
