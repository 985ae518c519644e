-- Applies a batch of one agency's events: domain README §4 and the lifecycles of §4a.
-- Called by shared/store.py (IndicatorStore.apply_many); every key carries the agency's
-- hash tag, so the whole call stays on one Redis Cluster slot.
--
-- KEYS: one entity key per event (<ks>ent:{agency}:d:<dossier> | doc:<id> | wf:<id>).
-- ARGV[1]: the agency's hash tag "{code}". ARGV[3]: the keyspace prefix <ks>
-- (shared/redis_keys.py). ARGV[4]: "" or a JSON object "<topic>:<partition>" -> offset,
-- raised (never lowered) in <ks>applied:offsets in this same atomic call: the batch's last
-- call carries it, so the offsets never claim records whose figures are missing.
-- ARGV[2]: a JSON array, per event:
--   kind, id hash (8 hex: the event id's idempotency key), event id (the tie-breaker of
--   equal times, §4a.3), ts (epoch ms), day YYYYMMDD, month YYYYMM, year YYYY, entity id,
--   then by kind:
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
-- An entity's state is one compact MessagePack value (a string key, no hash overhead):
-- a dossier is an array
--   1 ids      the applied event ids' 4-byte hashes, concatenated (ties: event ids)
--   2 r_ts 3 r_tie 4 intake bits 5 procedures   first receipt, and the union of what
--                                               its received events carried
--   6 s_ts 7 s_tie 8 s_flag                     earliest resolved (flag: on time)
--   9 t_ts 10 t_tie 11 t_flag                   earliest returned (flag: electronic)
--   12 q_ts 13 q_tie 14 q_flag                  earliest rated (flag: satisfied)
--   15 du_ts 16 du_tie 17 due                   latest received/due_changed; due -1 =
--                                               suspended
--   18 flags                                    1 withdrawn, 2 intake rejected
-- (false where absent); a document or work file is {ids, {mark = {ts, tie}}}.
-- Periods are derived from ts at the fixed +07:00 of Asia/Ho_Chi_Minh (no DST since 1975).
-- The dossier's counter contribution is a function of its state (§4a.1–4); each event
-- recomputes it and moves the difference, so the figures never depend on arrival order.
-- Counter increments are summed over the batch and written once per (key, field).
local tag = ARGV[1]
local ks = ARGV[3] or ''
local cnt = ks .. 'cnt:' .. tag .. ':'
local setp = ks .. 'set:' .. tag .. ':'
local psetp = ks .. 'pset:' .. tag .. ':'
local openk = ks .. 'open:' .. tag
local statk = ks .. 'stat:' .. tag

local INTAKE = {
  'received', 'received_full_online_online', 'received_online', 'received_remote',
  'received_one_stop', 'received_digitized',
  'cat_full_online_online', 'cat_full_online_in_person', 'cat_full_online_postal',
  'cat_partial_online_online', 'cat_partial_online_in_person', 'cat_partial_online_postal',
  'cat_in_person_only_online', 'cat_in_person_only_in_person', 'cat_in_person_only_postal',
}

local inc, incn = {}, {}
local function add(key, field, n)
  local h = inc[key]
  if not h then h = {}; inc[key] = h; incn[#incn + 1] = key end
  h[field] = (h[field] or 0) + n
end
local function bump(d, m, y, field, n)
  add(cnt .. 'D' .. d, field, n)
  add(cnt .. 'M' .. m, field, n)
  add(cnt .. 'Y' .. y, field, n)
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
local function buckets(ts)
  local days = floor((ts / 1000 + 25200) / 86400)
  local b = days_cache[days]
  if b then return b[1], b[2], b[3] end
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
  b = { m .. string.format('%02d', dd), m, string.format('%04d', y) }
  days_cache[days] = b
  return b[1], b[2], b[3]
end

local function hex4(h)
  return string.char(tonumber(string.sub(h, 1, 2), 16), tonumber(string.sub(h, 3, 4), 16),
    tonumber(string.sub(h, 5, 6), 16), tonumber(string.sub(h, 7, 8), 16))
end
local function seen(ids, id)
  for i = 1, #ids, 4 do
    if string.sub(ids, i, i + 3) == id then return true end
  end
  return false
end
-- (ts, tie) strictly earlier than (ots, otie)
local function earlier(ts, tie, ots, otie)
  return ts < ots or (ts == ots and tie < otie)
end

-- The dossier's counter contribution: "day|item" -> {d, m, y}; items are mark names or
-- "P:<procedure>" (procedures with an online dossier).
local function contrib(st)
  local c = {}
  if st[2] and floor(st[18] / 2) % 2 == 0 then
    local d, m, y = buckets(st[2])
    local b = { d, m, y }
    local bits = st[4]
    for i = 1, #INTAKE do
      if floor(bits / 2 ^ (i - 1)) % 2 == 1 then c[d .. '|' .. INTAKE[i]] = b end
    end
    for _, p in ipairs(st[5]) do c[d .. '|P:' .. p] = b end
  end
  local function decided(i, mark, flagged)
    if st[i] then
      local d, m, y = buckets(st[i])
      local b = { d, m, y }
      c[d .. '|' .. mark] = b
      if st[i + 2] == 1 then c[d .. '|' .. flagged] = b end
    end
  end
  decided(6, 'resolved', 'resolved_on_time')
  decided(9, 'returned', 'returned_electronic')
  decided(12, 'rated', 'rated_satisfied')
  return c
end
local function emit(k, b, n)
  local item = string.sub(k, #b[1] + 2)
  if string.sub(item, 1, 2) == 'P:' then
    local member = string.sub(item, 3)
    local base = psetp .. 'proc_online:'
    padd(base .. 'D' .. b[1], member, n)
    padd(base .. 'M' .. b[2], member, n)
    padd(base .. 'Y' .. b[3], member, n)
  else
    bump(b[1], b[2], b[3], item, n)
  end
end
local function move(c0, c1)
  for k, b in pairs(c0) do if not c1[k] then emit(k, b, -1) end end
  for k, b in pairs(c1) do if not c0[k] then emit(k, b, 1) end end
end
local function sync_open(st, id)
  if st[2] and not st[6] and st[18] % 4 == 0 then
    local score = '+inf' -- suspended: open, never overdue
    if st[17] and st[17] >= 0 then score = st[17] end
    redis.call('ZADD', openk, score, id)
  else
    redis.call('ZREM', openk, id)
  end
end

local out = {}
local changed = false
local applied = 0
local A = cjson.decode(ARGV[2])
local i = 1
for k = 1, #KEYS do
  local ent = KEYS[k]
  local kind, h, tie = A[i], A[i + 1], A[i + 2]
  local ts, d, m, y, id = tonumber(A[i + 3]), A[i + 4], A[i + 5], A[i + 6], A[i + 7]
  i = i + 8
  local hid = hex4(h)
  local flag, due, proc, bits, procs, marks
  if kind == 'R' then
    due, bits = tonumber(A[i]), tonumber(A[i + 1])
    local n = tonumber(A[i + 2])
    procs = {}
    for j = 1, n do procs[j] = A[i + 2 + j] end
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
  local raw = redis.call('GET', ent)
  if kind == 'G' then
    -- documents, work files: each mark at its earliest occurrence
    local st = raw and cmsgpack.unpack(raw) or { '', {} }
    if seen(st[1], hid) then
      out[k] = 0
    else
      out[k] = 1
      st[1] = st[1] .. hid
      for _, mark in ipairs(marks) do
        local o = st[2][mark]
        if not o or earlier(ts, tie, o[1], o[2]) then
          if o then
            local od, om, oy = buckets(o[1])
            bump(od, om, oy, mark, -1)
          end
          bump(d, m, y, mark, 1)
          st[2][mark] = { ts, tie }
        end
      end
      redis.call('SET', ent, cmsgpack.pack(st))
    end
  else
    local st = raw and { cmsgpack.unpack(raw) } or nil
    if st then st = st[1] end
    if not st then
      st = { '', false, false, 0, {}, false, false, false, false, false, false,
        false, false, false, false, false, false, 0 }
    end
    if seen(st[1], hid) then
      out[k] = 0
    else
      out[k] = 1
      st[1] = st[1] .. hid
      if kind == 'P' then
        -- §4a.5: every payment is a transaction, in its own period
        bump(d, m, y, 'payment', 1)
        if flag == '1' then
          bump(d, m, y, 'payment_online', 1)
          local base = setp .. 'proc_paid_online:'
          sadd(base .. 'D' .. d, proc)
          sadd(base .. 'M' .. m, proc)
          sadd(base .. 'Y' .. y, proc)
        end
      else
        local c0 = contrib(st)
        local function set_due()
          if not st[15] or st[15] < ts or (st[15] == ts and st[16] < tie) then
            st[15], st[16], st[17] = ts, tie, due
          end
        end
        local function decide(at, f)
          if not st[at] or earlier(ts, tie, st[at], st[at + 1]) then
            st[at], st[at + 1], st[at + 2] = ts, tie, f
          end
        end
        if kind == 'R' then
          if not st[2] or earlier(ts, tie, st[2], st[3]) then st[2], st[3] = ts, tie end
          local b = st[4]
          for bit = 0, #INTAKE - 1 do
            if floor(bits / 2 ^ bit) % 2 == 1 and floor(b / 2 ^ bit) % 2 == 0 then
              b = b + 2 ^ bit
            end
          end
          st[4] = b
          for _, p in ipairs(procs) do
            local have = false
            for _, q in ipairs(st[5]) do if q == p then have = true; break end end
            if not have then st[5][#st[5] + 1] = p end
          end
          set_due()
        elseif kind == 'C' then
          set_due()
        elseif kind == 'S' then
          decide(6, flag)
        elseif kind == 'T' then
          decide(9, flag)
        elseif kind == 'Q' then
          decide(12, flag)
        elseif kind == 'W' and st[18] % 2 == 0 then
          st[18] = st[18] + 1
        elseif kind == 'X' and floor(st[18] / 2) % 2 == 0 then
          st[18] = st[18] + 2
        end
        move(c0, contrib(st))
        sync_open(st, id)
      end
      redis.call('SET', ent, cmsgpack.pack(st))
    end
  end
  if out[k] == 1 then
    changed = true
    applied = applied + 1
  end
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
  local offk = ks .. 'applied:offsets'
  for tp, off in pairs(cjson.decode(ARGV[4])) do
    local cur = tonumber(redis.call('HGET', offk, tp) or '-1')
    if off > cur then redis.call('HSET', offk, tp, string.format('%d', off)) end
  end
end
if changed then
  --BUMP_VERSION--
end
return out
