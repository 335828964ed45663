-- calib_read.lua - a model's calibration entries, for fitting its
-- calibration (bayesdb.c, the sync thread). Run by EVAL, not registered.
--
-- KEYS[1] meta, KEYS[2] the calibration entries (hash fp -> "z label").
-- No ARGV.
-- Returns {calib_n ("0" when none), {fp, "z label", ...}}: taken together,
-- so the fit written back (calib_put.lua) names the entries it was made of.

return {redis.call('HGET', KEYS[1], 'calib_n') or '0', redis.call('HGETALL', KEYS[2])}
