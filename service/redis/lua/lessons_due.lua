-- lessons_due.lua - the lessons of a site's outbox older than ARGV[1] ms
-- (by Redis's clock): a request that queued one and then failed to teach
-- it (Redis or the instance went away), for the drain (queue.c) to teach.
-- KEYS[1] the outbox (P lessons). Returns id, entry, id, entry, ... (at
-- most ARGV[2] pairs). Read only.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out, all = {}, redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local e = cjson.decode(all[i + 1])
  if now - (tonumber(e.at) or 0) >= tonumber(ARGV[1]) and #out < 2 * tonumber(ARGV[2]) then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
