-- Writes one agency's share of a batch, all or nothing: the entity states the calculator
-- computed (shared/domain/lifecycle.py, §4a) from what it read, with the counter changes
-- they imply — provided every state is still what it read. Called by
-- shared/store/indicator_store.py (IndicatorStore.apply_many); every key carries the
-- agency's hash tag, so the whole call stays on one Redis Cluster slot.
--
-- KEYS: one entity key per entity (the bucket hash holding its state,
-- <ks>ent:{agency}:<d|doc|wf><n>, field = the entity id; shared/store/keys.py entity),
-- then <ks>stat:{agency} (``events``: distinct event ids applied), <ks>applied:{agency}
-- (its applied offsets), ver:{agency} (its data version) and <ks>open:{agency} (open
-- dossiers), then every other key the call writes (per-period <ks>cnt: / set: /
-- pset:{agency}:<bucket>, the sorted sets <ks>open:, o766:, pub:{agency}…), each once:
-- ARGV refers to them by their number after those (1 = the first). Every key is declared,
-- so a cluster refuses the whole call (TRYAGAIN, ASK) while a slot migrates, never half
-- of it; they share the agency's tag, hence the slot.
-- ARGV, in sections, each led by its count:
--   n entities: per entity its field, the state read ("" if none) and the state to write
--   n counter hashes: per hash its key's number, n fields, then field, increment … (a
--     field that reaches 0 is deleted; one HMGET, HSET and HDEL per hash, not one call per
--     field)
--   n counted sets: the same (member -> number of dossiers holding it; deleted at 0)
--   n sets: per set its key's number, n members, the members (SADD)
--   n sorted sets: per set its key's number, n added, then score, member …, n removed, then
--     the members (open dossiers, the 766 open sets, publications; one ZADD, one ZREM)
--   n period versions: if n > 0, the number of verp:{agency} then the n fields to set to
--     the new data version (the months and years of the buckets written; keys.py
--     period_versions)
--   then: the number of events applied (raises ``events``; > 0 raises the data version),
--   "" or a JSON object "<topic>:<partition>" -> offset, raised (never lowered) in
--   <ks>applied:{agency} in this same atomic call, and "" or a JSON object of the offsets
--   the caller knows this agency reached: below them, the claim is not raised (the agency's
--   primary lost writes in a failover; IndicatorStore.gaps finds the gap and re-applies it),
--   then optionally "1": the figures change though no event applies (a moved dossier's
--   record getting another record's facts, §4b): the data version is raised all the same.
-- Returns 1 when written, 0 when a state was not what the caller read (a conflict: nothing
-- written; the caller re-reads and recomputes). The idempotency of events lies in the
-- states (the applied ids' hashes), so a conflict never applies an event twice.
local n = tonumber(ARGV[1])
local NENT = n
local statk, appliedk, vk = KEYS[n + 1], KEYS[n + 2], KEYS[n + 3]
local base = n + 4  -- KEYS[base + i]: the i-th key the sections name
-- An entity read as having no state is written at once if it still has none (HSETNX: one
-- lookup in its bucket, not two), and removed again if a later state is not what was read.
local a, fresh = 2, {}
for i = 1, n do
  local ok
  if ARGV[a + 1] == '' then
    ok = redis.call('HSETNX', KEYS[i], ARGV[a], ARGV[a + 2]) == 1
    fresh[i] = ok
  else
    ok = redis.call('HGET', KEYS[i], ARGV[a]) == ARGV[a + 1]
  end
  if not ok then
    for j in pairs(fresh) do
      if fresh[j] then redis.call('HDEL', KEYS[j], ARGV[3 * j - 1]) end
    end
    return 0
  end
  a = a + 3
end
a = 2
for i = 1, NENT do
  if not fresh[i] then redis.call('HSET', KEYS[i], ARGV[a], ARGV[a + 2]) end
  a = a + 3
end
-- counter hashes (delete at 0), then counted sets (delete at 0 or below)
for kind = 1, 2 do
  n = tonumber(ARGV[a]); a = a + 1
  for _ = 1, n do
    local key, m = KEYS[base + tonumber(ARGV[a])], tonumber(ARGV[a + 1])
    a = a + 2
    local fields, set, del = {}, {}, {}
    for j = 1, m do fields[j] = ARGV[a + 2 * j - 2] end
    local had = redis.call('HMGET', key, unpack(fields))
    for j = 1, m do
      local v = (tonumber(had[j]) or 0) + tonumber(ARGV[a + 2 * j - 1])
      if v == 0 or (kind == 2 and v < 0) then
        if had[j] then del[#del + 1] = fields[j] end
      else
        set[#set + 1] = fields[j]; set[#set + 1] = string.format('%d', v)
      end
    end
    if #set > 0 then redis.call('HSET', key, unpack(set)) end
    if #del > 0 then redis.call('HDEL', key, unpack(del)) end
    a = a + 2 * m
  end
end
n = tonumber(ARGV[a]); a = a + 1
for _ = 1, n do
  local m = tonumber(ARGV[a + 1])
  redis.call('SADD', KEYS[base + tonumber(ARGV[a])], unpack(ARGV, a + 2, a + 1 + m))
  a = a + 2 + m
end
n = tonumber(ARGV[a]); a = a + 1
for _ = 1, n do
  local key, m = KEYS[base + tonumber(ARGV[a])], tonumber(ARGV[a + 1])
  if m > 0 then redis.call('ZADD', key, unpack(ARGV, a + 2, a + 1 + 2 * m)) end
  a = a + 2 + 2 * m
  m = tonumber(ARGV[a])
  if m > 0 then redis.call('ZREM', key, unpack(ARGV, a + 1, a + m)) end
  a = a + 1 + m
end
local nver = tonumber(ARGV[a]); a = a + 1
local verk, verf = nil, a + 1
if nver > 0 then
  verk = KEYS[base + tonumber(ARGV[a])]
  a = a + 1 + nver
end
local applied = tonumber(ARGV[a])
if applied > 0 then
  redis.call('HINCRBY', statk, 'events', applied)
end
local offsets, reached, shared = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
if offsets and offsets ~= '' then
  local expect = (reached and reached ~= '') and cjson.decode(reached) or {}
  local tps, offs, raise = {}, {}, {}
  for tp, off in pairs(cjson.decode(offsets)) do tps[#tps + 1] = tp; offs[#tps] = off end
  local had = redis.call('HMGET', appliedk, unpack(tps))
  for j, tp in ipairs(tps) do
    local cur = tonumber(had[j]) or -1
    if offs[j] > cur and cur >= (expect[tp] or -1) then
      raise[#raise + 1] = tp; raise[#raise + 1] = string.format('%d', offs[j])
    end
  end
  if #raise > 0 then redis.call('HSET', appliedk, unpack(raise)) end
end
if applied > 0 or shared == '1' then
  --BUMP_VERSION--
  if verk then
    local fields, sv = {}, string.format('%d', v)
    for j = verf, verf + nver - 1 do fields[#fields + 1] = ARGV[j]; fields[#fields + 1] = sv end
    redis.call('HSET', verk, unpack(fields))
  end
end
return 1
