-- lib/lesson.lua - what a moderator's action teaches a site's model, for
-- queue_act.lua (model and site on one Redis slot) and lesson.lua (a model
-- shared by sites, on a Redis Cluster slot of its own). Not a script of
-- its own: the build puts it in front of theirs (the Makefile's
-- LUA_SCRIPTS), after lib/bayes_change.lua.
--
-- mq_lesson(M, me, was, lfp, teach, fp, tv, maxlen, A, at, z, cmax). M:
-- the model's keys {spam, ham, meta, doc (fp), events, doc (lfp), calib,
-- calib order}; me the comment ("mg:{S}:ID"); was, lfp what it taught
-- before and under which fingerprint ("", "": nothing); teach, fp what it
-- teaches now ("": nothing) and its fingerprint now; tv the tokenizer
-- version, maxlen the event stream's MAXLEN, A[at..] the token hashes, z
-- its raw score before the lesson, cmax the calibration entries kept.
-- Undoes 'was' first (the learned document is unlearned only when no
-- other comment holds it: M's qref:FP sets), then learns 'teach'.
-- Returns did (a list of texts for the audit log) and the lesson
-- {changed, nspam, nham, seq} ({'', -1, -1, -1}: nothing learned).
-- Idempotent: run again with the same arguments it changes nothing more.
local function mq_lesson(M, me, was, lfp, teach, fp, tv, maxlen, A, at, z, cmax)
  local did, lesson = {}, {'', -1, -1, -1}
  local base = string.match(M[4], '^(.*:)doc:')
  if was ~= '' and (teach == '' or lfp ~= fp) then
    redis.call('SREM', base .. 'qref:' .. lfp, me)
    if redis.call('SCARD', base .. 'qref:' .. lfp) == 0 then
      local r = bayes_change({M[1], M[2], M[3], M[6], M[5], M[7], M[8]}, 'unlearn', '', tv, maxlen, A, at, '', cmax)
      did[#did + 1] = r[1] == 'unlearned' and 'unlearned ' .. was or 'nothing to unlearn'
    else
      did[#did + 1] = 'kept ' .. was .. ' (other comments with the same text)'
    end
  end
  if teach ~= '' then
    redis.call('SADD', base .. 'qref:' .. fp, me)
    local r = bayes_change({M[1], M[2], M[3], M[4], M[5], M[7], M[8]}, 'learn', teach, tv, maxlen, A, at, z, cmax)
    lesson = r
    did[#did + 1] = (r[1] == 'moved' and 'moved to ' or r[1] == 'learned' and 'learned ' or 'already ') .. teach
  end
  return did, lesson
end
