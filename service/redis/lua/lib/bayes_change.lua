-- lib/bayes_change.lua - the learn script's work as a Lua function, for
-- learn.lua and for the scripts that learn as part of something else
-- (queue_act.lua). Not a script of its own: the build puts it in front of
-- theirs (the Makefile's LUA_SCRIPTS).
--
-- bayes_change(K, op, label, ver, maxlen, A, first, z, cmax). K: the
-- model's keys {spam, ham, meta, doc, events, calib, calib order}; op
-- "learn" or "unlearn" with
-- A[first..] the token hashes, or "raw" with A[first], A[first + 1] the
-- class deltas and then (hash, spam delta, ham delta) triples; label
-- "spam" or "ham" (learn; "" for unlearn and raw), followed by "@X" when
-- the comment's source is X, not "site" (api.md 3.4); ver the tokenizer
-- version; maxlen the event stream's MAXLEN; z the raw score the site's
-- read gave the comment before this learn ("" none: no opinion, or the
-- command line); cmax the most calibration entries kept. Returns {changed, nspam,
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
--
-- Calibration entries (bayesdb.c): a comment newly learned with a z is
-- recorded as calib[fp] = "z label" (the class, whatever its source) and
-- calib order[fp] = its seq; the oldest beyond cmax are dropped. A class
-- move relabels the entry (its z stays: the score it had before any
-- learn of it), an unlearn deletes it. meta's calib_spam, calib_ham count
-- the entries, calib_n counts their changes; every event carries all
-- three.

-- Every source costs each check one table lookup per token (bayesdb.c
-- BAYESDB_MAX_SOURCES, which must be the same number).
local MAX_SOURCES = 16

local function bayes_change(K, op, label, ver, maxlen, A, first, z, cmax)
local mv = redis.call('HGET', K[3], 'tok_version')
if mv and mv ~= ver then return {'version', tonumber(mv)} end
local lab, src = string.match(label, '^(%a*)@?(.*)$')
local cm = redis.call('HMGET', K[3], 'calib_spam', 'calib_ham', 'calib_n')
local cn = {spam = tonumber(cm[1]) or 0, ham = tonumber(cm[2]) or 0}
local cchanges = tonumber(cm[3]) or 0
local fp = string.match(K[4], ':doc:(.*)$')
-- the calibration entry of 'f', if any: dropped (its label's count too)
local function cal_del(f)
  local e = redis.call('HGET', K[6], f)
  if not e then return nil end
  local l = string.match(e, ' (%a+)$')
  redis.call('HDEL', K[6], f)
  redis.call('ZREM', K[7], f)
  if cn[l] then cn[l] = cn[l] - 1 end
  cchanges = cchanges + 1
  return e
end
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
    local e = redis.call('HGET', K[6], fp)
    if e and op == 'learn' then -- moved: the same held-out score, the new class, its age kept
      local l = string.match(e, ' (%a+)$')
      if l ~= lab then
        redis.call('HSET', K[6], fp, string.match(e, '^(%S+) ') .. ' ' .. lab)
        if cn[l] then cn[l] = cn[l] - 1 end
        cn[lab] = cn[lab] + 1
        cchanges = cchanges + 1
      end
    elseif e then
      cal_del(fp)
    end
  elseif op == 'unlearn' then
    return {'unchanged', cur[1], cur[2], seq, ''}
  else
    changed = 'learned'
    cal_del(fp) -- left over from a document deleted by hand
    if z ~= '' then
      redis.call('HSET', K[6], fp, z .. ' ' .. lab)
      redis.call('ZADD', K[7], seq + 1, fp)
      cn[lab] = cn[lab] + 1
      cchanges = cchanges + 1
      local over = redis.call('ZCARD', K[7]) - tonumber(cmax)
      if over > 0 then
        local old = redis.call('ZRANGE', K[7], 0, over - 1)
        for i = 1, #old do cal_del(old[i]) end
      end
    end
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
redis.call('HSET', K[3], 'nspam', site[1], 'nham', site[2], 'seq', seq, 'tok_version', ver,
           'calib_spam', cn.spam, 'calib_ham', cn.ham, 'calib_n', cchanges, unpack(meta))
for i = 1, #meta do head[i] = meta[i] end
for i = 1, ne do head[#meta + i] = ev[i] end
redis.call('XADD', K[5], 'MAXLEN', '~', maxlen, '*', 'seq', seq, 'nspam', site[1], 'nham', site[2],
           'tok_version', ver, 'calib_spam', cn.spam, 'calib_ham', cn.ham, 'calib_n', cchanges, unpack(head))
return {changed, cur[1], cur[2], seq, was}
end
