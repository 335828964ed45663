-- check.lua - a batch of checks of one site, run in order, each as if it
-- ran alone (a later check sees the tokens, duplicates, records and
-- reputation of an earlier one). The build puts lib/queue_index.lua,
-- lib/queue_put.lua and lib/rep.lua in front. store.c builds the call (store_check_async, join_checks) and reads
-- its replies (parse_check).
--
-- KEYS[1..4] the site's bucket hashes of epochs e-2 .. e+1 (e: the
-- caller's guess of the current epoch; the script picks by Redis's
-- clock), KEYS[5..8] its duplicate hashes of windows w-2 .. w+1 (the same
-- way), KEYS[9] the site's reputation hash (lib/rep.lua), then per
-- check: its decision key, and when it brings a held comment, the held
-- item and the held queue.
-- ARGV[1] epoch length s, ARGV[2] e, ARGV[3..14] capacity and refill/s
-- of each bucket slot, 0 the API key's, 1 + kind the others' (ip,
-- ip_prefix, author, thread, site: the same for every check of a site,
-- so they are sent once), ARGV[15] window length s, ARGV[16] w, ARGV[17]
-- the held queue's cap (moderation.max_held, 0: none), ARGV[18] "1" to
-- refuse a held comment at the cap (else evict: lib/queue_put.lua),
-- ARGV[19..21] retention, events and audit ms (moderation.*_days),
-- ARGV[22..25] trust.approved_to_trust, max_rejection_rate, window_days
-- and min_decisions, ARGV[26] the number of checks, then per check (a =
-- its first argument):
--   a    "1" to replay the decision key     a+6  the record's TTL s
--   a+1  duplicate window ms ("0": none)     a+7  write the record only while
--   a+2  IP source                                both duplicate counts are
--   a+3  author source ("": none)                 below this ("0": always)
--   a+4, a+5  head and tail of the           a+8  a held comment to store with
--        decision record to write on "ok"         the record ("": none)
--        ("" head: none)                     a+9  its queue score (ms)
--   a+11 the comment id (held, or an edit)   a+10 "1" to replace one stored
--   a+12 its duplicate fingerprint                before (an edit)
--        ("": none)                          a+13 its buckets' slots, a digit
--   a+14 its network ("": none)                    each ("012345": all six; a
--   a+15 four flags: "1" when trust would          first 0: the API key's)
--        publish it, the kind an automatic  a+16 trust.new_commenter_hold
--        decision counts as ("a", "r"; "-":       for it (0: none)
--        none), the filters' decision       a+17..19 head, tail and held
--        ("a", "c", "h", "r"), "n" when the       comment of the record to
--        story pre-moderates new                  write when a reputation
--        commenters ("-": not)                    rule holds a comment the
--                                                 filters accept or challenge
--                                                 ("": none)
--   then per bucket its hash field (a+20 ...).
-- A held comment's texts (a+4, a+5, a+8 when the filters hold it, a+17..19)
-- carry a byte 1 where the rule's reason goes at the end of "reasons": the
-- script puts the reason there, or nothing (fill), and adds its code to
-- the held comment's index line (ix_add). check.c tells the reason's
-- text from the reply, so the answer and the record are the same text.
-- A held comment stored before with the same body is left as it is (as by
-- hold.lua); an edit that is not held leaves the queue (queue.h). A held
-- comment at the cap either evicts (mq_over, mq_evict: then the decided
-- comments past retention are swept too, as an action does) or, refused,
-- is not stored and its record not written.
--
-- Returns one reply per check, in order:
-- {"api", retry_ms} | {"replay", json} |
-- {"limited", comment bucket (1-based), retry_ms} |
-- {"ok", tightest comment bucket (1-based, 0 none), tokens left, dup ips,
-- dup authors, the record written (0 none, 1 the filters' decision, 2 the
-- hold of a reputation rule), held comments evicted, 1 if refused at the
-- cap, the reputation rule that applies (0 none, 1 trusted by its
-- approvals, 2 trusted by a moderator, 3 new commenter, 4 the author's
-- recent history, 5 the network's, 6 premod by a moderator, 7 banned; 1
-- and 2 only when the flag says trust would publish it), the rule's
-- detail with the counts it read ("" none)}.
-- A check to which rule 1, 2 or 7 applies, or a rule that holds a comment
-- without the texts of a+17..19, writes no record and holds nothing:
-- check.c adds the rule's reason and records the outcome. With the flag's
-- kind, a record of the filters' decision counts as the author's and the
-- network's automatic decision (trust.count_automatic), and says so
-- ("counted": the kind, last in the record).
--
-- Cost matters more than elegance here: the script runs for every check
-- on Redis's single thread. Each redis.call costs Redis about 2 us, and a
-- script call about 4 us before its first line, so the checks that reach
-- a lane together run as one script: one TIME, one HMGET (two early in an
-- epoch) and one HSET of the bucket hash, the same of the duplicate hash
-- and one MGET for all of them, and one SET each (its record). Script
-- time per check, 200,000 checks pipelined, when each still had its own
-- duplicate key: 40-56 us one by one, 22-31 us in batches of eight or
-- more. Duplicate lists share a hash per window like buckets per epoch,
-- for the same reason: a SET ... PX and a new key per check cost more
-- than a field in a hash written once per call.
-- Every bucket of a site lives in one hash per epoch instead of a key
-- each: an epoch is four times the longest time any of the site's
-- buckets takes to refill, so a bucket not found in the current or the
-- previous epoch's hash is full anyway, and one not found in the current
-- hash once the epoch is older than the bucket's refill time is full too:
-- the previous hash is read only for those (in an epoch's first quarter
-- for a new IP or author). The hash two epochs back goes by UNLINK when
-- the current one is made (freed in the background: it can hold millions
-- of fields), and each hash expires once the next epoch is over in any
-- case (an idle site). A bucket is 16 bytes, two little-endian doubles
-- (tokens, ms) packed with Lua's struct library; the duplicate list is
-- "SRC MS;" entries, newest last, at most 200.
-- The script is written for Lua 5.1's interpreter: globals (ARGV,
-- redis.call, string.byte) are read once into locals, since each use of a
-- global is a hash lookup; each distinct bucket field gets an index i
-- (fields[i], tok[i], tsm[i]) and each check's buckets are runs of flat
-- arrays (FI: field index, SI: slot), so the per-check loops index arrays
-- instead of tables keyed by field strings, with no helper calls.
-- callgrind of Redis running one 39-check batch of the bench 50 times:
-- 23% fewer instructions in the script than with field-keyed tables and
-- helper functions.

local ARGV, KEYS, call, byte, tonumber, floor = ARGV, KEYS, redis.call, string.byte, tonumber, math.floor
local t = call('TIME')
local now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
local nows = tostring(now)
local len, e, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[26])
local maxh, refuse, ret_ms, ev_ms, au_ms = tonumber(ARGV[17]), ARGV[18] == '1', ARGV[19], ARGV[20], ARGV[21]
local today = floor(now / 86400000)
local ntrust, maxrate, wdays, mindec = tonumber(ARGV[22]), tonumber(ARGV[23]), tonumber(ARGV[24]), tonumber(ARGV[25])
-- the days are read only for the rules that need them (the rate, trust's "no recent spam")
local wwant = (maxrate > 0 or ntrust > 0) and wdays or nil
local d = floor(tonumber(t[1]) / len) - e
if d < -1 then d = -1 elseif d > 1 then d = 1 end
local cur, prev = KEYS[3 + d], KEYS[2 + d]
local age = now - (e + d) * len * 1000
local dlen, de = tonumber(ARGV[15]), tonumber(ARGV[16])
local dd = floor(tonumber(t[1]) / dlen) - de
if dd < -1 then dd = -1 elseif dd > 1 then dd = 1 end
local dcur, dprev = KEYS[7 + dd], KEYS[6 + dd]
local pcap, prate = {}, {}
for s = 0, 5 do pcap[s], prate[s] = tonumber(ARGV[3 + 2 * s]), tonumber(ARGV[4 + 2 * s]) end
local sdig = {}
local A, K, NB, F0, mk, fps, fpseen = {}, {}, {}, {}, {}, {}, {}
local fields, fidx, fslot, FI, SI = {}, {}, {}, {}, {}
local rf, rseen = {}, {}
local a, k, p, nf = 27, 10, 0, 0
for j = 1, n do
  A[j], K[j], F0[j] = a, k, p
  mk[j] = KEYS[k]
  local fp = ARGV[a + 12]
  if fp ~= '' and not fpseen[fp] then fpseen[fp] = true; fps[#fps + 1] = fp end
  local au, net = ARGV[a + 3], ARGV[a + 14]
  if au ~= '' then
    au = 'a:' .. au
    if not rseen[au] then rseen[au] = true; rf[#rf + 1] = au end
  end
  if net ~= '' then
    net = 'n:' .. net
    if not rseen[net] then rseen[net] = true; rf[#rf + 1] = net end
  end
  local slots = ARGV[a + 13]
  local dig = sdig[slots]
  if not dig then
    dig = { byte(slots, 1, -1) }
    for b = 1, #dig do dig[b] = dig[b] - 48 end
    sdig[slots] = dig
  end
  local nb = #dig
  NB[j] = nb
  for b = 1, nb do
    local f = ARGV[a + 19 + b]
    local i = fidx[f]
    if not i then
      nf = nf + 1
      i = nf
      fidx[f], fields[i], fslot[i] = i, f, dig[b]
    end
    p = p + 1
    FI[p], SI[p] = i, dig[b]
  end
  k = k + ((ARGV[a + 8] ~= '' or ARGV[a + 19] ~= '') and 3 or 1)
  a = a + 20 + nb
end
local tok, tsm, fresh = {}, {}, true
if nf > 0 then
  local hv, need, needi = call('HMGET', cur, unpack(fields)), {}, {}
  for i = 1, nf do
    local v = hv[i]
    if v then
      fresh = false
      if #v == 16 then tok[i], tsm[i] = struct.unpack('<dd', v) end
    elseif age * prate[fslot[i]] < pcap[fslot[i]] * 1000 then
      need[#need + 1], needi[#needi + 1] = fields[i], i
    end
  end
  if #need > 0 then
    local pv = call('HMGET', prev, unpack(need))
    for x = 1, #need do
      local v = pv[x]
      if v and #v == 16 then tok[needi[x]], tsm[needi[x]] = struct.unpack('<dd', v) end
    end
  end
end
local vals = call('MGET', unpack(mk))
local repv, rdirty, rlist = {}, {}, {}
if #rf > 0 then
  local rv = call('HMGET', KEYS[9], unpack(rf))
  for i = 1, #rf do repv[rf[i]] = rv[i] or false end
end
local dupw, dfresh, dlist, ddirty = {}, true, {}, {}
if #fps > 0 then
  local dv, need = call('HMGET', dcur, unpack(fps)), {}
  for i = 1, #fps do
    if dv[i] then dfresh = false; dupw[fps[i]] = dv[i] else need[#need + 1] = fps[i] end
  end
  if #need > 0 then
    local pv = call('HMGET', dprev, unpack(need))
    for i = 1, #need do if pv[i] then dupw[need[i]] = pv[i] end end
  end
end
-- A held comment's text with the rule's reason object where the byte 1
-- is (after a comma unless the reasons were empty), or none (obj nil);
-- and whether it was there (not when the reasons are full: check.c).
local function fill(s, obj)
  local at = string.find(s, '\1', 1, true)
  if not at then return s, false end
  if obj and byte(s, at - 1) ~= 91 then obj = ',' .. obj end
  return string.sub(s, 1, at - 1) .. (obj or '') .. string.sub(s, at + 1), true
end
-- The held comment with a reason code more at the end of its index line
-- (its last field: queue.h).
local function ix_add(item, code)
  return string.sub(item, 1, -3) .. (byte(item, -3) == 124 and '' or ',') .. code .. '"}'
end
local fmt = string.format
local RCODE = {'trusted_author', 'trusted_author', 'new_commenter', 'recent_history', 'recent_history',
               'author_premod', 'author_banned'}
local isd, dl, nd = {}, {}, 0
local lv = {}
local decw, out = {}, {}
for j = 1, n do
  a, k = A[j], K[j]
  local p0, nb, first, res = F0[j], NB[j], 1, nil
  if SI[p0 + 1] == 0 then
    local i, cap, rate = FI[p0 + 1], pcap[0], prate[0]
    local v, ts = tok[i], tsm[i]
    if not v or not (v >= 0 and v <= cap and ts >= 0) then v = cap
    elseif now > ts then v = math.min(cap, v + (now - ts) * rate / 1000) end
    if v < 1 then
      res = {'api', math.ceil((1 - v) / rate * 1000)}
    else
      tok[i], tsm[i] = v - 1, now
      if not isd[i] then isd[i] = true; nd = nd + 1; dl[nd] = i end
      first = 2
    end
  end
  local dec = decw[KEYS[k]]
  if dec == nil then dec = vals[j] end
  if not res and ARGV[a] == '1' and dec then res = {'replay', dec} end
  if not res then
    local worst, worst_wait = 0, -1
    for b = first, nb do
      local i, s = FI[p0 + b], SI[p0 + b]
      local cap = pcap[s]
      local v, ts = tok[i], tsm[i]
      if not v or not (v >= 0 and v <= cap and ts >= 0) then v = cap
      elseif now > ts then v = math.min(cap, v + (now - ts) * prate[s] / 1000) end
      lv[b] = v
      if v < 1 then
        local w = math.ceil((1 - v) / prate[s] * 1000)
        if w > worst_wait then worst, worst_wait = b, w end
      end
    end
    if worst > 0 then res = {'limited', worst - first + 1, worst_wait} end
    if not res then
      local tight, left = 0, -1
      for b = first, nb do
        local i, v = FI[p0 + b], lv[b]
        tok[i], tsm[i] = v - 1, now
        if not isd[i] then isd[i] = true; nd = nd + 1; dl[nd] = i end
        if left < 0 or v - 1 < left then tight, left = b - first + 1, v - 1 end
      end
      local nip, nau = 0, 0
      local fp = ARGV[a + 12]
      if fp ~= '' then
        local win = tonumber(ARGV[a + 1])
        local ip, au = 'i' .. ARGV[a + 2], ARGV[a + 3]
        local entry = ip .. ' ' .. nows .. ';'
        nip = 1
        if au ~= '' then
          au = 'a' .. au
          entry = entry .. au .. ' ' .. nows .. ';'
          nau = 1
        end
        local old = dupw[fp]
        if old then
          local kept, c = {}, 0
          for src, ts in string.gmatch(old, '(%S+) (%d+);') do
            if src ~= ip and src ~= au and tonumber(ts) > now - win then
              c = c + 1
              kept[c] = src .. ' ' .. ts .. ';'
            end
          end
          local from = c > 198 and c - 197 or 1
          for x = from, c do
            if byte(kept[x], 1) == 105 then nip = nip + 1 else nau = nau + 1 end
          end
          kept[c + 1] = entry
          entry = table.concat(kept, '', from, c + 1)
        end
        dupw[fp] = entry
        if not ddirty[fp] then ddirty[fp] = true; dlist[#dlist + 1] = fp end
      end
      local au, net, flags = ARGV[a + 3], ARGV[a + 14], ARGV[a + 15]
      local fa, fn = au ~= '' and 'a:' .. au, net ~= '' and 'n:' .. net
      local rs, ra, rr, rx, wa, wr, wx = rep_read(fa and repv[fa], today, wwant)
      local _, na, nr, nx
      if fn and maxrate > 0 then _, _, _, _, na, nr, nx = rep_read(repv[fn], today, wdays) else na, nr, nx = 0, 0, 0 end
      local newh, cls = tonumber(ARGV[a + 16]), 0
      if fa and rs == 'b' then cls = 7
      elseif fa and rs == 'p' then cls = 6
      elseif fa and rs == 't' then cls = 2
      elseif maxrate > 0 and wa + wr + wx >= mindec and wr + wx > maxrate * (wa + wr + wx) then cls = 4
      elseif maxrate > 0 and na + nr + nx >= mindec and nr + nx > maxrate * (na + nr + nx) then cls = 5
      elseif fa and newh > 0 and ra < newh then cls = 3
      elseif fa and ntrust > 0 and ra >= ntrust and wx == 0 then cls = 1 end
      if cls <= 2 and byte(flags, 1) ~= 49 then cls = 0 end
      -- the rule's detail, with the counts (check.c puts it in the reason
      -- as it is: plain ASCII, nothing to escape, at most 159 bytes)
      local why = ''
      if cls > 0 then
        local c = wwant and fmt('%d approved, %d rejected, %d spam; in %d days %d, %d, %d', ra, rr, rx, wdays, wa, wr, wx)
                  or fmt('%d approved, %d rejected, %d spam', ra, rr, rx)
        if cls == 1 then
          why = fmt('published: %d approved comments (trusted at %d) and no spam in %d days (%s)', ra, ntrust, wdays, c)
        elseif cls == 2 then why = 'published: a moderator trusts this author (' .. c .. ')'
        elseif cls == 3 then
          why = fmt('new commenter: %d of %d comments approved%s (%s)', ra, newh,
                    byte(flags, 4) == 110 and ', and new commenters are pre-moderated here' or '', c)
        elseif cls == 4 then
          why = fmt("the author's last %d days: %d of %d decided comments rejected or spam (more than %.0f%%; %s)",
                    wdays, wr + wx, wa + wr + wx, maxrate * 100, c)
        elseif cls == 5 then
          why = fmt("the network %s's last %d days: %d of %d decided comments rejected or spam (more than %.0f%%)",
                    net, wdays, nr + nx, na + nr + nx, maxrate * 100)
        elseif cls == 6 then why = 'a moderator set this author to pre-moderation (' .. c .. ')'
        else why = 'a moderator banned this author (' .. c .. ')' end
        if #why > 159 then why = string.sub(why, 1, 159) end
      end
      local rec, ev, refused = 0, 0, 0
      -- a rule holds it unless the filters reject it
      local d0 = string.sub(flags, 3, 3)
      local ruled = cls >= 3 and cls <= 6 and d0 ~= 'r'
      -- what is written: the filters' record (and held comment), or the
      -- rule's hold (the filters' own when they hold it too); nothing for
      -- another rule
      local H, T, I = ARGV[a + 4], ARGV[a + 5], ARGV[a + 8]
      if ruled and d0 ~= 'h' then H, T, I = ARGV[a + 17], ARGV[a + 18], ARGV[a + 19]
      elseif cls ~= 0 and not ruled then H = '' end
      -- an edit that will not be held leaves the queue: the filters' own
      -- outcome (the flags' third letter), or the rule's
      local stays = cls == 0 and ARGV[a + 8] ~= '' or ruled
      if ARGV[a + 10] == '1' and ARGV[a + 11] ~= '' and not stays then
        mq_drop(string.match(KEYS[k], '^mg:{[^}]*}:'), ARGV[a + 11], now, ev_ms, au_ms)
      end
      local most = tonumber(ARGV[a + 7])
      if H ~= '' and (most == 0 or (nip < most and nau < most)) then
        local rl = 'null'
        if tight > 0 then
          rl = '{"limited":false,"bucket":"' .. string.match(ARGV[a + 19 + tight + first - 1], '^[^:]*') ..
               '","remaining":' .. string.format('%.0f', floor(left)) .. '}'
        end
        local held = I ~= ''
        rec = ruled and 2 or 1
        if not held or ARGV[a + 10] == '1' or not mq_has(KEYS[k + 1], I) then
          local P = held and string.sub(KEYS[k + 2], 1, -7)
          local over = held and mq_over(P, ARGV[a + 11], maxh) or 0
          if over > 0 and refuse then
            rec, refused = 0, 1
          else
            local r = H .. rl .. T
            local kind = string.sub(flags, 2, 2)
            if kind == '-' or ARGV[a + 10] == '1' or ruled then kind = nil end
            if held then
              local obj = ruled and '{"filter":"reputation","code":"' .. RCODE[cls] ..
                                    '","contribution":0,"detail":"' .. why .. '"}'
              local room
              r = fill(r, obj)
              I, room = fill(I, obj)
              if ruled and room then I = ix_add(I, RCODE[cls]) end
            end
            -- what it counted, for a report that queues it later (report.lua)
            if kind and (fa or fn) then r = string.sub(r, 1, -2) .. ',"counted":"' .. kind .. '"}' end
            call('SET', KEYS[k], r, 'EX', ARGV[a + 6])
            decw[KEYS[k]] = r
            if kind then
              for _, f in ipairs({fa, fn}) do
                if f then
                  repv[f] = rep_add(repv[f], kind, today, 1, today)
                  if not rdirty[f] then rdirty[f] = true; rlist[#rlist + 1] = f end
                end
              end
            end
            if held then
              for _ = 1, over do ev = ev + mq_evict(P, now, ev_ms, au_ms) end
              if ev > 0 then mq_sweep(P, now, ret_ms) end
              mq_put(P, ARGV[a + 11], ARGV[a + 9], I)
            end
          end
        end
      end
      res = {'ok', tight, floor(left), nip, nau, rec, ev, refused, cls, why}
    end
  end
  out[j] = res
end
if nd > 0 then
  local hs, pack = {}, struct.pack
  for x = 1, nd do
    local i = dl[x]
    hs[2 * x - 1], hs[2 * x] = fields[i], pack('<dd', tok[i], tsm[i])
  end
  call('HSET', cur, unpack(hs))
  if fresh then
    call('EXPIREAT', cur, (e + d + 2) * len + 1)
    if d >= 0 then call('UNLINK', KEYS[1 + d]) end
  end
end
if #dlist > 0 then
  local hs = {}
  for i = 1, #dlist do hs[2 * i - 1], hs[2 * i] = dlist[i], dupw[dlist[i]] end
  call('HSET', dcur, unpack(hs))
  if dfresh then
    call('EXPIREAT', dcur, (de + dd + 2) * dlen + 1)
    if dd >= 0 then call('UNLINK', KEYS[5 + dd]) end
  end
end
if #rlist > 0 then
  local hs, gone = {}, {}
  for i = 1, #rlist do
    local v = repv[rlist[i]]
    if v then hs[#hs + 1] = rlist[i]; hs[#hs + 1] = v else gone[#gone + 1] = rlist[i] end
  end
  if #hs > 0 then call('HSET', KEYS[9], unpack(hs)) end
  if #gone > 0 then call('HDEL', KEYS[9], unpack(gone)) end
end
return out
