-- lib/bayes_change.lua - the learn script's work as a Lua function, for
-- learn.lua and for the scripts that learn as part of something else
-- (queue_act.lua). Not a script of its own: the build puts it in front of
-- theirs (the Makefile's LUA_SCRIPTS).
--
-- bayes_change(K, op, label, ver, maxlen, A, first, z, cmax). K: the
-- model's keys {spam, ham, meta, doc, events, calib, calib order}; op
-- "learn" or "unlearn" with A[first..] the token hashes, or "raw" with
-- A[first], A[first + 1] the class deltas and then (hash, spam delta, ham
-- delta) triples; label "spam" or "ham" (learn); ver the tokenizer
-- version; maxlen the event stream's MAXLEN; z the raw score the site's
-- read gave the comment before this learn ("" none: no opinion, or the
-- command line); cmax the most calibration entries kept. Returns
-- {changed, nspam, nham, seq, was} or {"version", the model's
-- tok_version} (nothing changed).
--
-- Calibration entries (bayesdb.c): a comment newly learned with a z is
-- recorded as calib[fp] = "z label" and calib order[fp] = its seq; the
-- oldest beyond cmax are dropped. A class move relabels the entry (its z
-- stays: the score it had before any learn of it), an unlearn deletes it.
-- meta's calib_spam, calib_ham count the entries, calib_n counts their
-- changes; every event carries all three.
-- Per class one HMGET, one HSET and one HDEL for all tokens, not a
-- command per token: Redis pays about 2 us per redis.call. A count that
-- would go below 0 is dropped (HDEL), and nspam, nham never go below 0.

local function bayes_change(K, op, label, ver, maxlen, A, first, z, cmax)
local mv = redis.call('HGET', K[3], 'tok_version')
if mv and mv ~= ver then return {'version', tonumber(mv)} end
local meta = redis.call('HMGET', K[3], 'nspam', 'nham', 'seq', 'calib_spam', 'calib_ham', 'calib_n')
local ns, nh, seq = tonumber(meta[1]) or 0, tonumber(meta[2]) or 0, tonumber(meta[3]) or 0
local cn = {spam = tonumber(meta[4]) or 0, ham = tonumber(meta[5]) or 0}
local cchanges = tonumber(meta[6]) or 0
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
local ev, ne = {}, 0
local function add(key, cls, toks, deltas, d)
  local n = #toks
  if n == 0 then return end
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
local changed, was = 'raw', ''
if op == 'raw' then
  local s, h, ds, dh = {}, {}, {}, {}
  for i = first + 2, #A - 2, 3 do
    local a, b = tonumber(A[i + 1]), tonumber(A[i + 2])
    if a ~= 0 then s[#s + 1] = A[i]; ds[#ds + 1] = a end
    if b ~= 0 then h[#h + 1] = A[i]; dh[#dh + 1] = b end
  end
  add(K[1], 's', s, ds, 0)
  add(K[2], 'h', h, dh, 0)
  ns, nh = ns + tonumber(A[first]), nh + tonumber(A[first + 1])
else
  local doc = redis.call('GET', K[4])
  if doc then
    was = string.match(doc, '^(%a+):') or ''
    if op == 'learn' and was == label then return {'unchanged', ns, nh, seq, was} end
    local e = redis.call('HGET', K[6], fp)
    if e and op == 'learn' then -- moved: the same held-out score, the new label, its age kept
      local l = string.match(e, ' (%a+)$')
      redis.call('HSET', K[6], fp, string.match(e, '^(%S+) ') .. ' ' .. label)
      if cn[l] then cn[l] = cn[l] - 1 end
      cn[label] = cn[label] + 1
      cchanges = cchanges + 1
    elseif e then
      cal_del(fp)
    end
    local t = {}
    for i = #was + 2, #doc - 15, 16 do t[#t + 1] = string.sub(doc, i, i + 15) end
    if was == 'spam' then add(K[1], 's', t, nil, -1); ns = ns - 1
    else add(K[2], 'h', t, nil, -1); nh = nh - 1 end
    changed = op == 'learn' and 'moved' or 'unlearned'
  elseif op == 'unlearn' then
    return {'unchanged', ns, nh, seq, ''}
  else
    changed = 'learned'
    cal_del(fp) -- left over from a document deleted by hand
    if z ~= '' then
      redis.call('HSET', K[6], fp, z .. ' ' .. label)
      redis.call('ZADD', K[7], seq + 1, fp)
      cn[label] = cn[label] + 1
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
    if label == 'spam' then add(K[1], 's', t, nil, 1); ns = ns + 1
    else add(K[2], 'h', t, nil, 1); nh = nh + 1 end
    redis.call('SET', K[4], label .. ':' .. table.concat(t))
    was = label
  else
    redis.call('DEL', K[4])
  end
end
if ns < 0 then ns = 0 end
if nh < 0 then nh = 0 end
seq = seq + 1
redis.call('HSET', K[3], 'nspam', ns, 'nham', nh, 'seq', seq, 'tok_version', ver,
           'calib_spam', cn.spam, 'calib_ham', cn.ham, 'calib_n', cchanges)
redis.call('XADD', K[5], 'MAXLEN', '~', maxlen, '*', 'seq', seq, 'nspam', ns, 'nham', nh,
           'tok_version', ver, 'calib_spam', cn.spam, 'calib_ham', cn.ham, 'calib_n', cchanges, unpack(ev))
return {changed, ns, nh, seq, was}
end
