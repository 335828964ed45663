-- webhooks.lua - the webhooks' outbox (webhooks.c). No KEYS (P's keys, as
-- the queue's scripts). Every time is Redis's (TIME): instances' clocks
-- may disagree. ARGV P, mode, then by mode:
--
--   route: the number of webhooks, then per webhook its id and its event
--     types ("held,decided"). Marks the site as having webhooks (P
--     hooks:on, kept until deleted: the scripts that make events put them
--     in the outbox only while it exists), then moves the events P hooks
--     got since P hooks:routed (at most 500) into each webhook that wants
--     them: its queue per subject (a comment "c:ID", an author "a:KEY"),
--     P wh:W:q:SUBJECT (a list of event ids, oldest first), and P
--     wh:W:ready (a zset: subject -> when its first event is due).
--     Returns {how many}.
--   claim: webhook id, lease ms, at most n. Takes up to n due subjects,
--     makes them due again after the lease (an instance that dies holding
--     one lets another deliver it then) and gives each claim a token (P
--     wh:W:lease: subject -> token). Returns per subject: subject, event
--     id, attempts so far, token, the number of the event's field
--     strings, then those (a flat list). An event the outbox trimmed
--     meanwhile is skipped and logged "lost".
--   done: webhook id, subject, event id, token, outcome ("ok", "retry",
--     "failed"), retry delay ms, then the delivery log's fields (type,
--     attempt, status, ms, error). Only the claim holding the subject's
--     lease may finish it: any other (one whose lease ran out and was
--     claimed again) is logged "stale" and changes nothing, so a
--     subject's events never overtake each other. "ok" and "failed" make
--     the subject's next event due now, "retry" this one after the
--     delay. Returns {"ok"} or {"stale"}. Every attempt goes into P
--     hooks:log.
--   log: "" or an entry id to read before, at most n: the delivery log,
--     newest first, flat: per entry its id, its number of field strings,
--     those.
--
-- One subject's events go out one at a time, in order: the next waits
-- until the first was delivered or given up. Subjects do not wait for
-- each other.

local P, mode = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function logit(w, eid, kind, subj, attempt, status, outcome, ms, err)
  redis.call('XADD', P .. 'hooks:log', 'MAXLEN', '~', 10000, '*', 'webhook', w, 'event', eid, 'type', kind,
    'subject', subj, 'attempt', attempt, 'status', status, 'outcome', outcome, 'ms', ms, 'error', err)
end
if mode == 'route' then
  redis.call('SET', P .. 'hooks:on', '1')
  local nw, ws = tonumber(ARGV[3]), {}
  for i = 1, nw do
    local want = {}
    for e in string.gmatch(ARGV[4 + 2 * (i - 1) + 1], '[^,]+') do want[e] = true end
    ws[i] = {ARGV[4 + 2 * (i - 1)], want}
  end
  local cur = redis.call('GET', P .. 'hooks:routed') or '0-0'
  local es = redis.call('XRANGE', P .. 'hooks', '(' .. cur, '+', 'COUNT', 500)
  for _, e in ipairs(es) do
    local f, kind, subj = e[2], '', nil
    for i = 1, #f, 2 do
      if f[i] == 't' then kind = f[i + 1]
      elseif f[i] == 'comment_id' then subj = 'c:' .. f[i + 1]
      elseif f[i] == 'author_key' then subj = 'a:' .. f[i + 1] end
    end
    for i = 1, nw do
      if subj and ws[i][2][kind] then
        local w = P .. 'wh:' .. ws[i][1]
        if redis.call('RPUSH', w .. ':q:' .. subj, e[1]) == 1 then redis.call('ZADD', w .. ':ready', now, subj) end
      end
    end
    cur = e[1]
  end
  if #es > 0 then redis.call('SET', P .. 'hooks:routed', cur) end
  return {#es}
elseif mode == 'claim' then
  local wid, lease, n = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
  local w = P .. 'wh:' .. wid
  local subs = redis.call('ZRANGE', w .. ':ready', '-inf', now, 'BYSCORE', 'LIMIT', 0, n)
  local out = {}
  for _, s in ipairs(subs) do
    local q = w .. ':q:' .. s
    local eid, e = redis.call('LINDEX', q, 0), nil
    while eid do
      e = redis.call('XRANGE', P .. 'hooks', eid, eid)
      if #e > 0 then break end
      redis.call('LPOP', q)
      redis.call('HDEL', w .. ':tries', eid)
      logit(wid, eid, '', s, 0, 0, 'lost', 0, 'the outbox dropped it (older than two days)')
      eid = redis.call('LINDEX', q, 0)
    end
    if not eid then
      redis.call('ZREM', w .. ':ready', s)
      redis.call('HDEL', w .. ':lease', s)
    else
      local token = tostring(redis.call('INCR', w .. ':seq'))
      redis.call('ZADD', w .. ':ready', now + lease, s)
      redis.call('HSET', w .. ':lease', s, token)
      local f = e[1][2]
      out[#out + 1] = s
      out[#out + 1] = eid
      out[#out + 1] = redis.call('HGET', w .. ':tries', eid) or '0'
      out[#out + 1] = token
      out[#out + 1] = #f
      for i = 1, #f do out[#out + 1] = f[i] end
    end
  end
  return out
elseif mode == 'done' then
  local wid, s, eid, token, outcome = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  local w = P .. 'wh:' .. wid
  local q = w .. ':q:' .. s
  if redis.call('LINDEX', q, 0) ~= eid or redis.call('HGET', w .. ':lease', s) ~= token then
    logit(wid, eid, ARGV[9], s, ARGV[10], ARGV[11], 'stale', ARGV[12], 'another claim holds it now: ' .. outcome)
    return {'stale'}
  end
  redis.call('HDEL', w .. ':lease', s)
  if outcome == 'retry' then
    redis.call('HINCRBY', w .. ':tries', eid, 1)
    redis.call('ZADD', w .. ':ready', now + tonumber(ARGV[8]), s)
  else
    redis.call('LPOP', q)
    redis.call('HDEL', w .. ':tries', eid)
    if redis.call('LLEN', q) > 0 then redis.call('ZADD', w .. ':ready', now, s)
    else redis.call('ZREM', w .. ':ready', s) end
  end
  logit(wid, eid, ARGV[9], s, ARGV[10], ARGV[11], outcome, ARGV[12], ARGV[13])
  return {'ok'}
elseif mode == 'log' then
  local before, n = ARGV[3], tonumber(ARGV[4])
  local out = {}
  for _, e in ipairs(redis.call('XREVRANGE', P .. 'hooks:log', before ~= '' and '(' .. before or '+', '-', 'COUNT', n)) do
    out[#out + 1] = e[1]
    out[#out + 1] = #e[2]
    for i = 1, #e[2] do out[#out + 1] = e[2][i] end
  end
  return out
end
return redis.error_reply('webhooks.lua: unknown mode')
