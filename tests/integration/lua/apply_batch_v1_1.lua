-- Applies a batch of one agency's events: domain README §4 and the lifecycles of §4a.
-- Called by shared/store/indicator_store.py (IndicatorStore.apply_many); every key carries the agency's
-- hash tag, so the whole call stays on one Redis Cluster slot.
--
-- KEYS: one entity key per event: the bucket hash holding its entity's state
-- (<ks>ent:{agency}:<d|doc|wf><n>, field = the entity id; shared/store/keys.py entity),
-- then the agency's three fixed keys: <ks>stat:{agency} (``events``: distinct event ids
-- applied), <ks>applied:{agency} (its applied offsets) and ver:{agency} (data version).
-- The per-period keys (<ks>cnt: / set: / pset:{agency}:<bucket>) and <ks>open:{agency}
-- depend on the dossiers' stored state, so the script derives them from the tag; they
-- share the tag, hence the slot (Redis rejects a script touching another slot).
-- ARGV[1]: the agency's hash tag "{code}". ARGV[3]: the keyspace prefix <ks>
-- (shared/store/keys.py). ARGV[4]: "" or a JSON object "<topic>:<partition>" -> offset,
-- raised (never lowered) in <ks>applied:{agency} in this same atomic call (the agency's
-- last call of a batch carries it), so an agency's offsets never claim records whose
-- figures are missing, even when its cluster primary lost its last writes in a failover
-- (shared/store/indicator_store.py IndicatorStore.gaps compares them with the central <ks>applied:offsets).
-- ARGV[5]: "" or a JSON object "<topic>:<partition>" -> the offset the caller knows this
-- agency reached (the central hash's): below it, the claim is not raised (see the end).
-- A call with no events (only the three fixed keys) just raises the offsets.
-- ARGV[2]: a JSON array, per event:
--   kind, id hash (8 hex: the event id's idempotency key), event id (the tie-breaker of
--   equal times, §4a.3), ts (epoch ms), entity id, then by kind:
--   R received      due (epoch s), intake bits, n procedures, procedures...
--   S resolved      on time 0|1
--   T returned      electronic 0|1
--   Q rated         satisfied 0|1
--   P payment       online 0|1, procedure code
--   C due_changed   due (epoch s) or "" when suspended
--   W withdrawn / X intake_rejected   (nothing)
--   G document, work file: n marks, marks...
-- Returns one flag per event: 1 applied, 0 its event id was already applied.
--
-- An entity's state is one compact binary string (struct-packed, big-endian), a field of
-- one of the agency's listpack-encoded bucket hashes (a key per entity would cost more
-- than the state itself). A dossier:
--   H   flags: 1 withdrawn, 2 intake rejected, 4 received, 8 resolved on time, 16 returned
--       electronic, 32 rated satisfied; present: 64 resolved, 128 returned, 256 rated,
--       512 due in force; 1024 due written as a double, 2048 suspended (no due)
--   H   its first receipt's local day (days since 1970-01-01 at +07:00; only the day
--       counts, so the earliest receipt needs no tie-breaker)
--   H   intake bits (the union over its received events; INTAKE below)
--   I6  for each present: the epoch ms of the deciding resolved, returned, rated event
--       (the earliest) and of the due time in force (the latest received/due_changed),
--       the latter followed by the due time in force, epoch s: I4 (d, a double, if not a
--       whole number of seconds; nothing if suspended)
--   H   n procedures (below)
--   the text before the dossier id in its tie-breakers (B len, bytes), fixed with the
--       first tie-breaker written
--   then for each present, the deciding event's id: the tie-breaker of equal times
--       (§4a.2 earliest and §4a.3 latest, both by (occurred_at, event_id) as in the
--       reference model tests/lifecycle_model.py), written around the dossier id, each
--       on its own (an event rewrites the one it decides; the others are copied as read)
--   the n procedures its received events carried, written around the agency code
--   the rest: the applied event ids' 4-byte blake2b hashes, concatenated (a duplicate
--       is never applied; two distinct ids of one entity with equal hashes, odds ~n²/2³³
--       for n events, would drop the later one).
-- A string written around X: B v < 128: v bytes (X not in it); 128 <= v < 250: the
-- v - 128 bytes before X, B n, the n bytes after it; 250: the dossier's text before X
-- (above), B n, the n bytes after it; 255: H len, bytes.
-- A document or work file: B n, n × (a mark's name: B len, bytes, or 250, H len, bytes;
-- H the local day of its earliest occurrence), then the applied ids' hashes.
-- Periods are derived from ts at the fixed +07:00 of Asia/Ho_Chi_Minh (no DST since 1975).
-- The dossier's counter contribution is a function of its state (§4a.1–4); each event
-- recomputes it and moves the difference, so the figures never depend on arrival order.
-- Counter increments are summed per local day over the batch, then per (key, field), and
-- written once per (key, field).
local tag = ARGV[1]
local ks = ARGV[3] or ''
local cnt = ks .. 'cnt:' .. tag .. ':'
local setp = ks .. 'set:' .. tag .. ':'
local psetp = ks .. 'pset:' .. tag .. ':'
local openk = ks .. 'open:' .. tag
local NENT = #KEYS - 3 -- entity keys; then the fixed keys below
local statk, appliedk, vk = KEYS[NENT + 1], KEYS[NENT + 2], KEYS[NENT + 3]

local INTAKE = {
  'received', 'received_full_online_online', 'received_online', 'received_remote',
  'received_one_stop', 'received_digitized',
  'cat_full_online_online', 'cat_full_online_in_person', 'cat_full_online_postal',
  'cat_partial_online_online', 'cat_partial_online_in_person', 'cat_partial_online_postal',
  'cat_in_person_only_online', 'cat_in_person_only_in_person', 'cat_in_person_only_postal',
}

local inc, incn = {}, {}
local buckets = {} -- the local days' bucket tables met in this call
local function add(key, field, n)
  local h = inc[key]
  if not h then h = {}; inc[key] = h; incn[#incn + 1] = key end
  h[field] = (h[field] or 0) + n
end
-- counted sets: member -> number of dossiers holding it in the bucket
local pinc, pincn = {}, {}
local function padd(key, member, n)
  local h = pinc[key]
  if not h then h = {}; pinc[key] = h; pincn[#pincn + 1] = key end
  h[member] = (h[member] or 0) + n
end
local sadds, saddn = {}, {}
local function sadd(key, member)
  local s = sadds[key]
  if not s then s = {}; sadds[key] = s; saddn[#saddn + 1] = key end
  s[#s + 1] = member
end

-- local calendar buckets of an epoch-ms instant (civil_from_days, H. Hinnant)
local floor = math.floor
local days_cache = {}
local function day_of(ts)
  return floor((ts / 1000 + 25200) / 86400)
end
-- the buckets of a local day: the same table for the same day within a call (compared by
-- identity below)
local function bucket_of(days)
  local b = days_cache[days]
  if b then return b end
  local z = days + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local dd = doy - floor((153 * mp + 2) / 5) + 1
  local mm = mp < 10 and mp + 3 or mp - 9
  if mm <= 2 then y = y + 1 end
  local m = string.format('%04d%02d', y, mm)
  local d = m .. string.format('%02d', dd)
  y = string.format('%04d', y)
  -- the day, month, year, then their counter keys and procedure-set keys
  local pp = psetp .. 'proc_online:'
  -- 10: the day's counter increments (field -> n), 11: its counted-set ones (member -> n),
  -- spread over the day's, month's and year's keys once, at the end
  b = { d, m, y, cnt .. 'D' .. d, cnt .. 'M' .. m, cnt .. 'Y' .. y,
    pp .. 'D' .. d, pp .. 'M' .. m, pp .. 'Y' .. y, {}, {} }
  days_cache[days] = b
  buckets[#buckets + 1] = b
  return b
end
-- counters: the day's (then its month's and year's)
local function bump(b, field, n)
  local t = b[10]
  t[field] = (t[field] or 0) + n
end

local function hex4(h)
  return struct.pack('>I4', tonumber(h, 16))
end
local sfind = string.find
local function seen(ids, id)
  local at = sfind(ids, id, 1, true)
  while at do
    if at % 4 == 1 then return true end -- a whole 4-byte hash, not across two
    at = sfind(ids, id, at + 1, true)
  end
  return false
end
-- state codec (see the header)
local spack, sunpack = struct.pack, struct.unpack
local sbyte, ssub, schar = string.byte, string.sub, string.char
local function enc(s)
  if #s < 250 then return schar(#s) .. s end
  return '\250' .. spack('>H', #s) .. s
end
local function dec(raw, p)
  local n = sbyte(raw, p)
  if n < 250 then return ssub(raw, p + 1, p + n), p + 1 + n end
  n = sunpack('>H', raw, p + 1)
  return ssub(raw, p + 3, p + 2 + n), p + 3 + n
end
-- a string around the entity id (tie-breakers, pre: the dossier's text before it) or the
-- agency code (procedures, pre false)
local function tenc(tie, id, pre)
  local a, b = string.find(tie, id, 1, true)
  if a and a <= 122 and #tie - b < 250 then
    if pre and a - 1 == #pre and ssub(tie, 1, a - 1) == pre then
      return '\250' .. schar(#tie - b) .. ssub(tie, b + 1)
    end
    return schar(127 + a) .. ssub(tie, 1, a - 1) .. schar(#tie - b) .. ssub(tie, b + 1)
  end
  if #tie < 128 then return schar(#tie) .. tie end
  return '\255' .. spack('>H', #tie) .. tie
end
local function tdec(raw, p, id, pre)
  local v = sbyte(raw, p)
  if v < 128 then return ssub(raw, p + 1, p + v), p + 1 + v end
  if v == 255 then
    local n = sunpack('>H', raw, p + 1)
    return ssub(raw, p + 3, p + 2 + n), p + 3 + n
  end
  if v == 250 then
    local n = sbyte(raw, p + 1)
    return pre .. id .. ssub(raw, p + 2, p + 1 + n), p + 2 + n
  end
  local q = p + v - 128
  local n = sbyte(raw, q + 1)
  return ssub(raw, p + 1, q) .. id .. ssub(raw, q + 2, q + 1 + n), q + 2 + n
end
-- the position after a string written around X (tdec without building it)
local function tskip(raw, p)
  local v = sbyte(raw, p)
  if v < 128 then return p + 1 + v end
  if v == 255 then return p + 3 + sunpack('>H', raw, p + 1) end
  if v < 250 then p = p + v - 128 end
  return p + 2 + sbyte(raw, p + 1)
end
-- a dossier as a table: 1 ids, 2 first receipt's day, 4 intake bits, 5 procedures (false
-- until procs() decodes 19, their encoded bytes, 20 their number), 6/7/8 resolved
-- ts/tie/on time, 9/10/11 returned, 12/13/14 rated, 15/16/17 due in force ts/tie/due (-1
-- suspended), 18 flags (1 withdrawn, 2 intake rejected); false if absent. A tie read from
-- Redis stays encoded (22: at -> its bytes; st[at] false until tie() decodes it), written
-- back as it was; 21: the text before the dossier id in its tie-breakers, 23: whether one
-- was written (all in the array part: no hash part to allocate per event).
local TIES = { 7, 10, 13, 16 }
local agency = ssub(tag, 2, -2)
local function new_dossier()
  return { '', false, false, 0, {}, false, false, false, false, false, false,
    false, false, false, false, false, false, 0, '', 0, false, false, false }
end
local function procs(st)
  local list = st[5]
  if not list then
    list = {}
    local raw, p = st[19], 1
    for j = 1, st[20] do list[j], p = tdec(raw, p, agency, false) end
    st[5] = list
  end
  return list
end
local function nprocs(st)
  return st[5] and #st[5] or st[20]
end
local function unpack_dossier(raw, id)
  local f, rday, bits, p = sunpack('>HHH', raw)
  local st = new_dossier()
  st[18] = f % 4
  if f % 8 >= 4 then st[2] = rday end
  st[4] = bits
  if f % 128 >= 64 then
    st[6], p = sunpack('>I6', raw, p)
    st[8] = f % 16 >= 8 and 1 or 0
  end
  if f % 256 >= 128 then
    st[9], p = sunpack('>I6', raw, p)
    st[11] = f % 32 >= 16 and 1 or 0
  end
  if f % 512 >= 256 then
    st[12], p = sunpack('>I6', raw, p)
    st[14] = f % 64 >= 32 and 1 or 0
  end
  if f % 1024 >= 512 then
    if f % 4096 >= 2048 then
      st[15], p = sunpack('>I6', raw, p)
      st[17] = -1
    else
      st[15], st[17], p = sunpack(f % 2048 >= 1024 and '>I6d' or '>I6I4', raw, p)
    end
  end
  local n
  n, p = sunpack('>H', raw, p)
  st[21], p = dec(raw, p)
  local enc = {}
  for _, at in ipairs(TIES) do
    if st[at - 1] then
      local start = p
      p = tskip(raw, p)
      enc[at] = ssub(raw, start, p - 1)
      st[23] = true
    end
  end
  st[22] = enc
  local start = p
  for _ = 1, n do p = tskip(raw, p) end
  st[5], st[19], st[20] = false, ssub(raw, start, p - 1), n
  st[1] = ssub(raw, p)
  return st
end
local function pack_dossier(st, id)
  local f = st[18]
  if st[2] then f = f + 4 end
  local out, o = { '' }, 1
  if st[6] then
    f = f + (st[8] == 1 and 72 or 64)
    o = o + 1
    out[o] = spack('>I6', st[6])
  end
  if st[9] then
    f = f + (st[11] == 1 and 144 or 128)
    o = o + 1
    out[o] = spack('>I6', st[9])
  end
  if st[12] then
    f = f + (st[14] == 1 and 288 or 256)
    o = o + 1
    out[o] = spack('>I6', st[12])
  end
  if st[15] then
    local due = st[17]
    o = o + 1
    if due == -1 then
      f = f + 2560
      out[o] = spack('>I6', st[15])
    elseif due >= 0 and due < 4294967296 and due == floor(due) then
      f = f + 512
      out[o] = spack('>I6I4', st[15], due)
    else
      f = f + 1536
      out[o] = spack('>I6d', st[15], due)
    end
  end
  local list = st[5]
  local pre = st[21]
  if not st[23] then
    -- no tie-breaker written yet: the first one's text before the id becomes the dossier's
    pre = ''
    for _, at in ipairs(TIES) do
      local a = st[at - 1] and string.find(st[at], id, 1, true)
      if a then
        if a <= 122 then pre = ssub(st[at], 1, a - 1) end
        break
      end
    end
  end
  o = o + 1
  out[o] = spack('>H', nprocs(st)) .. enc(pre)
  for _, at in ipairs(TIES) do
    if st[at - 1] then
      o = o + 1
      out[o] = st[at] and tenc(st[at], id, pre) or st[22][at]
    end
  end
  if list then
    for j = 1, #list do out[o + j] = tenc(list[j], agency, false) end
    o = o + #list
  else
    o = o + 1
    out[o] = st[19]
  end
  out[o + 1] = st[1]
  out[1] = spack('>HHH', f, st[2] or 0, st[4])
  return table.concat(out)
end
local function unpack_doc(raw)
  local marks, p = {}, 2
  for _ = 1, sbyte(raw, 1) do
    local mark
    mark, p = dec(raw, p)
    marks[mark], p = sunpack('>H', raw, p)
  end
  return { ssub(raw, p), marks }
end
local function pack_doc(st)
  local out, n = {}, 0
  for mark, day in pairs(st[2]) do
    n = n + 1
    out[n + 1] = enc(mark) .. spack('>H', day)
  end
  out[1] = schar(n)
  out[n + 2] = st[1]
  return table.concat(out)
end

-- the tie-breaker at ``at`` of a dossier read from Redis (decoded when first needed: only
-- equal times compare it)
local function tie(st, at, id)
  local v = st[at]
  if not v then
    v = tdec(st[22][at], 1, id, st[21])
    st[at] = v
  end
  return v
end

-- The dossier's counter contribution (§4a.1–4), in two parts an event changes apart:
-- its receipt (the intake items and procedures of its first receipt's day, unless intake
-- was rejected) and each decision (resolved, returned, rated: its mark, and the flagged
-- mark when the flag is 1, on the decision's day). Each event moves the difference
-- between the part before and after it, so the figures never depend on arrival order.
local band = bit.band
local BIT = {}
for i = 1, #INTAKE do BIT[i] = 2 ^ (i - 1) end
local function receipt(st)
  if st[2] and band(st[18], 2) == 0 then return bucket_of(st[2]), st[4], nprocs(st) end
  return false, 0, 0
end
-- intake bits -> the names of their items
local items_of = {}
local function items(bits)
  local list = items_of[bits]
  if not list then
    list = {}
    for i = 1, #INTAKE do
      if band(bits, BIT[i]) ~= 0 then list[#list + 1] = INTAKE[i] end
    end
    items_of[bits] = list
  end
  return list
end
local function emit_receipt(b, bits, list, from, to, n)
  if bits ~= 0 then
    local t = b[10]
    for _, field in ipairs(items(bits)) do t[field] = (t[field] or 0) + n end
  end
  if from <= to then
    local t = b[11]
    for j = from, to do
      local member = list[j]
      t[member] = (t[member] or 0) + n
    end
  end
end
-- pre: receipt(st) before the event; procedures are only ever appended
local function move_receipt(st, b0, bits0, np0)
  local b1, bits1, np1 = receipt(st)
  if b0 == b1 then
    if not b0 then return end
    emit_receipt(b0, bits0 - band(bits0, bits1), st[5], 1, 0, -1)
    if np1 > np0 or bits1 ~= band(bits0, bits1) then
      emit_receipt(b0, bits1 - band(bits0, bits1), procs(st), np0 + 1, np1, 1)
    end
  else
    if b0 then emit_receipt(b0, bits0, procs(st), 1, np0, -1) end
    if b1 then emit_receipt(b1, bits1, procs(st), 1, np1, 1) end
  end
end
local MARKS = {
  [6] = { 'resolved', 'resolved_on_time' },
  [9] = { 'returned', 'returned_electronic' },
  [12] = { 'rated', 'rated_satisfied' },
}
local function emit_decided(i, ts, flag, n)
  if ts then
    local b = bucket_of(day_of(ts))
    local mark = MARKS[i]
    bump(b, mark[1], n)
    if flag == 1 then bump(b, mark[2], n) end
  end
end
-- open: received, not resolved, withdrawn nor intake rejected; scored by its due time in
-- force (+inf when suspended or without one: never overdue)
local function open_score(st)
  if st[2] and not st[6] and st[18] % 4 == 0 then
    if st[17] and st[17] >= 0 then return st[17] end
    return '+inf'
  end
  return false
end
local function sync_open(st, id, before)
  local score = open_score(st)
  if score == before then return end
  if score then
    redis.call('ZADD', openk, score, id)
  else
    redis.call('ZREM', openk, id)
  end
end

-- the due time in force: the latest received / due_changed, by (ts, event id)
local function set_due(st, ts, etie, due, id)
  if not st[15] or st[15] < ts or (st[15] == ts and tie(st, 16, id) < etie) then
    st[15], st[16], st[17] = ts, etie, due
  end
end
-- a decision (resolved, returned, rated): the earliest, by (ts, event id)
local function decide(st, at, ts, etie, f, id)
  if not st[at] or ts < st[at] or (ts == st[at] and etie < tie(st, at + 1, id)) then
    st[at], st[at + 1], st[at + 2] = ts, etie, f
  end
end

local out = {}
local changed = false
local applied = 0
local A = cjson.decode(ARGV[2])
local i = 1
for k = 1, NENT do
  local ent = KEYS[k]
  local kind, h, etie = A[i], A[i + 1], A[i + 2]
  local ts, id = tonumber(A[i + 3]), A[i + 4]
  i = i + 5
  local hid = hex4(h)
  local flag, due, proc, bits, eprocs, marks
  if kind == 'R' then
    due, bits = tonumber(A[i]), tonumber(A[i + 1])
    local n = tonumber(A[i + 2])
    eprocs = {}
    for j = 1, n do eprocs[j] = A[i + 2 + j] end
    i = i + 3 + n
  elseif kind == 'S' or kind == 'T' or kind == 'Q' then
    flag = tonumber(A[i]); i = i + 1
  elseif kind == 'P' then
    flag, proc = A[i], A[i + 1]; i = i + 2
  elseif kind == 'C' then
    due = A[i] == '' and -1 or tonumber(A[i]); i = i + 1
  elseif kind == 'G' then
    local n = tonumber(A[i])
    marks = {}
    for j = 1, n do marks[j] = A[i + j] end
    i = i + 1 + n
  end
  local raw = redis.call('HGET', ent, id)
  if kind == 'G' then
    -- documents, work files: each mark at its earliest occurrence (only its day counts)
    local st = raw and unpack_doc(raw) or { '', {} }
    if seen(st[1], hid) then
      out[k] = 0
    else
      out[k] = 1
      st[1] = st[1] .. hid
      local day = day_of(ts)
      for _, mark in ipairs(marks) do
        local o = st[2][mark]
        if not o or day < o then
          if o then
            bump(bucket_of(o), mark, -1)
          end
          bump(bucket_of(day), mark, 1)
          st[2][mark] = day
        end
      end
      redis.call('HSET', ent, id, pack_doc(st))
    end
  else
    local st = raw and unpack_dossier(raw, id) or new_dossier()
    if seen(st[1], hid) then
      out[k] = 0
    else
      out[k] = 1
      st[1] = st[1] .. hid
      if kind == 'P' then
        -- §4a.5: every payment is a transaction, in its own period
        local b = bucket_of(day_of(ts))
        bump(b, 'payment', 1)
        if flag == '1' then
          bump(b, 'payment_online', 1)
          local base = setp .. 'proc_paid_online:'
          sadd(base .. 'D' .. b[1], proc)
          sadd(base .. 'M' .. b[2], proc)
          sadd(base .. 'Y' .. b[3], proc)
        end
      else
        local b0, bits0, np0 = receipt(st)
        local open0 = raw and open_score(st) or false
        local decision = kind == 'S' and 6 or kind == 'T' and 9 or kind == 'Q' and 12 or false
        local dts0, dflag0
        if decision then dts0, dflag0 = st[decision], st[decision + 2] end
        if kind == 'R' then
          local day = day_of(ts)
          if not st[2] or day < st[2] then st[2] = day end
          st[4] = bit.bor(st[4], bits)
          local list = procs(st)
          for _, p in ipairs(eprocs) do
            local have = false
            for _, q in ipairs(list) do if q == p then have = true; break end end
            if not have then list[#list + 1] = p end
          end
          set_due(st, ts, etie, due, id)
        elseif kind == 'C' then
          set_due(st, ts, etie, due, id)
        elseif decision then
          decide(st, decision, ts, etie, flag, id)
        elseif kind == 'W' and st[18] % 2 == 0 then
          st[18] = st[18] + 1
        elseif kind == 'X' and floor(st[18] / 2) % 2 == 0 then
          st[18] = st[18] + 2
        end
        if kind == 'R' or kind == 'X' then
          move_receipt(st, b0, bits0, np0)
        elseif decision and (st[decision] ~= dts0 or st[decision + 2] ~= dflag0) then
          emit_decided(decision, dts0, dflag0, -1)
          emit_decided(decision, st[decision], st[decision + 2], 1)
        end
        sync_open(st, id, open0)
      end
      redis.call('HSET', ent, id, pack_dossier(st, id))
    end
  end
  if out[k] == 1 then
    changed = true
    applied = applied + 1
  end
end
-- a day's increments onto its day's, month's and year's keys (b[at], b[at + 1], b[at + 2])
local function spread(sums, b, at, put)
  for name, n in pairs(sums) do
    if n ~= 0 then
      put(b[at], name, n)
      put(b[at + 1], name, n)
      put(b[at + 2], name, n)
    end
  end
end
for _, b in ipairs(buckets) do
  spread(b[10], b, 4, add)
  spread(b[11], b, 7, padd)
end
for _, key in ipairs(incn) do
  for field, n in pairs(inc[key]) do
    if n ~= 0 then
      if redis.call('HINCRBY', key, field, n) == 0 then redis.call('HDEL', key, field) end
    end
  end
end
for _, key in ipairs(pincn) do
  for member, n in pairs(pinc[key]) do
    if n ~= 0 and redis.call('HINCRBY', key, member, n) <= 0 then
      redis.call('HDEL', key, member)
    end
  end
end
for _, key in ipairs(saddn) do
  redis.call('SADD', key, unpack(sadds[key]))
end
if applied > 0 then
  redis.call('HINCRBY', statk, 'events', applied)
end
if ARGV[4] and ARGV[4] ~= '' then
  -- ARGV[5]: "" or what the caller knows this agency reached on each partition; an
  -- agency below it lost writes (a failover), so this call must not cover them with its
  -- claim: the offset stays behind until the caller re-applied the gap
  local expect = (ARGV[5] and ARGV[5] ~= '') and cjson.decode(ARGV[5]) or {}
  for tp, off in pairs(cjson.decode(ARGV[4])) do
    local cur = tonumber(redis.call('HGET', appliedk, tp) or '-1')
    if off > cur and cur >= (expect[tp] or -1) then
      redis.call('HSET', appliedk, tp, string.format('%d', off))
    end
  end
end
if changed then
  --BUMP_VERSION--
end
return out
