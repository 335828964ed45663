-- lesson.lua - a moderator's lesson for a model on a Redis Cluster slot
-- other than its site's (queue.c, after queue_act.lua queued it in the
-- site's outbox; again by the outbox's drain when that did not happen).
-- The build puts lib/bayes_change.lua and lib/lesson.lua in front.
--
-- KEYS the model's spam, ham, meta, doc (fp now), events, doc (the
-- fingerprint it was learned under), calib, calib order (lib/lesson.lua's
-- M). ARGV the outbox entry (queue_act.lua: JSON {me, was, lfp, teach, fp,
-- z, at, toks}), tok_version, stream MAXLEN, calibration entries kept.
-- Returns {"ok", what the filter did, changed, nspam, nham, seq} or
-- {"version", v} when the model holds another tokenizer's tokens
-- (nothing changed). Idempotent (lib/lesson.lua): a lesson taught twice,
-- by the request and by the drain, teaches once.
local mv = redis.call('HGET', KEYS[3], 'tok_version')
if mv and mv ~= ARGV[2] then return {'version', mv} end
local e = cjson.decode(ARGV[1])
local did, lesson = mq_lesson(KEYS, e.me, e.was, e.lfp, e.teach, e.fp, ARGV[2], ARGV[3], e.toks, 1, e.z, ARGV[4])
did = #did > 0 and table.concat(did, ', ') or 'nothing'
return {'ok', did, lesson[1], lesson[2], lesson[3], lesson[4]}
