"""The reference registry: use counts and the promotion state machine, in Redis.

    one_shot ──(uses > N, claimed once)──► promoting ──(model created)──► training ──► trained
        ▲                                      │                              │
        └──── model vanished / gc ◄────────────┴──────── failed (retry after back-off) ◄─┘
    demoted: a person stopped using the model; only `narrate voices promote` starts again.

Every transition that more than one worker may race for runs as one Lua script,
so a promotion is claimed exactly once however many renders cross N together.
A claim is a lease: if the promoter dies, the next use after it expires takes over.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from worker import keys

LEASE_SECONDS = 120.0

# Shared by USE and FORCE: may this reference be claimed for promotion now?
_CAN_CLAIM = """
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
local function claim(key, now, lease)
  local state = redis.call('HGET', key, 'state') or 'one_shot'
  if state ~= 'promoting' and state ~= 'training' then
    redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('HSET', key, 'state', 'promoting')
    redis.call('HDEL', key, 'retry_at')
  end
  redis.call('HSET', key, 'lease_until', now + lease, 'claimed_at', now)
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

# A use sent as a voice id saves what a one-shot request would have carried on the wire.
_ONE_SHOT_BYTES = """
local function one_shot_bytes(key)
  return tonumber(redis.call('HGET', key, 'wire_bytes') or redis.call('HGET', key, 'clip_bytes') or '0')
end
"""

# KEYS: entry, index. ARGV: hash, now, N (-1 off), lease, max_attempts, clips json, bucket, clip bytes, wait seconds,
# wire bytes (what one one-shot request carries: the clips as sent, e.g. FLAC; 0 = unknown, the clips as uploaded)
_USE = _CAN_CLAIM + _ONE_SHOT_BYTES + """
local key, now, n = KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3])
ensure(key, KEYS[2], ARGV[1], now, ARGV[6], ARGV[7], ARGV[8])
local state = redis.call('HGET', key, 'state')
if (state == 'promoting' or state == 'training')
    and now < tonumber(redis.call('HGET', key, 'claimed_at') or '0') + tonumber(ARGV[9])
    and now <= tonumber(redis.call('HGET', key, 'lease_until') or '0') then
  return {'', 0, 1}  -- a live promotion, recently claimed: wait for it rather than send the clips
end
local uses = redis.call('HINCRBY', key, 'uses', 1)
redis.call('HSET', key, 'last_used', now)
if tonumber(ARGV[10]) > 0 then redis.call('HSET', key, 'wire_bytes', ARGV[10]) end
local model = redis.call('HGET', key, 'model_id')
if redis.call('HGET', key, 'state') == 'trained' and model then
  redis.call('HINCRBY', key, 'id_uses', 1)
  redis.call('HINCRBY', key, 'bytes_saved', one_shot_bytes(key))
  return {model, 0, 0}
end
redis.call('HINCRBY', key, 'one_shot_uses', 1)
if n >= 0 and uses > n and can_claim(key, now, tonumber(ARGV[5])) then
  claim(key, now, tonumber(ARGV[4]))
  return {'', 1, 0}
end
return {'', 0, 0}
"""

# KEYS: entry, index. ARGV: hash, now, lease, clips json, bucket, clip bytes. Ignores N and attempts.
_FORCE = _CAN_CLAIM + """
local key, now = KEYS[1], tonumber(ARGV[2])
ensure(key, KEYS[2], ARGV[1], now, ARGV[4], ARGV[5], ARGV[6])
local state = redis.call('HGET', key, 'state')
if state == 'trained' then return 0 end
if (state == 'promoting' or state == 'training') and not can_claim(key, now, 1) then return 0 end
redis.call('HSET', key, 'attempts', 0, 'state', 'one_shot')
claim(key, now, tonumber(ARGV[3]))
return 1
"""

# KEYS: entry. ARGV: model id expected, reason, now. Drops the model only if it is still the current one.
_DROP_MODEL = _ONE_SHOT_BYTES + """
local key = KEYS[1]
if redis.call('HGET', key, 'model_id') ~= ARGV[1] then return 0 end
local state = redis.call('HGET', key, 'state')
if state == 'trained' then
  redis.call('HINCRBY', key, 'bytes_saved', -one_shot_bytes(key))
end
redis.call('HDEL', key, 'model_id', 'lease_until', 'retry_at')
redis.call('HSET', key, 'state', 'one_shot', 'attempts', 0, 'reason', ARGV[2], 'model_dropped_at', ARGV[3])
return 1
"""


@dataclass(frozen=True)
class Use:
    """What one request should send: a trained model id, or the clips (and whether it claimed a promotion).

    `wait`: the reference's promotion is under way and young; nothing was counted, come back shortly.
    """

    model_id: str | None
    claimed_promotion: bool
    wait: bool = False


@dataclass(frozen=True)
class ClipRef:
    bucket: str
    key: str
    sha256: str
    size: int
    transcript: str


class Registry:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._use = client.register_script(_USE)
        self._force = client.register_script(_FORCE)
        self._drop = client.register_script(_DROP_MODEL)

    @classmethod
    def from_url(cls, url: str) -> Registry:
        return cls(redis.Redis.from_url(url))

    def use(
        self,
        reference_hash: str,
        *,
        clips: list[ClipRef],
        promote_after: int,
        max_attempts: int,
        wait_seconds: float = 0.0,
        wire_bytes: int = 0,
    ) -> Use:
        """Count one request that would carry the clips; maybe claim the promotion.

        Within `wait_seconds` of a live claim, count nothing and answer `wait`: a fast
        training is worth a short wait rather than another request carrying the clips.
        `wire_bytes`: what a one-shot request of this reference carries (the clips as sent);
        `bytes_saved` counts it for every use sent as a voice id instead.
        """
        model_id, claimed, wait = self._use(
            keys=[keys.reference_entry(reference_hash), keys.reference_index()],
            args=[reference_hash, time.time(), promote_after, LEASE_SECONDS, max_attempts, *_clip_args(clips), wait_seconds, wire_bytes],
        )
        return Use(model_id=model_id.decode() or None, claimed_promotion=bool(claimed), wait=bool(wait))

    def force_claim(self, reference_hash: str, *, clips: list[ClipRef] | None = None) -> bool:
        """Claim a promotion now, whatever N and past attempts say; False if trained or under way."""
        args = _clip_args(clips or [])
        return bool(self._force(keys=[keys.reference_entry(reference_hash), keys.reference_index()], args=[reference_hash, time.time(), LEASE_SECONDS, *args]))

    def register(self, reference_hash: str, *, clips: list[ClipRef], title: str = "", name: str = "") -> None:
        """Make the reference known (e.g. a named voice) without counting a use."""
        entry_key = keys.reference_entry(reference_hash)
        clips_json, bucket, clip_bytes = _clip_args(clips)
        pipe = self._redis.pipeline(transaction=True)
        for field, value in (("state", "one_shot"), ("created_at", time.time()), ("uses", 0), ("attempts", 0),
                             ("clips", clips_json), ("bucket", bucket), ("clip_bytes", clip_bytes)):  # fmt: skip
            pipe.hsetnx(entry_key, field, value)
        if title:
            pipe.hset(entry_key, "title", title)
        if name:
            pipe.hset(entry_key, "name", name)
        pipe.sadd(keys.reference_index(), reference_hash)
        pipe.execute()

    def extend_lease(self, reference_hash: str, *, seconds: float) -> None:
        self._redis.hset(keys.reference_entry(reference_hash), "lease_until", time.time() + seconds)

    def get(self, reference_hash: str) -> dict[str, Any] | None:
        raw = self._redis.hgetall(keys.reference_entry(reference_hash))
        if not raw:
            return None
        entry: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
        entry["reference_hash"] = reference_hash
        entry["clips"] = json.loads(entry.get("clips", "[]"))
        for name in ("uses", "one_shot_uses", "id_uses", "bytes_saved", "attempts", "clip_bytes", "wire_bytes"):
            entry[name] = int(entry.get(name, 0) or 0)
        return entry

    def all_hashes(self) -> list[str]:
        return sorted(h.decode() for h in self._redis.smembers(keys.reference_index()))

    def set_fields(self, reference_hash: str, **fields: str | int | float) -> None:
        self._redis.hset(keys.reference_entry(reference_hash), mapping={k: str(v) for k, v in fields.items()})

    def clear_fields(self, reference_hash: str, *names: str) -> None:
        self._redis.hdel(keys.reference_entry(reference_hash), *names)

    def mark_training(self, reference_hash: str, *, model_id: str) -> None:
        self.set_fields(reference_hash, state="training", model_id=model_id, training_started=time.time())

    def mark_trained(self, reference_hash: str, *, model_id: str) -> None:
        self.set_fields(reference_hash, state="trained", model_id=model_id, promoted_at=time.time(), reason="")
        self.clear_fields(reference_hash, "lease_until", "retry_at")

    def mark_failed(self, reference_hash: str, *, reason: str, retry_in: float | None) -> None:
        """Record why; `retry_in` None means no further automatic attempt."""
        fields: dict[str, str | int | float] = {"state": "failed", "reason": reason}
        if retry_in is not None:
            fields["retry_at"] = time.time() + retry_in
        self.set_fields(reference_hash, **fields)
        self.clear_fields(reference_hash, "lease_until", "model_id", *([] if retry_in is not None else ["retry_at"]))

    def drop_model(self, reference_hash: str, *, model_id: str, reason: str) -> bool:
        """The model is gone (or retired): back to one-shot, promotable again. Only if it is still current."""
        return bool(self._drop(keys=[keys.reference_entry(reference_hash)], args=[model_id, reason, time.time()]))

    def demote(self, reference_hash: str, *, reason: str) -> None:
        self.set_fields(reference_hash, state="demoted", reason=reason)
        self.clear_fields(reference_hash, "model_id", "lease_until", "retry_at")

    def link(self, reference_hash: str, *, model_id: str, trained: bool) -> None:
        """Attach an existing Fish model (found by its tag) to the reference."""
        entry_key = keys.reference_entry(reference_hash)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hsetnx(entry_key, "created_at", time.time())
        pipe.hsetnx(entry_key, "uses", 0)
        pipe.sadd(keys.reference_index(), reference_hash)
        pipe.execute()
        if trained:
            self.mark_trained(reference_hash, model_id=model_id)
        else:
            self.mark_training(reference_hash, model_id=model_id)

    def remove(self, reference_hash: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(keys.reference_entry(reference_hash))
        pipe.srem(keys.reference_index(), reference_hash)
        pipe.execute()

    def creation_lock(self, reference_hash: str, *, seconds: float) -> bool:
        """True for exactly one caller until it releases or `seconds` pass."""
        return bool(self._redis.set(keys.reference_create_lock(reference_hash), "1", nx=True, ex=max(1, int(seconds))))

    def release_creation_lock(self, reference_hash: str) -> None:
        self._redis.delete(keys.reference_create_lock(reference_hash))


def _clip_args(clips: list[ClipRef]) -> list[str | int]:
    if not clips:
        return ["", "", 0]
    payload = json.dumps([c.__dict__ for c in clips], sort_keys=True)
    return [payload, clips[0].bucket, sum(c.size for c in clips)]


def clips_of(entry: dict[str, Any]) -> list[ClipRef]:
    return [ClipRef(**clip) for clip in entry.get("clips", [])]
