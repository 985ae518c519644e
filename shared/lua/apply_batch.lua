-- Applies a batch of one agency's events: domain README §4 and the lifecycles of §4a.
-- Called by shared/store.py (IndicatorStore.apply_many); every key carries the agency's
-- hash tag, so the whole call stays on one Redis Cluster slot.
--
-- KEYS: one entity hash per event (<ks>ent:{agency}:d:<dossier> | doc:<id> | wf:<id>).
-- ARGV[3]: the keyspace prefix <ks> (shared/redis_keys.py); ARGV[4]: "" or a JSON object
-- "<topic>:<partition>" -> offset, raised (never lowered) in <ks>applied:offsets in this
-- same atomic call: the batch's last call carries it, so the offsets never claim records
-- whose figures are missing.
-- ARGV[1]: the agency's hash tag "{code}". ARGV[2]: a JSON array, per event:
--   kind, event id, ts (epoch ms, string), day YYYYMMDD, month YYYYMM, year YYYY,
--   entity id, then by kind:
--   R received      due (epoch s), n items, items...   (intake marks and P:<procedure>)
--   S resolved      on time 0|1
--   T returned      electronic 0|1
--   Q rated         satisfied 0|1
--   P payment       online 0|1, procedure code
--   C due_changed   due (epoch s) or "" when suspended
--   W withdrawn / X intake_rejected   (nothing)
--   G document, work file: n marks, marks...
-- Returns one flag per event: 1 applied, 0 its event id was already applied.
--
-- A dossier's state (fields of its entity hash):
--   e:<id>  event ids seen (the idempotency key)
--   r       first receipt "ts|d|m|y||eid" (earliest by ts, then event id)
--   im      intake items, a sorted JSON array: the union over its received events
--   s, t, q earliest resolved / returned / rated "ts|d|m|y|flag|eid"
--   du      due time in force "ts|due|eid": the latest received or due_changed
--   w, x    withdrawn, intake rejected ("1")
-- Its counter contribution is a function of that state (§4a.1–4); each event recomputes
-- it and moves the difference, so the figures never depend on arrival order.
-- Counter increments are summed over the batch and written once per (key, field).
local tag = ARGV[1]
local ks = ARGV[3] or ''
local cnt = ks .. 'cnt:' .. tag .. ':'
local setp = ks .. 'set:' .. tag .. ':'
local psetp = ks .. 'pset:' .. tag .. ':'
local openk = ks .. 'open:' .. tag

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

local function rec(v)
  if not v then return nil end
  local ts, d, m, y, f, e = string.match(v, '^(%d+)|(%d+)|(%d+)|(%d+)|(%d*)|(.*)$')
  return { ts = tonumber(ts), d = d, m = m, y = y, f = f, e = e }
end
local function earlier(ts, eid, o)
  return ts < o.ts or (ts == o.ts and eid < o.e)
end
local function due_rec(v)
  if not v then return nil end
  local ts, due, e = string.match(v, '^(%d+)|([^|]*)|(.*)$')
  return { ts = tonumber(ts), due = due, e = e }
end

-- The state's counter contribution: "day|item" -> the record that dates it.
local function contrib(st)
  local c = {}
  local r = st.r
  if r and st.x ~= '1' then
    for _, it in ipairs(st.items) do c[r.d .. '|' .. it] = r end
  end
  local function decided(o, mark, flagged)
    if o then
      c[o.d .. '|' .. mark] = o
      if o.f == '1' then c[o.d .. '|' .. flagged] = o end
    end
  end
  decided(st.s, 'resolved', 'resolved_on_time')
  decided(st.t, 'returned', 'returned_electronic')
  decided(st.q, 'rated', 'rated_satisfied')
  return c
end
local function emit(k, o, n)
  local item = string.sub(k, #o.d + 2)
  if string.sub(item, 1, 2) == 'P:' then
    local member = string.sub(item, 3)
    local base = psetp .. 'proc_online:'
    padd(base .. 'D' .. o.d, member, n)
    padd(base .. 'M' .. o.m, member, n)
    padd(base .. 'Y' .. o.y, member, n)
  else
    bump(o.d, o.m, o.y, item, n)
  end
end
local function move(c0, c1)
  for k, o in pairs(c0) do if not c1[k] then emit(k, o, -1) end end
  for k, o in pairs(c1) do if not c0[k] then emit(k, o, 1) end end
end
local function sync_open(st, id)
  if st.r and not st.s and st.w ~= '1' and st.x ~= '1' then
    local score = '+inf' -- suspended: open, never overdue
    local du = due_rec(st.du)
    if du and du.due ~= '' then score = du.due end
    redis.call('ZADD', openk, score, id)
  else
    redis.call('ZREM', openk, id)
  end
end

local FIELDS = { 'r', 'im', 's', 't', 'q', 'du', 'w', 'x' }
local out = {}
local changed = false
local A = cjson.decode(ARGV[2])
local i = 1
for k = 1, #KEYS do
  local ent = KEYS[k]
  local kind, eid, tss, d, m, y, id = A[i], A[i + 1], A[i + 2], A[i + 3], A[i + 4], A[i + 5], A[i + 6]
  i = i + 7
  local ts = tonumber(tss)
  local flag, due, proc, items, marks
  if kind == 'R' then
    due = A[i]
    local n = tonumber(A[i + 1])
    items = {}
    for j = 1, n do items[j] = A[i + 1 + j] end
    i = i + 2 + n
  elseif kind == 'S' or kind == 'T' or kind == 'Q' then
    flag = A[i]; i = i + 1
  elseif kind == 'P' then
    flag, proc = A[i], A[i + 1]; i = i + 2
  elseif kind == 'C' then
    due = A[i]; i = i + 1
  elseif kind == 'G' then
    local n = tonumber(A[i])
    marks = {}
    for j = 1, n do marks[j] = A[i + j] end
    i = i + 1 + n
  end
  if redis.call('HSETNX', ent, 'e:' .. eid, 1) == 1 then
    out[k] = 1
    changed = true
    local stamp = tss .. '|' .. d .. '|' .. m .. '|' .. y .. '|'
    if kind == 'G' then
      -- documents, work files: each mark at its earliest occurrence
      if #marks > 0 then
        local fields = {}
        for j = 1, #marks do fields[j] = 'm:' .. marks[j] end
        local cur = redis.call('HMGET', ent, unpack(fields))
        local upd = {}
        for j = 1, #marks do
          local o = rec(cur[j])
          if not o or earlier(ts, eid, o) then
            upd[#upd + 1] = fields[j]; upd[#upd + 1] = stamp .. '|' .. eid
            if o then bump(o.d, o.m, o.y, marks[j], -1) end
            bump(d, m, y, marks[j], 1)
          end
        end
        if #upd > 0 then redis.call('HSET', ent, unpack(upd)) end
      end
    elseif kind == 'P' then
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
      local cur = redis.call('HMGET', ent, unpack(FIELDS))
      local st = {
        r = rec(cur[1]), items = cur[2] and cjson.decode(cur[2]) or {},
        s = rec(cur[3]), t = rec(cur[4]), q = rec(cur[5]),
        du = cur[6], w = cur[7], x = cur[8],
      }
      local c0 = contrib(st)
      local upd = {}
      local function set_due()
        local o = due_rec(st.du)
        if not o or o.ts < ts or (o.ts == ts and o.e < eid) then
          st.du = tss .. '|' .. due .. '|' .. eid
          upd[#upd + 1] = 'du'; upd[#upd + 1] = st.du
        end
      end
      local function decide(field, f)
        local o = st[field]
        if not o or earlier(ts, eid, o) then
          local v = stamp .. f .. '|' .. eid
          st[field] = rec(v)
          upd[#upd + 1] = field; upd[#upd + 1] = v
        end
      end
      if kind == 'R' then
        decide('r', '')
        local have = {}
        for _, it in ipairs(st.items) do have[it] = true end
        local grown = false
        for _, it in ipairs(items) do
          if not have[it] then have[it] = true; st.items[#st.items + 1] = it; grown = true end
        end
        if grown then
          table.sort(st.items)
          upd[#upd + 1] = 'im'; upd[#upd + 1] = cjson.encode(st.items)
        end
        set_due()
      elseif kind == 'C' then
        set_due()
      elseif kind == 'S' then
        decide('s', flag)
      elseif kind == 'T' then
        decide('t', flag)
      elseif kind == 'Q' then
        decide('q', flag)
      elseif kind == 'W' and st.w ~= '1' then
        st.w = '1'; upd[#upd + 1] = 'w'; upd[#upd + 1] = '1'
      elseif kind == 'X' and st.x ~= '1' then
        st.x = '1'; upd[#upd + 1] = 'x'; upd[#upd + 1] = '1'
      end
      if #upd > 0 then
        redis.call('HSET', ent, unpack(upd))
        move(c0, contrib(st))
        sync_open(st, id)
      end
    end
  else
    out[k] = 0
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
