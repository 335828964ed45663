-- webhooks.lua - the webhooks' outbox (webhooks.c). No KEYS (P's keys, as
-- the queue's scripts). ARGV P, mode, now ms, then by mode:
--
--   route: the number of webhooks, then per webhook its id and its event
--     types ("held,decided"). Moves the events P hooks got since P
--     hooks:routed (at most 500) into each webhook that wants them: its
--     queue per subject (a comment id "c:ID", an author "a:KEY"), P
--     wh:W:q:SUBJECT (a list of event ids, oldest first), and P wh:W:ready
--     (a zset: subject -> when its first event is due). Returns {how many}.
--   claim: webhook id, lease ms, at most n. Takes up to n due subjects,
--     makes them due again after the lease (an instance that dies holding
--     one lets another deliver it then), and returns per subject: subject,
--     event id, attempts so far, the number of the event's field strings,
--     then those (a flat list). An event the outbox trimmed meanwhile is
--     skipped and logged "lost".
--   done: webhook id, subject, event id, outcome ("ok", "retry",
--     "failed"), when to retry (ms), then the delivery log's fields (type,
--     attempt, status, ms, error). {"stale"} when the subject's first event
--     is another one (someone delivered it meanwhile); else the next
--     event of the subject becomes due ("ok", "failed"), or this one at
--     the time given ("retry"). Every attempt goes into P hooks:log.
--   log: "" or an entry id to read before, at most n: the delivery log,
--     newest first, flat: per entry its id, its number of field strings,
--     those.
--   on: marks the site as having webhooks for 60 s (P hooks:on: the
--     scripts that make events put them in the outbox only then).
--
-- One subject's events go out one at a time, in order: the next waits
-- until the first was delivered or given up. Subjects do not wait for
-- each other.

local P, mode, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local function logit(w, eid, kind, subj, attempt, status, outcome, ms, err)
  redis.call('XADD', P .. 'hooks:log', 'MAXLEN', '~', 10000, '*', 'webhook', w, 'event', eid, 'type', kind,
    'subject', subj, 'attempt', attempt, 'status', status, 'outcome', outcome, 'ms', ms, 'error', err)
end
if mode == 'route' then
  local nw, ws = tonumber(ARGV[4]), {}
  for i = 1, nw do
    local want = {}
    for t in string.gmatch(ARGV[5 + 2 * (i - 1) + 1], '[^,]+') do want[t] = true end
    ws[i] = {ARGV[5 + 2 * (i - 1)], want}
  end
  local cur = redis.call('GET', P .. 'hooks:routed') or '0-0'
  local es = redis.call('XRANGE', P .. 'hooks', '(' .. cur, '+', 'COUNT', 500)
  for _, e in ipairs(es) do
    local f, t, subj = e[2], '', nil
    for i = 1, #f, 2 do
      if f[i] == 't' then t = f[i + 1]
      elseif f[i] == 'comment_id' then subj = 'c:' .. f[i + 1]
      elseif f[i] == 'author_key' then subj = 'a:' .. f[i + 1] end
    end
    for i = 1, nw do
      if subj and ws[i][2][t] then
        local w = P .. 'wh:' .. ws[i][1]
        if redis.call('RPUSH', w .. ':q:' .. subj, e[1]) == 1 then redis.call('ZADD', w .. ':ready', now, subj) end
      end
    end
    cur = e[1]
  end
  if #es > 0 then redis.call('SET', P .. 'hooks:routed', cur) end
  return {#es}
elseif mode == 'claim' then
  local wid, lease, n = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
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
    else
      redis.call('ZADD', w .. ':ready', now + lease, s)
      local f = e[1][2]
      out[#out + 1] = s
      out[#out + 1] = eid
      out[#out + 1] = redis.call('HGET', w .. ':tries', eid) or '0'
      out[#out + 1] = #f
      for i = 1, #f do out[#out + 1] = f[i] end
    end
  end
  return out
elseif mode == 'done' then
  local wid, s, eid, outcome = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  local w = P .. 'wh:' .. wid
  local q = w .. ':q:' .. s
  if redis.call('LINDEX', q, 0) ~= eid then return {'stale'} end
  if outcome == 'retry' then
    redis.call('HINCRBY', w .. ':tries', eid, 1)
    redis.call('ZADD', w .. ':ready', ARGV[8], s)
  else
    redis.call('LPOP', q)
    redis.call('HDEL', w .. ':tries', eid)
    if redis.call('LLEN', q) > 0 then redis.call('ZADD', w .. ':ready', now, s)
    else redis.call('ZREM', w .. ':ready', s) end
  end
  logit(wid, eid, ARGV[9], s, ARGV[10], ARGV[11], outcome, ARGV[12], ARGV[13])
  return {'ok'}
elseif mode == 'log' then
  local before, n = ARGV[4], tonumber(ARGV[5])
  local out = {}
  for _, e in ipairs(redis.call('XREVRANGE', P .. 'hooks:log', before ~= '' and '(' .. before or '+', '-', 'COUNT', n)) do
    out[#out + 1] = e[1]
    out[#out + 1] = #e[2]
    for i = 1, #e[2] do out[#out + 1] = e[2][i] end
  end
  return out
elseif mode == 'on' then
  redis.call('SET', P .. 'hooks:on', '1', 'EX', 60)
  return {1}
end
return redis.error_reply('webhooks.lua: unknown mode')
