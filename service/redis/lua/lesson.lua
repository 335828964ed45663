-- lesson.lua - a moderator's lesson for a model on a Redis Cluster slot
-- other than its site's (queue.c, after queue_act.lua queued it in the
-- site's outbox; again by the outbox's drain when that did not happen).
-- The build puts lib/bayes_change.lua and lib/lesson.lua in front.
--
-- KEYS the model's spam, ham, meta, doc (fp now), events, doc (the
-- fingerprint it was learned under), calib, calib order (lib/lesson.lua's
-- M). ARGV the outbox entry (queue_act.lua: JSON {me, was, lfp, teach, fp,
-- z, at, ver, toks}), tok_version, stream MAXLEN, calibration entries kept.
-- The model's lver:ME key (30 days) keeps the comment's last version
-- taught: a lesson of an older one (the drain's, after a later action's
-- lesson) is not taught.
-- Returns {"ok", what the filter did, changed, nspam, nham, seq} or
-- {"version", v} when the model holds another tokenizer's tokens
-- (nothing changed). Idempotent (lib/lesson.lua): a lesson taught twice,
-- by the request and by the drain, teaches once.
local mv = redis.call('HGET', KEYS[3], 'tok_version')
if mv and mv ~= ARGV[2] then return {'version', mv} end
local e = cjson.decode(ARGV[1])
-- lessons of one comment are taught in the order of its versions: one
-- left in the outbox and drained after a later action's must not undo it
if e.ver then
  local lk = string.match(KEYS[4], '^(.*:)doc:') .. 'lver:' .. e.me
  if tonumber(redis.call('GET', lk) or '0') >= tonumber(e.ver) then
    return {'ok', 'taught before (or a later lesson was)', '', -1, -1, -1}
  end
  redis.call('SET', lk, e.ver, 'EX', 2592000)
end
local did, lesson = mq_lesson(KEYS, e.me, e.was, e.lfp, e.teach, e.fp, ARGV[2], ARGV[3], e.toks, 1, e.z, ARGV[4])
did = #did > 0 and table.concat(did, ', ') or 'nothing'
return {'ok', did, lesson[1], lesson[2], lesson[3], lesson[4]}
