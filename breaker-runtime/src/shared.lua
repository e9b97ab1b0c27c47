-- Applies one replica's report to a breaker's shared state, atomically, on the server's
-- clock. The hash KEYS[1] holds:
--   epoch, gen, state ('closed' | 'open' | 'half'), until (ms, when open), attempt
--   c:<replica> = "<gen>:<expires ms>:<req>:<ok>:<fail>:<ign>:<slow>:<cf>:<cs>:<cslow>"
--   t:<replica> = "<gen>:<expires ms>:<probe tokens held>"
-- ARGV: 1 replica, 2 epoch it knows ('' if none), 3 generation it knows,
--       4 its own move ('' | 'open' | 'closed'), 5 open period ms, 6 attempt,
--       7 its counts "<req>:<ok>:<fail>:<ign>:<slow>:<cf>:<cs>:<cslow>",
--       8 probes used, 9 probes wanted, 10 max_requests, 11 lease ms, 12 ttl ms
-- Returns: epoch, gen, state, ms left open, attempt, tokens held by the replica, then the
-- fleet's eight counts (the same order as ARGV[7]).
local key = KEYS[1]
local replica = ARGV[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local lease = tonumber(ARGV[11])
local budget = tonumber(ARGV[10])

local h = redis.call('HMGET', key, 'epoch', 'gen', 'state', 'until', 'attempt')
local epoch, gen, state, open_until, attempt = h[1], tonumber(h[2]), h[3], tonumber(h[4]), tonumber(h[5])
if not epoch or not gen then
  -- A new breaker, or a server that lost its data: a new epoch.
  epoch = tostring(now) .. '-' .. replica
  gen, state, open_until, attempt = 1, 'closed', 0, 0
end

-- Starts a new generation: the ended one's counts and tokens go.
local function move(to, u, a)
  local names = redis.call('HKEYS', key)
  for _, name in ipairs(names) do
    local p = string.sub(name, 1, 2)
    if p == 'c:' or p == 't:' then
      redis.call('HDEL', key, name)
    end
  end
  gen = gen + 1
  state = to
  open_until = u
  attempt = a
end

-- Time first: an open period that has elapsed ends.
if state == 'open' and now >= open_until then
  move('half', 0, attempt)
end

-- The replica's own move: a trip of a closed fleet (also one it made while out of touch
-- with a store that has since lost its data), a failed probe, probes that succeeded.
local known = (ARGV[2] == epoch)
local same = known and tonumber(ARGV[3]) == gen
local moved = ARGV[4]
if moved == 'open' and (state == 'closed' and (same or not known) or state == 'half' and same) then
  move('open', now + tonumber(ARGV[5]), tonumber(ARGV[6]))
elseif moved == 'closed' and state == 'half' and same then
  move('closed', 0, 0)
end
same = known and tonumber(ARGV[3]) == gen

-- Its counts, if they belong to this generation.
if same then
  redis.call('HSET', key, 'c:' .. replica, gen .. ':' .. (now + lease) .. ':' .. ARGV[7])
end

-- The fleet's counts and the tokens others hold: live entries of this generation.
local sum = {0, 0, 0, 0, 0, 0, 0, 0}
local others = 0
local all = redis.call('HGETALL', key)
for i = 1, #all, 2 do
  local name, value = all[i], all[i + 1]
  local p = string.sub(name, 1, 2)
  if p == 'c:' or p == 't:' then
    local v = {}
    for x in string.gmatch(value, '[^:]+') do
      v[#v + 1] = tonumber(x)
    end
    if v[1] ~= gen or v[2] <= now then
      redis.call('HDEL', key, name)
    elseif p == 'c:' then
      for j = 1, 8 do
        sum[j] = sum[j] + v[j + 2]
      end
    elseif name ~= 't:' .. replica then
      others = others + v[3]
    end
  end
end

-- Half-open: enough probes succeeded across the fleet, or tokens for this replica.
local held = 0
if state == 'half' and sum[2] >= budget then
  move('closed', 0, 0)
  sum = {0, 0, 0, 0, 0, 0, 0, 0}
elseif state == 'half' and known then
  local used = tonumber(ARGV[8])
  local free = budget - others - used
  if free < 0 then
    free = 0
  end
  local want = tonumber(ARGV[9])
  if want > free then
    want = free
  end
  held = used + want
  redis.call('HSET', key, 't:' .. replica, gen .. ':' .. (now + lease) .. ':' .. held)
end

redis.call('HSET', key, 'epoch', epoch, 'gen', gen, 'state', state, 'until', open_until, 'attempt', attempt)
redis.call('PEXPIRE', key, tonumber(ARGV[12]))

local left = 0
if state == 'open' then
  left = open_until - now
end
return {epoch, gen, state, left, attempt, held,
  sum[1], sum[2], sum[3], sum[4], sum[5], sum[6], sum[7], sum[8]}
