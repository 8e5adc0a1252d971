"""Named voices and the reference registry, for people: add, find, promote, retire, sync, gc."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import redis
from celery import Celery

from producer.submit.clips import NamedVoice, PreparedVoice, upload_clips
from producer.submit.lexicons import Lexicons
from worker import keys
from worker.app import make_app
from worker.contract import PROMOTE_TASK, VOICES_QUEUE, LexiconRef
from worker.errors import BadInput
from worker.fish.client import FishClient
from worker.fish.voices import FishVoices
from worker.infra.redisconn import connect_with
from worker.settings import Settings
from worker.storage import Storage
from worker.voices.registry import ClipRef, Registry

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_HASH_PREFIX = re.compile(r"^[0-9a-f]{8,64}$")


class VoiceBook:
    """Everything `narrate voices` does, over one Redis, one S3 and (when needed) Fish."""

    def __init__(self, *, settings: Settings, client: redis.Redis, storage: Storage, app: Celery) -> None:
        self.settings = settings
        self._redis = client
        self.registry = Registry(client)
        self.storage = storage
        self._app = app
        self._fish: FishVoices | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> VoiceBook:
        return cls(
            settings=settings,
            client=connect_with(settings),
            storage=Storage.from_settings(settings),
            app=make_app(settings),
        )

    @property
    def fish(self) -> FishVoices:
        if self._fish is None:
            self._fish = FishVoices(FishClient(self.settings))
        return self._fish

    # named voices

    def add(self, name: str, voice: PreparedVoice, *, bucket: str) -> NamedVoice:
        if not _NAME.match(name):
            raise BadInput(f"voice name {name!r}: use letters, digits, '_', '.', '-' (start with a letter, at most 64)")
        if self._redis.exists(keys.named_voice(name)):
            raise BadInput(f"a voice named {name!r} exists already: delete it first or pick another name")
        self.storage.check_bucket(bucket)
        clips = upload_clips(self.storage, bucket, voice)
        named = NamedVoice(name=name, reference_hash=voice.reference_hash, clips=clips)
        payload = {
            "name": name,
            "reference_hash": named.reference_hash,
            "clips": [c.__dict__ for c in clips],
            "created_at": time.time(),
        }
        self._redis.set(keys.named_voice(name), json.dumps(payload))
        self._redis.sadd(keys.named_voice_index(), name)
        self.registry.register(named.reference_hash, clips=clips, title=name, name=name)
        return named

    def named(self, name: str) -> NamedVoice | None:
        raw = self._redis.get(keys.named_voice(name))
        if raw is None:
            return None
        data = json.loads(raw)
        return NamedVoice(
            name=data["name"],
            reference_hash=data["reference_hash"],
            clips=[ClipRef(**c) for c in data["clips"]],
            lexicons=tuple(LexiconRef.model_validate(ref) for ref in data.get("lexicons", [])),
        )

    def set_lexicons(self, name: str, lexicons: Lexicons) -> NamedVoice:
        """Attach lexicons to a named voice (stored beside its clips), replacing the ones it had.

        None given: detach them all.
        """
        raw = self._redis.get(keys.named_voice(name))
        if raw is None:
            raise BadInput(f"no voice named {name!r}: lexicons attach to a named voice (see `narrate voices list`)")
        data = json.loads(raw)
        bucket = data["clips"][0]["bucket"]
        lexicons.upload(self.storage, bucket)
        data["lexicons"] = [
            ref.model_copy(update={"bucket": ref.bucket or bucket}).model_dump() for ref in lexicons.refs()
        ]
        self._redis.set(keys.named_voice(name), json.dumps(data))
        return self.named(name)  # type: ignore[return-value]

    def resolve(self, ref: str) -> str:
        """A reference hash from a name, a full hash, or an unambiguous hash prefix (8+ characters)."""
        named = self.named(ref)
        if named is not None:
            return named.reference_hash
        if _HASH_PREFIX.match(ref):
            matches = [h for h in self.registry.all_hashes() if h.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise BadInput(f"{ref!r} matches {len(matches)} references: give more of the hash")
        raise BadInput(f"no voice named {ref!r} and no reference hash starting with it (see `narrate voices list`)")

    def entry(self, ref: str) -> dict[str, Any]:
        reference_hash = self.resolve(ref)
        entry = self.registry.get(reference_hash)
        if entry is None:
            raise BadInput(f"reference {reference_hash[:12]} is not in the registry")
        named = self.named(ref)
        if named is not None and named.lexicons:
            entry = {**entry, "lexicons": [lexicon.model_dump() for lexicon in named.lexicons]}
        return entry

    def entries(self) -> list[dict[str, Any]]:
        return [e for e in (self.registry.get(h) for h in self.registry.all_hashes()) if e is not None]

    # promotion

    def promote(self, reference_hash: str, *, clips: list[ClipRef] | None = None) -> bool:
        """Start a promotion now, ignoring N; False when trained already or under way."""
        if not self.registry.force_claim(reference_hash, clips=clips):
            return False
        self._app.send_task(PROMOTE_TASK, args=[reference_hash], queue=VOICES_QUEUE)
        return True

    def demote(self, reference_hash: str, *, delete_model: bool) -> str | None:
        """Stop sending the model id; returns the model id, deleted from Fish if asked."""
        entry = self.registry.get(reference_hash) or {}
        model_id = entry.get("model_id")
        self.registry.demote(reference_hash, reason="demoted by `narrate voices demote`")
        if model_id and delete_model:
            self.fish.delete(model_id)
        return model_id

    def delete(self, reference_hash: str) -> str | None:
        """Forget the reference (and its name), deleting its Fish model if it has one."""
        model_id = self.demote(reference_hash, delete_model=True)
        entry = self.registry.get(reference_hash) or {}
        if entry.get("name"):
            self._redis.delete(keys.named_voice(entry["name"]))
            self._redis.srem(keys.named_voice_index(), entry["name"])
        self.registry.remove(reference_hash)
        return model_id

    def update(self, reference_hash: str, *, title: str | None, tags: list[str] | None) -> str:
        entry = self.registry.get(reference_hash) or {}
        model_id = entry.get("model_id")
        if not model_id:
            raise BadInput(f"reference {reference_hash[:12]} has no Fish voice yet: promote it first")
        if tags is not None:
            tags = sorted({*tags, keys.fish_voice_tag(reference_hash)})  # keep the tag `sync` relies on
        self.fish.update(model_id, title=title, tags=tags)
        if title:
            self.registry.set_fields(reference_hash, title=title)
        return model_id

    def sync(self) -> tuple[list[str], list[str]]:
        """Re-link this account's models to their references by tag. Returns (linked, unchanged)."""
        linked, unchanged = [], []
        for model in self.fish.list_own():
            hashes = [
                t.split(":", 1)[1] for t in model.tags if t.startswith("narrate:") and len(t) == len("narrate:") + 64
            ]
            if not hashes or model.state == "failed":
                continue
            reference_hash = hashes[0]
            entry = self.registry.get(reference_hash) or {}
            if entry.get("model_id") == model.id or entry.get("state") == "demoted":
                unchanged.append(reference_hash)
                continue
            self.registry.link(reference_hash, model_id=model.id, trained=model.state == "trained")
            if model.state != "trained":
                self.registry.extend_lease(reference_hash, seconds=60)
                self._app.send_task(PROMOTE_TASK, args=[reference_hash], queue=VOICES_QUEUE)
            linked.append(reference_hash)
        return linked, unchanged

    def unused(self, *, days: float) -> list[dict[str, Any]]:
        cutoff = time.time() - days * 86400
        return [
            e
            for e in self.entries()
            if e.get("model_id") and float(e.get("last_used") or e.get("promoted_at") or 0) <= cutoff
        ]

    def retire(self, entry: dict[str, Any], *, days: float) -> None:
        """Delete an unused model; the reference goes back to one-shot and must earn promotion again."""
        self.fish.delete(entry["model_id"])
        self.registry.drop_model(
            entry["reference_hash"], model_id=entry["model_id"], reason=f"deleted by gc: unused for {days:g} days"
        )
        self.registry.set_fields(entry["reference_hash"], uses=0)
