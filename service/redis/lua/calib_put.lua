-- calib_put.lua - store a model's calibration and tell every instance
-- (bayesdb.c: the sync thread's fit, `modgate model import`). Run by
-- EVAL, not registered.
--
-- KEYS[1] meta, KEYS[2] the event stream.
-- ARGV[1] "fit" (fitted on the model's own entries) or "stored" (shipped
-- with a model file), ARGV[2] a, ARGV[3] b ("" both: the fit failed),
-- ARGV[4] fit: the calib_n the entries were read at, ARGV[5] the stream's
-- MAXLEN.
-- A fit is written only when it is newer than the one stored (another
-- instance may have fitted the same or later entries first); the change
-- is an event with fit_a, fit_b, fit_n or calib_a, calib_b and no seq:
-- it changes no count, so seq (+1 for every change of the counts, what
-- learn answers and exports compare) stays. Returns 1 when written, 0
-- when not.

local kind, a, b = ARGV[1], ARGV[2], ARGV[3]
local fields
if kind == 'fit' then
  local n = tonumber(ARGV[4])
  if (tonumber(redis.call('HGET', KEYS[1], 'fit_n')) or 0) >= n then return 0 end
  fields = {'fit_a', a, 'fit_b', b, 'fit_n', n}
else
  fields = {'calib_a', a, 'calib_b', b}
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', unpack(fields))
return 1
