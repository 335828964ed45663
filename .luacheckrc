-- luacheck's settings for the Redis scripts (make lint: luacheck
-- service/redis/lua). Redis runs them in Lua 5.1 with these globals.
std = "lua51"
read_globals = { "redis", "KEYS", "ARGV", "cjson", "struct", "cmsgpack", "bit", "unpack" }
-- Each script's text is kept byte for byte what Redis ran before the
-- scripts left service/*.c (the same SHA1s and cost); its longest lines
-- are 131 bytes.
max_line_length = 132

-- The helpers of lib/ go in front of the scripts the Makefile's
-- LUA_SCRIPTS says: what a helper file defines is used by other files,
-- and those files use it as if it were a global (read only).
local queue_index = { "mq_ix", "mq_rank", "mq_index", "mq_log", "mq_sweep", "hk_add" }
local queue_put = { "mq_put", "mq_has", "mq_drop", "mq_over", "mq_evict" }
local bayes_change = { "bayes_change" }
local rep = { "rep_read", "rep_add", "rep_status", "rep_view", "rep_count", "rep_uncount" }
local lesson = { "mq_lesson" }

-- 'names' as luacheck's ignore list for functions defined and not used.
local function exported(names)
    local out = {}
    for i, n in ipairs(names) do out[i] = "211/" .. n end
    return out
end

-- The names of the tables given, in one list.
local function uses(...)
    local out = {}
    for _, t in ipairs({ ... }) do
        for _, n in ipairs(t) do out[#out + 1] = n end
    end
    return out
end

local D = "service/redis/lua/"
files[D .. "lib/queue_index.lua"] = { ignore = exported(queue_index) }
files[D .. "lib/queue_put.lua"] = { ignore = exported(queue_put), read_globals = uses(queue_index, rep) }
files[D .. "lib/bayes_change.lua"] = { ignore = exported(bayes_change) }
files[D .. "lib/rep.lua"] = { ignore = exported(rep) }
files[D .. "lib/lesson.lua"] = { ignore = exported(lesson), read_globals = bayes_change }
files[D .. "check.lua"] = { read_globals = uses(queue_index, queue_put, rep) }
files[D .. "hold.lua"] = { read_globals = uses(queue_index, queue_put, rep) }
files[D .. "queue_migrate.lua"] = { read_globals = uses(queue_index, queue_put, rep) }
files[D .. "queue_list.lua"] = { read_globals = queue_index }
files[D .. "queue_get.lua"] = { read_globals = rep }
files[D .. "authors.lua"] = { read_globals = uses(queue_index, rep) }
files[D .. "report.lua"] = { read_globals = queue_index }
files[D .. "queue_act.lua"] = { read_globals = uses(queue_index, bayes_change, rep, lesson) }
files[D .. "lesson.lua"] = { read_globals = uses(bayes_change, lesson) }
files[D .. "learn.lua"] = { read_globals = bayes_change }
