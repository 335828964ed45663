-- learn_snapshot.lua - where a model's event stream stands (bayesdb.c,
-- when an instance loads a model, before it follows the stream). Run by
-- EVAL, not registered.
--
-- KEYS[1] the event stream, KEYS[2] meta. No ARGV.
-- Returns {the stream's last id ("0-0" when empty), the model's seq ("0"
-- when none)}: taken together, so the first event after that id must
-- carry seq + 1.

local e = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
return {e[1] and e[1][1] or '0-0', redis.call('HGET', KEYS[2], 'seq') or '0'}
