-- queue_list.lua - a page of the moderation queue (queue_list_async).
-- The build puts lib/queue_index.lua in front.
--
-- Keyset pages: the cursor is the (since, id) of the last comment a page
-- looked at, and the next page starts strictly after it in the zset's
-- order (equal times are ordered by id, as Redis orders them), so a page
-- is right however many comments were added or removed since.
--
-- No KEYS (the keys are named from P: queue.h). ARGV P, state, "1" newest
-- first, limit, cursor ms ("" start), cursor id, score min ("" none),
-- score max, budget (comments looked at at most), "1" with counts, then
-- filter pairs (kind t|a|n|r, value). The filter index with the fewest
-- comments drives; the others are tested per comment (ZSCORE).
--
-- Returns {items, {next ms, next id, done, looked at, matching}, counts,
-- reason counts}: items are {id, state, score, at, since, ver, item,
-- learned, by, reports (report.lua's summary, "" none)}; counts are of
-- held, approved, rejected, spam and reported; matching is the driving index's size when that is exact
-- (one filter or none, no score range), else -1. Read only.

-- byte order, as the zsets order equal scores (Lua's < follows the
-- locale, which Redis sets from its environment)
local function bytes_lt(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local P, st, rev, limit = ARGV[1], ARGV[2], ARGV[3] == '1', tonumber(ARGV[4])
local cms, cid = ARGV[5], ARGV[6]
local smin, smax, budget = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local q = P .. 'q:' .. st
local drive, dcard, filt = q, nil, {}
for i = 11, #ARGV - 1, 2 do
  local k = q .. ':' .. ARGV[i] .. ':' .. ARGV[i + 1]
  local c = redis.call('ZCARD', k)
  filt[#filt + 1] = k
  if not dcard or c < dcard then drive, dcard = k, c end
end
if not dcard then dcard = redis.call('ZCARD', q) end
local matching = (#filt <= 1 and not smin and not smax) and dcard or -1
local out, looked, done, off = {}, 0, false, 0
local lms, lid = cms, cid
local start = cms ~= '' and cms or (rev and '+inf' or '-inf')
local cnum = tonumber(cms)
while #out < limit and looked < budget do
  local want = math.min(budget - looked, 2 * (limit - #out) + 8)
  local r
  if rev then r = redis.call('ZRANGE', drive, start, '-inf', 'BYSCORE', 'REV', 'LIMIT', off, want, 'WITHSCORES')
  else r = redis.call('ZRANGE', drive, start, '+inf', 'BYSCORE', 'LIMIT', off, want, 'WITHSCORES') end
  off = off + #r / 2
  for i = 1, #r, 2 do
    local id, sc = r[i], r[i + 1]
    local covered = cid ~= '' and tonumber(sc) == cnum and ((rev and not bytes_lt(id, cid)) or (not rev and not bytes_lt(cid, id)))
    if not covered then
      looked = looked + 1
      lms, lid = sc, id
      local ok = true
      for f = 1, #filt do
        if filt[f] ~= drive and not redis.call('ZSCORE', filt[f], id) then ok = false; break end
      end
      if ok then
        local h = redis.call('HMGET', P .. 'c:' .. id, 'state', 'score', 'at', 'since', 'ver', 'item', 'learned', 'by',
          'reports')
        local s = tonumber(h[2]) or 0
        if h[1] and (not smin or s >= smin) and (not smax or s <= smax) then
          out[#out + 1] = {id, h[1], h[2] or '0', h[3] or '0', h[4] or '0', h[5] or '0', h[6] or '{}', h[7] or '', h[8] or '',
            h[9] or ''}
        end
      end
      if #out >= limit or looked >= budget then break end
    end
  end
  if #r < 2 * want then done = #out < limit and looked < budget; if done then break end end
end
local counts, rc = {}, {}
if ARGV[10] == '1' then
  for _, s in ipairs({'held', 'approved', 'rejected', 'spam', 'reported'}) do
    counts[#counts + 1] = redis.call('ZCARD', P .. 'q:' .. s)
  end
  for _, c in ipairs(redis.call('SMEMBERS', P .. 'codes')) do
    local n = redis.call('ZCARD', q .. ':r:' .. c)
    if n > 0 then rc[#rc + 1] = c; rc[#rc + 1] = n end
  end
end
return {out, {lms, lid, done and 1 or 0, looked, matching}, counts, rc}
