-- lib/rep.lua - commenter reputation (api.md 3.1), shared by check.lua,
-- queue_act.lua and authors.lua. Not a script of its own: the build puts
-- it in front of theirs (the Makefile's LUA_SCRIPTS).
--
-- P rep is one hash per site. Field "a:" .. author key (request.h) or
-- "n:" .. network (/24 or /64) holds
--   "S A R X D:a:r:x D:a:r:x ..."
-- S the author's status set by moderators (n normal, t trusted, p premod,
-- b banned; a network's is always n), A R X its approved, rejected and
-- spam comments in all, then per UTC day D (ms / 86400000) with any the
-- same three counts of that day, newest first, for the last 90 days (the
-- longest trust.window_days). Newest first, so that a check reads only
-- the days of its window: measured with 30 days in each of a check's two
-- fields, reading them all cost Redis 33 us a check. Field "m:" .. author key holds the status's note,
-- who set it and when (JSON, authors.lua). A field whose counts and
-- status are all zero is deleted.
--
-- rep_read(v, today, days) -> S, A, R, X, and the approved, rejected and
-- spam of the days after today - days; days nil: S, A, R, X and zeros,
-- reading no day (what a site whose rules need no window pays).
-- rep_add(v, kind, day, delta, today) -> v with kind ('a', 'r' or 's')
-- changed by delta in all and on day (kept only within 90 days), or
-- false when nothing is left.
-- rep_status(v, s) -> v with status s, or false when nothing is left.
-- rep_count(P, c, ix, kind, now) counts comment hash c (P c:ID) as kind
-- for the author and network of its index line ix (THREAD|AUTHOR|NET|..)
-- on now's day, and notes in c what it counted: rk the kind, rt when, rf
-- the fields ("a:KEY|n:NET"). rep_uncount(P, c) takes exactly that back
-- (from the day it was counted, from the fields it was counted for, so
-- an edit that changed the comment's author or network takes back the
-- right one) and clears the note. queue_act.lua counts a comment entering
-- approved, rejected or spam; leaving it, and an edit that holds it again
-- or takes it out of the queue (lib/queue_put.lua), take it back.

local function rep_read(v, today, days)
  if not v then return 'n', 0, 0, 0, 0, 0, 0 end
  if not days then
    local s, A, R, X = string.match(v, '^(%a) (%d+) (%d+) (%d+)')
    if not s then return 'n', 0, 0, 0, 0, 0, 0 end
    return s, tonumber(A), tonumber(R), tonumber(X), 0, 0, 0
  end
  local s, A, R, X, rest = string.match(v, '^(%a) (%d+) (%d+) (%d+)(.*)$')
  if not s then return 'n', 0, 0, 0, 0, 0, 0 end
  local wa, wr, wx, from = 0, 0, 0, today - days
  for d, a, r, x in string.gmatch(rest, ' (%d+):(%d+):(%d+):(%d+)') do
    if tonumber(d) <= from then break end
    wa, wr, wx = wa + a, wr + r, wx + x
  end
  return s, tonumber(A), tonumber(R), tonumber(X), wa, wr, wx
end

local function rep_pack(s, t, days)
  if s == 'n' and t[1] + t[2] + t[3] == 0 then return false end
  return s .. ' ' .. t[1] .. ' ' .. t[2] .. ' ' .. t[3] .. table.concat(days)
end

local function rep_add(v, kind, day, delta, today)
  local s, t, rest = 'n', {0, 0, 0}, ''
  if v then
    local s0, A, R, X, r0 = string.match(v, '^(%a) (%d+) (%d+) (%d+)(.*)$')
    if s0 then s, t, rest = s0, {tonumber(A), tonumber(R), tonumber(X)}, r0 end
  end
  local i = kind == 'a' and 1 or kind == 'r' and 2 or 3
  t[i] = math.max(0, t[i] + delta)
  local days, found = {}, false
  for d, a, r, x in string.gmatch(rest, ' (%d+):(%d+):(%d+):(%d+)') do
    d = tonumber(d)
    if d > today - 90 then
      local c = {d, tonumber(a), tonumber(r), tonumber(x)}
      if d == day then c[i + 1], found = math.max(0, c[i + 1] + delta), true end
      days[#days + 1] = c
    end
  end
  if not found and delta > 0 and day > today - 90 then
    local c = {day, 0, 0, 0}
    c[i + 1] = delta
    days[#days + 1] = c
  end
  table.sort(days, function(x, y) return x[1] > y[1] end)
  local out = {}
  for _, c in ipairs(days) do
    if c[2] + c[3] + c[4] > 0 then out[#out + 1] = ' ' .. c[1] .. ':' .. c[2] .. ':' .. c[3] .. ':' .. c[4] end
  end
  return rep_pack(s, t, out)
end

local function rep_status(v, s)
  local t, rest = {0, 0, 0}, ''
  if v then
    local s0, A, R, X, r0 = string.match(v, '^(%a) (%d+) (%d+) (%d+)(.*)$')
    if s0 then t, rest = {tonumber(A), tonumber(R), tonumber(X)}, r0 end
  end
  return rep_pack(s, t, {rest})
end

-- rep_view(P, au, net, days) -> what the API shows of author au and
-- network net ("" either: none), as strings: the author's status, its
-- approved, rejected and spam in all and in the last 'days', its status
-- note ("" none), the network's six counts, then up to ten of the
-- author's comments in the queue, newest first, as id, state, ms.
local function rep_view(P, au, net, days)
  local t = redis.call('TIME')
  local today = math.floor(tonumber(t[1]) / 86400)
  local v = redis.call('HMGET', P .. 'rep', 'a:' .. au, 'n:' .. net, 'm:' .. au)
  local out = {rep_read(au ~= '' and v[1] or nil, today, days)}
  out[#out + 1] = au ~= '' and v[3] or ''
  local nv = {rep_read(net ~= '' and v[2] or nil, today, days)}
  for i = 2, 7 do out[#out + 1] = nv[i] end
  local last = {}
  if au ~= '' then
    for _, st in ipairs({'held', 'approved', 'rejected', 'spam'}) do
      local z = redis.call('ZREVRANGE', P .. 'q:' .. st .. ':a:' .. au, 0, 9, 'WITHSCORES')
      for i = 1, #z, 2 do last[#last + 1] = {z[i], st, tonumber(z[i + 1])} end
    end
    table.sort(last, function(x, y) return x[3] > y[3] end)
  end
  for i = 1, math.min(10, #last) do
    local n = #out
    out[n + 1], out[n + 2], out[n + 3] = last[i][1], last[i][2], string.format('%.0f', last[i][3])
  end
  for i = 1, #out do out[i] = tostring(out[i]) end
  return out
end

local function rep_uncount(P, c)
  local h = redis.call('HMGET', c, 'rk', 'rt', 'rf')
  if not h[1] or h[1] == '' then return end
  local t = redis.call('TIME')
  local today, day = math.floor(tonumber(t[1]) / 86400), math.floor((tonumber(h[2]) or 0) / 86400000)
  for f in string.gmatch(h[3] or '', '[^|]+') do
    local v = rep_add(redis.call('HGET', P .. 'rep', f), h[1], day, -1, today)
    if v then redis.call('HSET', P .. 'rep', f, v) else redis.call('HDEL', P .. 'rep', f) end
  end
  redis.call('HDEL', c, 'rk', 'rt', 'rf')
end

local function rep_count(P, c, ix, kind, now)
  local _, au, net = string.match(ix or '', '^([^|]*)|([^|]*)|([^|]*)|')
  local fs = {}
  if au and au ~= '' then fs[#fs + 1] = 'a:' .. au end
  if net and net ~= '' then fs[#fs + 1] = 'n:' .. net end
  if #fs == 0 then return end
  local today = math.floor(now / 86400000)
  for i = 1, #fs do
    redis.call('HSET', P .. 'rep', fs[i], rep_add(redis.call('HGET', P .. 'rep', fs[i]), kind, today, 1, today))
  end
  redis.call('HSET', c, 'rk', kind, 'rt', now, 'rf', table.concat(fs, '|'))
end
