-- lesson_done.lua - take a lesson out of a site's outbox once lesson.lua
-- taught it (queue.c), unless a later action on the comment replaced it
-- meanwhile. KEYS[1] the outbox (P lessons), ARGV id and the entry as
-- read. Returns {1} when it was removed, else {0}.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return {redis.call('HDEL', KEYS[1], ARGV[1])}
end
return {0}
