"""The registry's Lua scripts: every transition more than one process may race for is one script.

Times come from Redis' own clock (TIME), never from the caller: workers' clocks
may disagree by minutes, and a lease read by one worker was written by another.
A promotion chain owns the entry while `claim_token` is its token; its writes
are compare-and-set on that token, so a chain taken over, or a reference
demoted meanwhile, cannot be written over by a step that finishes late.
"""

from __future__ import annotations

_NOW = """
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

# Shared by USE and FORCE: may this reference be claimed for promotion now?
_CAN_CLAIM = (
    _NOW
    + """
local function can_claim(key, now, max_attempts)
  local state = redis.call('HGET', key, 'state') or 'one_shot'
  if state == 'one_shot' then return true end
  if state == 'failed' then
    local retry_at = tonumber(redis.call('HGET', key, 'retry_at') or '0')
    local attempts = tonumber(redis.call('HGET', key, 'attempts') or '0')
    return retry_at > 0 and now >= retry_at and attempts < max_attempts
  end
  if state == 'promoting' or state == 'training' then
    return now > tonumber(redis.call('HGET', key, 'lease_until') or '0')
  end
  return false
end
local function claim(key, now, lease, token)
  local state = redis.call('HGET', key, 'state') or 'one_shot'
  if state ~= 'promoting' and state ~= 'training' then
    redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('HSET', key, 'state', 'promoting')
    redis.call('HDEL', key, 'retry_at')
  end
  redis.call('HSET', key, 'lease_until', now + lease, 'claimed_at', now, 'claim_token', token)
end
local function ensure(key, index, hash, now, clips, bucket, clip_bytes)
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'state', 'one_shot', 'created_at', now, 'uses', 0, 'attempts', 0)
    redis.call('SADD', index, hash)
  end
  if clips ~= '' then
    redis.call('HSETNX', key, 'clips', clips)
    redis.call('HSETNX', key, 'bucket', bucket)
    redis.call('HSETNX', key, 'clip_bytes', clip_bytes)
  end
end
"""
)

# A use sent as a voice id saves what a one-shot request would have carried on the wire.
_ONE_SHOT_BYTES = """
local function one_shot_bytes(key)
  return tonumber(redis.call('HGET', key, 'wire_bytes') or redis.call('HGET', key, 'clip_bytes') or '0')
end
"""

# KEYS: entry, index. ARGV: hash, N (-1 off), lease, max_attempts, clips json, bucket, clip bytes, wait seconds,
# wire bytes (what one one-shot request carries: the clips as sent, e.g. FLAC; 0 = unknown, the clips as uploaded),
# the claim token to store if this use claims. Returns {model id, claimed, wait, claim token}.
USE = (
    _CAN_CLAIM
    + _ONE_SHOT_BYTES
    + """
local key, now, n = KEYS[1], redis_now(), tonumber(ARGV[2])
ensure(key, KEYS[2], ARGV[1], now, ARGV[5], ARGV[6], ARGV[7])
local state = redis.call('HGET', key, 'state')
if (state == 'promoting' or state == 'training')
    and now < tonumber(redis.call('HGET', key, 'claimed_at') or '0') + tonumber(ARGV[8])
    and now <= tonumber(redis.call('HGET', key, 'lease_until') or '0') then
  return {'', 0, 1, ''}  -- a live promotion, recently claimed: wait for it rather than send the clips
end
local uses = redis.call('HINCRBY', key, 'uses', 1)
redis.call('HSET', key, 'last_used', now)
if tonumber(ARGV[9]) > 0 then redis.call('HSET', key, 'wire_bytes', ARGV[9]) end
local model = redis.call('HGET', key, 'model_id')
if redis.call('HGET', key, 'state') == 'trained' and model then
  redis.call('HINCRBY', key, 'id_uses', 1)
  redis.call('HINCRBY', key, 'bytes_saved', one_shot_bytes(key))
  return {model, 0, 0, ''}
end
redis.call('HINCRBY', key, 'one_shot_uses', 1)
if n >= 0 and uses > n and can_claim(key, now, tonumber(ARGV[4])) then
  claim(key, now, tonumber(ARGV[3]), ARGV[10])
  return {'', 1, 0, ARGV[10]}
end
return {'', 0, 0, ''}
"""
)

# KEYS: entry, index. ARGV: hash, lease, clips json, bucket, clip bytes, claim token. Ignores N and attempts.
# Returns the claim token, or '' when trained or under way.
FORCE = (
    _CAN_CLAIM
    + """
local key, now = KEYS[1], redis_now()
ensure(key, KEYS[2], ARGV[1], now, ARGV[3], ARGV[4], ARGV[5])
local state = redis.call('HGET', key, 'state')
if state == 'trained' then return '' end
if (state == 'promoting' or state == 'training') and not can_claim(key, now, 1) then return '' end
redis.call('HSET', key, 'attempts', 0, 'state', 'one_shot')
claim(key, now, tonumber(ARGV[2]), ARGV[6])
return ARGV[6]
"""
)

# KEYS: entry. ARGV: model id expected, reason. Drops the model only if it is still the current one.
DROP_MODEL = (
    _NOW
    + _ONE_SHOT_BYTES
    + """
local key = KEYS[1]
if redis.call('HGET', key, 'model_id') ~= ARGV[1] then return 0 end
local state = redis.call('HGET', key, 'state')
if state == 'trained' then
  redis.call('HINCRBY', key, 'bytes_saved', -one_shot_bytes(key))
end
redis.call('HDEL', key, 'model_id', 'lease_until', 'retry_at', 'claim_token', 'creating_until')
redis.call('HSET', key, 'state', 'one_shot', 'attempts', 0, 'reason', ARGV[2], 'model_dropped_at', redis_now())
return 1
"""
)

# KEYS: entry. ARGV: claim token ('' = a person's write: unconditional), then a JSON plan:
# {"set": {field: value}, "at": {field: seconds from now}, "del": [field], "states": [allowed state]}.
# Returns 1 if written, 0 if the token is no longer the entry's (or the state is not allowed).
OWNED_WRITE = (
    _NOW
    + """
local key, token = KEYS[1], ARGV[1]
if token ~= '' and redis.call('HGET', key, 'claim_token') ~= token then return 0 end
local plan = cjson.decode(ARGV[2])
if #plan.states > 0 then
  local state, allowed = redis.call('HGET', key, 'state') or 'one_shot', false
  for _, s in ipairs(plan.states) do allowed = allowed or s == state end
  if not allowed then return 0 end
end
local now = redis_now()
for field, value in pairs(plan.set) do redis.call('HSET', key, field, value) end
for field, offset in pairs(plan.at) do redis.call('HSET', key, field, now + offset) end
for _, field in ipairs(plan.del) do redis.call('HDEL', key, field) end
return 1
"""
)

# KEYS: entry. ARGV: a fresh token. The token of the promotion under way, minted if it has none; '' if none is.
ADOPT = """
local key = KEYS[1]
local state = redis.call('HGET', key, 'state')
if state ~= 'promoting' and state ~= 'training' then return '' end
local token = redis.call('HGET', key, 'claim_token')
if token then return token end
redis.call('HSET', key, 'claim_token', ARGV[1])
return ARGV[1]
"""

# KEYS: lock. ARGV: the holder's token. Compare and delete: a holder whose lock lapsed cannot free another's.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
