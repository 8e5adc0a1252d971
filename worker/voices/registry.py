"""The reference registry: use counts and the promotion state machine, in Redis.

    one_shot ──(uses > N, claimed once)──► promoting ──(model created)──► training ──► trained
        ▲                                      │                              │
        └──── model vanished / gc ◄────────────┴──────── failed (retry after back-off) ◄─┘
    demoted: a person stopped using the model; only `narrate voices promote` starts again.

Every transition that more than one worker may race for runs as one Lua script,
so a promotion is claimed exactly once however many renders cross N together.
A claim is a lease: if the promoter dies, the next use after it expires takes over.
Each claim stores a fresh `claim_token`; the promotion chain it starts writes only
while that token is still the entry's, so a chain taken over, or a reference
demoted meanwhile, is never written over. Leases and timestamps use Redis' clock.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import redis

from worker import keys
from worker.infra.redisconn import connect as connect_redis
from worker.voices import registry_scripts as scripts

LEASE_SECONDS = 120.0

# Fields of a promotion under way; a write that is not a chain's own (a person's) ends the chain.
_CHAIN_FIELDS = ("claim_token", "creating_until")


@dataclass(frozen=True)
class Use:
    """What one request should send: a trained model id, or the clips (and whether it claimed a promotion).

    `wait`: the reference's promotion is under way and young; nothing was counted, come back shortly.
    `claim_token`: set when this use claimed the promotion; the chain it starts carries it.
    """

    model_id: str | None
    claimed_promotion: bool
    wait: bool = False
    claim_token: str | None = None


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
        self._use = client.register_script(scripts.USE)
        self._force = client.register_script(scripts.FORCE)
        self._drop = client.register_script(scripts.DROP_MODEL)
        self._write = client.register_script(scripts.OWNED_WRITE)
        self._adopt = client.register_script(scripts.ADOPT)
        self._release = client.register_script(scripts.RELEASE_LOCK)

    @classmethod
    def from_url(cls, url: str, *, master_name: str = "") -> Registry:
        return cls(connect_redis(url, master_name=master_name))

    def now(self) -> float:
        """Redis' clock: the one every lease and timestamp in the registry is written with."""
        seconds, micros = self._redis.time()
        return seconds + micros / 1_000_000

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
        model_id, claimed, wait, token = self._use(
            keys=[keys.reference_entry(reference_hash), keys.reference_index()],
            args=[
                reference_hash,
                promote_after,
                LEASE_SECONDS,
                max_attempts,
                *_clip_args(clips),
                wait_seconds,
                wire_bytes,
                _new_token(),
            ],
        )
        return Use(
            model_id=model_id.decode() or None,
            claimed_promotion=bool(claimed),
            wait=bool(wait),
            claim_token=token.decode() or None,
        )

    def force_claim(self, reference_hash: str, *, clips: list[ClipRef] | None = None) -> str | None:
        """Claim a promotion now, whatever N and past attempts say: the chain's token; None if trained or under way."""
        args = [reference_hash, LEASE_SECONDS, *_clip_args(clips or []), _new_token()]
        token = self._force(keys=[keys.reference_entry(reference_hash), keys.reference_index()], args=args)
        return token.decode() or None

    def adopt_claim(self, reference_hash: str) -> str | None:
        """The token of the promotion under way (minted if it has none), for a chain started without one."""
        token = self._adopt(keys=[keys.reference_entry(reference_hash)], args=[_new_token()])
        return token.decode() or None

    def register(self, reference_hash: str, *, clips: list[ClipRef], title: str = "", name: str = "") -> None:
        """Make the reference known (e.g. a named voice) without counting a use."""
        entry_key = keys.reference_entry(reference_hash)
        clips_json, bucket, clip_bytes = _clip_args(clips)
        pipe = self._redis.pipeline(transaction=True)
        for field, value in (
            ("state", "one_shot"),
            ("created_at", self.now()),
            ("uses", 0),
            ("attempts", 0),
            ("clips", clips_json),
            ("bucket", bucket),
            ("clip_bytes", clip_bytes),
        ):
            pipe.hsetnx(entry_key, field, value)
        if title:
            pipe.hset(entry_key, "title", title)
        if name:
            pipe.hset(entry_key, "name", name)
        pipe.sadd(keys.reference_index(), reference_hash)
        pipe.execute()

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

    # Promotion steps. With `token`, each write happens only while that chain still owns the entry (and
    # returns whether it did); without one it is a person's (or a test's) write, and ends any chain under way.

    def extend_lease(self, reference_hash: str, *, seconds: float, token: str | None = None) -> bool:
        """Also the chain's check that its claim is still its own and still under way."""
        return self._owned(reference_hash, token, at={"lease_until": seconds}, states=["promoting", "training"])

    def mark_creating(self, reference_hash: str, *, seconds: float, token: str) -> bool:
        """A voices.create is in flight until then: others wait for it even if the creation lock lapses."""
        return self._owned(reference_hash, token, at={"creating_until": seconds})

    def clear_creating(self, reference_hash: str, *, token: str) -> bool:
        return self._owned(reference_hash, token, drop=["creating_until"])

    def mark_training(self, reference_hash: str, *, model_id: str, token: str | None = None) -> bool:
        fields = {"state": "training", "model_id": model_id}
        return self._owned(reference_hash, token, fields=fields, at={"training_started": 0}, drop=["creating_until"])

    def mark_trained(self, reference_hash: str, *, model_id: str, token: str | None = None) -> bool:
        fields = {"state": "trained", "model_id": model_id, "reason": ""}
        drop = ["lease_until", "retry_at", *_CHAIN_FIELDS]
        return self._owned(reference_hash, token, fields=fields, at={"promoted_at": 0}, drop=drop)

    def mark_failed(
        self, reference_hash: str, *, reason: str, retry_in: float | None, token: str | None = None
    ) -> bool:
        """Record why; `retry_in` None means no further automatic attempt."""
        at = {"retry_at": retry_in} if retry_in is not None else {}
        drop = ["lease_until", "model_id", *_CHAIN_FIELDS, *([] if retry_in is not None else ["retry_at"])]
        return self._owned(reference_hash, token, fields={"state": "failed", "reason": reason}, at=at, drop=drop)

    def drop_model(self, reference_hash: str, *, model_id: str, reason: str) -> bool:
        """The model is gone (or retired): back to one-shot, promotable again. Only if it is still current."""
        return bool(self._drop(keys=[keys.reference_entry(reference_hash)], args=[model_id, reason]))

    def demote(self, reference_hash: str, *, reason: str) -> None:
        """One write, so no promotion step can land between the new state and the end of its claim."""
        self._owned(
            reference_hash,
            None,
            fields={"state": "demoted", "reason": reason},
            drop=["model_id", "lease_until", "retry_at"],
        )

    def link(self, reference_hash: str, *, model_id: str, trained: bool, token: str | None = None) -> bool:
        """Attach an existing Fish model (found by its tag) to the reference."""
        if token is None:
            self._ensure_known(reference_hash)
        mark = self.mark_trained if trained else self.mark_training
        return mark(reference_hash, model_id=model_id, token=token)

    def remove(self, reference_hash: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(keys.reference_entry(reference_hash))
        pipe.srem(keys.reference_index(), reference_hash)
        pipe.execute()

    def creation_lock(self, reference_hash: str, *, seconds: float) -> str | None:
        """The holder's token for exactly one caller until it releases or `seconds` pass; else None."""
        token = _new_token()
        taken = self._redis.set(
            keys.reference_create_lock(reference_hash), token, nx=True, px=max(1, int(seconds * 1000))
        )
        return token if taken else None

    def release_creation_lock(self, reference_hash: str, token: str) -> bool:
        """False if the lock lapsed (and may be another's now): that one is left alone."""
        return bool(self._release(keys=[keys.reference_create_lock(reference_hash)], args=[token]))

    def _owned(
        self,
        reference_hash: str,
        token: str | None,
        *,
        fields: dict[str, str] | None = None,
        at: dict[str, float] | None = None,
        drop: list[str] | None = None,
        states: list[str] | None = None,
    ) -> bool:
        drop = [*(drop or []), *(_CHAIN_FIELDS if token is None else ())]
        plan = {"set": fields or {}, "at": at or {}, "del": drop, "states": states or []}
        return bool(self._write(keys=[keys.reference_entry(reference_hash)], args=[token or "", json.dumps(plan)]))

    def _ensure_known(self, reference_hash: str) -> None:
        entry_key = keys.reference_entry(reference_hash)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hsetnx(entry_key, "created_at", self.now())
        pipe.hsetnx(entry_key, "uses", 0)
        pipe.sadd(keys.reference_index(), reference_hash)
        pipe.execute()


def _new_token() -> str:
    return secrets.token_hex(16)


def _clip_args(clips: list[ClipRef]) -> list[str | int]:
    if not clips:
        return ["", "", 0]
    payload = json.dumps([c.__dict__ for c in clips], sort_keys=True)
    return [payload, clips[0].bucket, sum(c.size for c in clips)]


def clips_of(entry: dict[str, Any]) -> list[ClipRef]:
    return [ClipRef(**clip) for clip in entry.get("clips", [])]
