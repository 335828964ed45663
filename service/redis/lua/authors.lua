-- authors.lua - a commenter's reputation (authors.c), read or set by a
-- moderator. The build puts lib/queue_index.lua (for hk_add) and
-- lib/rep.lua in front.
--
-- No KEYS (P's keys, as the queue's scripts). ARGV P, author key, window
-- days, then "get", or "put", status (n, t, p, b), its note JSON (with
-- who and when: authors.c makes it), audit ms, who, note.
-- Returns {previous status ("" for get), then rep_view's list}. A put
-- writes the audit entry of the change (id "author:KEY") and keeps the
-- site's set of pre-moderated authors (P .. "rep:premod"), whose size
-- tells check.c whether a check may be held by that rule
-- (authors_poll.lua).

local P, au, days = ARGV[1], ARGV[2], tonumber(ARGV[3])
local prev = ''
if ARGV[4] == 'put' then
  local f = 'a:' .. au
  local v = redis.call('HGET', P .. 'rep', f)
  prev = v and string.sub(v, 1, 1) or 'n'
  local nv = rep_status(v, ARGV[5])
  if nv then redis.call('HSET', P .. 'rep', f, nv) else redis.call('HDEL', P .. 'rep', f) end
  if ARGV[5] == 'p' then redis.call('SADD', P .. 'rep:premod', au)
  elseif prev == 'p' then redis.call('SREM', P .. 'rep:premod', au) end
  redis.call('HSET', P .. 'rep', 'm:' .. au, ARGV[6])
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('XADD', P .. 'audit', 'MINID', '~', now - tonumber(ARGV[7]), '*', 'id', 'author:' .. au,
    'action', 'author_status', 'from', prev, 'to', ARGV[5], 'by', ARGV[8], 'note', ARGV[9], 'reason', '',
    'filter', '')
  local names = {n = 'normal', t = 'trusted', p = 'premod', b = 'banned'}
  hk_add(P, 'author_changed', {'author_key', au, 'status', names[ARGV[5]] or ARGV[5],
    'previous', names[prev] or prev, 'by', ARGV[8], 'note', ARGV[9]})
end
local out = rep_view(P, au, '', days)
table.insert(out, 1, prev)
return out
