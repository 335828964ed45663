-- queue_act.lua - one moderator action on one comment (queue_act_async).
-- The build puts lib/queue_index.lua, lib/bayes_change.lua, lib/rep.lua
-- and lib/lesson.lua in front.
--
-- KEYS[1] the comment's hash, then the model's spam, ham, meta, doc (of
-- the comment now), events, the doc it was learned as (KEYS[2..7]), and
-- its calibration entries and their order (KEYS[8], KEYS[9]). With
-- KEYS[1] alone (Redis Cluster, a model shared by sites on a slot of its
-- own) the lesson is not taught here: it goes into the site's outbox, the
-- hash P lessons (field: the id; value: JSON {me, was, lfp, teach, fp, z,
-- at, ver, toks}, replaced by a later action on the comment), and queue.c
-- runs lesson.lua on the model's slot next, then lesson_done.lua; the
-- answer's lesson is then ("", -1, -1, -1) and "what the filter did" says
-- it was queued (the tokenizer version is checked by lesson.lua).
-- ARGV P, id, action, to, from (the state the moderator saw), ver (the
-- version read), by, note, reason, teach ("spam", "ham" or ""),
-- tok_version, model stream length, retention ms, events ms, audit ms, fp
-- (now), the comment's raw score before the lesson ("": none), the most
-- calibration entries kept, then the token hashes (ARGV[19..]).
--
-- The state must still be 'from' at 'ver' (ver "": at any version, for
-- POST /v1/learn moving a held comment, which must then have taught
-- nothing yet, as held comments have not): else {"conflict", state, ver};
-- {"same", state, ver} when already in 'to'; {"missing"}; {"version", v}
-- when the model holds another tokenizer's tokens (nothing changed). An
-- action to the state it is in only teaches (spam or ham of a comment
-- that taught something else). On success {"ok", from, to, ver, ms,
-- audit id, event id, what the filter did, then the lesson's changed,
-- nspam, nham and seq as bayes_change gave them ("", -1, -1, -1: none),
-- the outbox entry written ("": none)}.
--
-- Comments with the same text share one learned document of the model
-- (bayesdb.c counts a text once): mg:{M}:bayes:qref:FP holds the comments
-- ("mg:{S}:ID") that taught it, and undoing one unlearns the document
-- only when no other comment still holds it. Each action also deletes up
-- to ten decided comments of each decided state past their retention.
--
-- A comment entering approved, rejected or spam counts for its author's
-- and its network's reputation (P rep, lib/rep.lua) on the day it does;
-- leaving it takes that count back (lib/rep.lua's rep_count and
-- rep_uncount), so an undo leaves the reputation as it was.

local P, id, to, teach, fp = ARGV[1], ARGV[2], ARGV[4], ARGV[10], ARGV[16]
local cur = redis.call('HMGET', KEYS[1], 'state', 'ver', 'ix', 'learned', 'lfp', 'score')
if not cur[1] then return {'missing'} end
local was, lfp = cur[4] or '', cur[5] or ''
if cur[1] ~= ARGV[5] or (ARGV[6] ~= '' and cur[2] ~= ARGV[6]) or (ARGV[6] == '' and was ~= '') then
  return {'conflict', cur[1], cur[2]}
end
local relearn = teach ~= was or (teach ~= '' and lfp ~= fp)
if cur[1] == to and not (relearn and (ARGV[3] == 'spam' or ARGV[3] == 'ham')) then
  return {'same', cur[1], cur[2]}
end
if relearn and #KEYS > 1 then
  local mv = redis.call('HGET', KEYS[4], 'tok_version')
  if mv and mv ~= ARGV[11] then return {'version', mv} end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ver = tonumber(cur[2]) + 1
if cur[1] ~= to then
  mq_index(P, cur[1], id, cur[3], 0, false)
  mq_index(P, to, id, cur[3], now, true, cur[6])
  redis.call('HSET', KEYS[1], 'state', to, 'since', now)
  if cur[1] == 'reported' then -- decided: new reports count from here (report.lua)
    local sk = P .. 'rps:' .. id
    local js = redis.call('GET', sk)
    if js then
      local sum = cjson.decode(js)
      sum.base = sum.count
      js = cjson.encode(sum)
      redis.call('SET', sk, js, 'KEEPTTL')
      redis.call('HSET', KEYS[1], 'reports', js)
    end
  end
  rep_uncount(P, KEYS[1])
  local nk = to == 'approved' and 'a' or to == 'rejected' and 'r' or to == 'spam' and 's' or ''
  if nk ~= '' then rep_count(P, KEYS[1], cur[3], nk, now) end
end
redis.call('HSET', KEYS[1], 'ver', ver, 'by', ARGV[7])
local did, lesson, entry = {}, {'', -1, -1, -1}, ''
if relearn and #KEYS == 1 then
  -- the model is on another Redis Cluster slot: the lesson waits in the
  -- site's outbox for lesson.lua (queue.c sends it next; see the header)
  local toks = {}
  for i = 19, #ARGV do toks[#toks + 1] = ARGV[i] end
  entry = cjson.encode({me = P .. id, was = was, lfp = lfp, teach = teach, fp = fp, z = ARGV[17], at = now,
                        ver = ver, toks = toks})
  redis.call('HSET', P .. 'lessons', id, entry)
  did[1] = 'lesson for the shared model queued'
  redis.call('HSET', KEYS[1], 'learned', teach, 'lfp', teach ~= '' and fp or '')
elseif relearn then
  did, lesson = mq_lesson({KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]}, P .. id, was,
                          lfp, teach, fp, ARGV[11], ARGV[12], ARGV, 19, ARGV[17], ARGV[18])
  redis.call('HSET', KEYS[1], 'learned', teach, 'lfp', teach ~= '' and fp or '')
end
did = #did > 0 and table.concat(did, ', ') or 'nothing'
local aid, eid = mq_log(P, id, now, ARGV[3], cur[1], to, ARGV[7], ARGV[8], ARGV[9], did, ARGV[14], ARGV[15])
mq_sweep(P, now, ARGV[13])
return {'ok', cur[1], to, ver, now, aid, eid, did, lesson[1], lesson[2], lesson[3], lesson[4], entry}
