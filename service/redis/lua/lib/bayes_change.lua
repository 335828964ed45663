-- lib/bayes_change.lua - the learn script's work as a Lua function, for
-- learn.lua and for the scripts that learn as part of something else
-- (queue_act.lua). Not a script of its own: the build puts it in front of
-- theirs (the Makefile's LUA_SCRIPTS).
--
-- bayes_change(K, op, label, ver, maxlen, A, first). K: the model's keys
-- {spam, ham, meta, doc, events}; op "learn" or "unlearn" with
-- A[first..] the token hashes, or "raw" with A[first], A[first + 1] the
-- class deltas and then (hash, spam delta, ham delta) triples; label
-- "spam" or "ham" (learn; "" for unlearn and raw), followed by "@X" when
-- the comment's source is X, not "site" (api.md 3.4); ver the tokenizer
-- version; maxlen the event stream's MAXLEN. Returns {changed, nspam,
-- nham, seq, was} with the class totals of the comment's source (unlearn:
-- of the source it was in) and was its label ("spam@X" from source X), or
-- {"version", the model's tok_version} or {"sources", MAX_SOURCES}
-- (nothing changed).
-- Per class one HMGET, one HSET and one HDEL for all tokens, not a
-- command per token: Redis pays about 2 us per redis.call. A count that
-- would go below 0 is dropped (HDEL), and class totals never go below 0.
--
-- Sources: source "site" keeps the plain fields (token hash; meta nspam,
-- nham); source X has the fields "X:" .. hash in the same two hashes and
-- nspam:X, nham:X in meta, so every key of every source is in K whatever
-- source the comment's record names (a move between sources needs no key
-- the caller could not know). Events carry the same names.

-- Every source costs each check one table lookup per token (bayesdb.c
-- BAYESDB_MAX_SOURCES, which must be the same number).
local MAX_SOURCES = 16

local function bayes_change(K, op, label, ver, maxlen, A, first)
local mv = redis.call('HGET', K[3], 'tok_version')
if mv and mv ~= ver then return {'version', tonumber(mv)} end
local lab, src = string.match(label, '^(%a*)@?(.*)$')
-- The class totals of each source touched, read when first needed; the
-- site's are always written (the event's first fields).
local tot, touched = {}, {}
local function totals(s)
  if not tot[s] then
    local sfx = s == '' and '' or ':' .. s
    local v = redis.call('HMGET', K[3], 'nspam' .. sfx, 'nham' .. sfx)
    tot[s] = {tonumber(v[1]) or 0, tonumber(v[2]) or 0, sfx, v[1] ~= false}
    if s ~= '' then touched[#touched + 1] = s end
  end
  return tot[s]
end
totals('')
local seq = tonumber(redis.call('HGET', K[3], 'seq')) or 0
local ev, ne = {}, 0
local function add(key, cls, pre, toks, deltas, d)
  local n = #toks
  if n == 0 then return end
  if pre ~= '' then
    for i = 1, n do toks[i] = pre .. toks[i] end
  end
  local cur = redis.call('HMGET', key, unpack(toks))
  local set, del, nset, ndel = {}, {}, 0, 0
  for i = 1, n do
    local t, v = toks[i], (tonumber(cur[i]) or 0) + (deltas and deltas[i] or d)
    if v > 0 then set[nset + 1] = t; set[nset + 2] = v; nset = nset + 2
    else v = 0; ndel = ndel + 1; del[ndel] = t end
    ev[ne + 1] = cls .. t; ev[ne + 2] = v; ne = ne + 2
  end
  if nset > 0 then redis.call('HSET', key, unpack(set)) end
  if ndel > 0 then redis.call('HDEL', key, unpack(del)) end
end
local function pre_of(s) return s == '' and '' or s .. ':' end
-- A source not recorded yet may be the MAX_SOURCES + 1st (site counts).
if src ~= '' and op ~= 'unlearn' and not totals(src)[4] then
  local n = 1
  for _, f in ipairs(redis.call('HKEYS', K[3])) do
    if string.sub(f, 1, 6) == 'nspam:' then n = n + 1 end
  end
  if n >= MAX_SOURCES then return {'sources', MAX_SOURCES} end
end
local changed, was, cur = 'raw', '', totals('')
if op == 'raw' then
  local s, h, ds, dh = {}, {}, {}, {}
  for i = first + 2, #A - 2, 3 do
    local a, b = tonumber(A[i + 1]), tonumber(A[i + 2])
    if a ~= 0 then s[#s + 1] = A[i]; ds[#ds + 1] = a end
    if b ~= 0 then h[#h + 1] = A[i]; dh[#dh + 1] = b end
  end
  add(K[1], 's', pre_of(src), s, ds, 0)
  add(K[2], 'h', pre_of(src), h, dh, 0)
  cur = totals(src)
  cur[1], cur[2] = cur[1] + tonumber(A[first]), cur[2] + tonumber(A[first + 1])
else
  local doc = redis.call('GET', K[4])
  if doc then
    local wl, ws, at = string.match(doc, '^(%a+)@?([^:]*):()')
    wl, ws, at = wl or '', ws or '', at or #doc + 1
    was = ws == '' and wl or wl .. '@' .. ws
    cur = totals(ws)
    if op == 'learn' and wl == lab and ws == src then return {'unchanged', cur[1], cur[2], seq, was} end
    local t = {}
    for i = at, #doc - 15, 16 do t[#t + 1] = string.sub(doc, i, i + 15) end
    if wl == 'spam' then add(K[1], 's', pre_of(ws), t, nil, -1); cur[1] = cur[1] - 1
    else add(K[2], 'h', pre_of(ws), t, nil, -1); cur[2] = cur[2] - 1 end
    changed = op == 'learn' and 'moved' or 'unlearned'
  elseif op == 'unlearn' then
    return {'unchanged', cur[1], cur[2], seq, ''}
  else
    changed = 'learned'
  end
  if op == 'learn' then
    local t = {unpack(A, first)}
    cur = totals(src)
    if lab == 'spam' then add(K[1], 's', pre_of(src), t, nil, 1); cur[1] = cur[1] + 1
    else add(K[2], 'h', pre_of(src), t, nil, 1); cur[2] = cur[2] + 1 end
    was = label
    redis.call('SET', K[4], label .. ':' .. table.concat({unpack(A, first)}))
  else
    redis.call('DEL', K[4])
  end
end
for _, v in pairs(tot) do
  if v[1] < 0 then v[1] = 0 end
  if v[2] < 0 then v[2] = 0 end
end
seq = seq + 1
local site, meta, head = tot[''], {}, {}
for _, s in ipairs(touched) do
  local v = tot[s]
  meta[#meta + 1] = 'nspam' .. v[3]; meta[#meta + 1] = v[1]
  meta[#meta + 1] = 'nham' .. v[3]; meta[#meta + 1] = v[2]
end
redis.call('HSET', K[3], 'nspam', site[1], 'nham', site[2], 'seq', seq, 'tok_version', ver, unpack(meta))
for i = 1, #meta do head[i] = meta[i] end
for i = 1, ne do head[#meta + i] = ev[i] end
redis.call('XADD', K[5], 'MAXLEN', '~', maxlen, '*', 'seq', seq, 'nspam', site[1], 'nham', site[2],
           'tok_version', ver, unpack(head))
return {changed, cur[1], cur[2], seq, was}
end
