-- lib/queue_index.lua - Lua shared by the scripts that move comments:
-- queue_act.lua, queue_list.lua, and through lib/queue_put.lua check.lua,
-- hold.lua and queue_migrate.lua. Not a script of its own: the build puts
-- it in front of theirs (the Makefile's LUA_SCRIPTS). Keys: queue.h's
-- schema, P being a site's prefix "mg:{S}:".
--
-- mq_ix(item) reads the index line at the end of a stored item (queue.h):
-- its score, body fingerprint and the rest (thread|author|net|codes), or
-- nil when the item's last 1100 bytes hold none. A plain search finds it:
-- a pattern anchored only at the end would be tried at every byte.
-- mq_rank(sc, ms) is a held comment's rank in P q:held:byscore (see
-- lib/queue_put.lua), as a decimal string.
-- mq_index(P, st, id, ix, ms, add, sc) adds comment id to (or, add false,
-- takes it out of) state st's sets at ms, by its index line ix; a held
-- comment also goes into P q:held:byscore (see mq_rank), with score sc.
-- Returns ix's reason codes ("CODE,CODE,...", "" none).
-- mq_log(P, id, now, action, from, to, by, note, reason, did, events ms,
-- audit ms) writes an action's history entry, audit entry and CMS event
-- and returns the two entries' ids.
-- mq_sweep(P, now, retention ms) deletes up to ten decided comments of
-- each decided state past their retention.
-- hk_add(P, type, fields) puts an event for the site's webhooks in its
-- outbox, P hooks (webhooks.c), when it has webhooks (P hooks:on): "t"
-- type, then the flat field, value list. The outbox keeps two days, by
-- Redis's clock.
-- mq_log adds "decided" (a comment entering approved, rejected or spam)
-- and "held" (an undo) events; lib/queue_put.lua's mq_put "held".

local function hk_add(P, kind, fields)
  if redis.call('EXISTS', P .. 'hooks:on') == 0 then return end
  local t = redis.call('TIME')
  local a = {'XADD', P .. 'hooks', 'MINID', '~', tonumber(t[1]) * 1000 - 172800000, '*', 't', kind}
  for i = 1, #fields do a[#a + 1] = fields[i] end
  redis.call(unpack(a))
end

local function mq_ix(item)
  local s = string.find(item, ',"ix":"', math.max(1, #item - 1100), true)
  if not s then return nil end
  return string.match(item, '^,"ix":"([^|"]*)|([^|"]*)|([^"\\]*)"}$', s)
end
local function mq_rank(sc, ms)
  local s = math.floor((tonumber(sc) or 0) * 1000 + 0.5)
  if s < 0 then s = 0 elseif s > 1000 then s = 1000 end
  local t = math.floor(tonumber(ms) or 0)
  if t < 0 then t = 0 elseif t > 4398046511103 then t = 4398046511103 end
  return string.format('%.0f', s * 4398046511104 + 4398046511103 - t)
end
local function mq_index(P, st, id, ix, ms, add, sc)
  local q = P .. 'q:' .. st
  local t, a, n, rs = string.match(ix or '', '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
  local ks = {q}
  if t and t ~= '' then ks[#ks + 1] = q .. ':t:' .. t end
  if a and a ~= '' then ks[#ks + 1] = q .. ':a:' .. a end
  if n and n ~= '' then ks[#ks + 1] = q .. ':n:' .. n end
  for c in string.gmatch(rs or '', '[^,]+') do ks[#ks + 1] = q .. ':r:' .. c end
  for i = 1, #ks do
    if add then redis.call('ZADD', ks[i], ms, id) else redis.call('ZREM', ks[i], id) end
  end
  if st == 'held' then
    if add then redis.call('ZADD', q .. ':byscore', mq_rank(sc, ms), id)
    else redis.call('ZREM', q .. ':byscore', id) end
  end
  return rs or ''
end
local function mq_log(P, id, now, act, from, to, by, note, reason, did, ev_ms, au_ms)
  redis.call('RPUSH', P .. 'h:' .. id, cjson.encode({at = now, action = act, from = from, to = to,
    by = by, note = note, reason = reason, filter = did}))
  local aid = redis.call('XADD', P .. 'audit', 'MINID', '~', now - tonumber(au_ms), '*', 'id', id,
    'action', act, 'from', from, 'to', to, 'by', by, 'note', note, 'reason', reason, 'filter', did)
  local eid = redis.call('XADD', P .. 'events', 'MINID', '~', now - tonumber(ev_ms), '*', 'id', id,
    'state', to, 'previous', from, 'action', act, 'by', by)
  if to == 'approved' or to == 'rejected' or to == 'spam' or to == 'held' then
    hk_add(P, to == 'held' and 'held' or 'decided', {'comment_id', id, 'state', to, 'previous', from,
      'action', act, 'by', by, 'note', note, 'reason', reason})
  end
  return aid, eid
end
local function mq_sweep(P, now, ret_ms)
  for _, s in ipairs({'approved', 'rejected', 'spam'}) do
    local old = redis.call('ZRANGE', P .. 'q:' .. s, '-inf', now - tonumber(ret_ms), 'BYSCORE', 'LIMIT', 0, 10)
    for i = 1, #old do
      mq_index(P, s, old[i], redis.call('HGET', P .. 'c:' .. old[i], 'ix'), 0, false)
      redis.call('DEL', P .. 'c:' .. old[i], P .. 'h:' .. old[i], P .. 'rp:' .. old[i], P .. 'rps:' .. old[i])
    end
  end
end
