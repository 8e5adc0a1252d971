"""An inbox pipeline's state in Redis.

Files in flight and held back, content seen before, the scan cursor, today's spend.

Nothing here grows without end. `seen` (content hash -> a short summary of
where it went) and `partial` (a batch file's content hash -> its entries already
rendered) are forgotten after `keep_days`, and at most `MAX_REMEMBERED` of each
are kept: the oldest go first. `etags` (an upload's ETag and size -> its content
hash) goes with the `seen` entry it points to; `kept` (files that S3 would not
let leave the inbox) is bounded the same way, `problems` keeps the last
PROBLEMS_KEPT. `held` and `inflight` lose an entry when its file is filed away.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import redis

from worker import keys

# A batch file's `kind` in this state and in `narrate pipelines status`: the status JSON's word, kept as it is.
BATCH_KIND = "manifest"
MAX_REMEMBERED = 100_000  # per pipeline and record: a bound on Redis memory whatever the traffic
PROBLEMS_KEPT = 100
# What status and duplicates need of a file's outcome.
SEEN_FIELDS = ("source", "kind", "id", "output_url", "manifest_url", "duration_seconds", "filed_at")


def upload_tag(etag: str, size: int) -> str:
    """What identifies an upload without downloading it: S3's ETag and the length."""
    return f"{etag}:{size}"


class InboxState:
    def __init__(self, client: redis.Redis, name: str, *, keep_days: float = 30) -> None:
        self._redis, self._name, self._keep = client, name, keep_days * 86400

    def _key(self, part: str) -> str:
        return keys.pipeline_state(self._name, part)

    # -- content seen before, and uploads already recognised ----------------------------------------

    def seen(self, digest: str) -> dict[str, Any] | None:
        raw = self._redis.hget(self._key("seen"), digest)
        return json.loads(raw) if raw else None

    def seen_upload(self, tag: str) -> dict[str, Any] | None:
        """The summary of content already rendered whose upload had this ETag and size, or None."""
        digest = self._redis.hget(self._key("etags"), tag)
        return self.seen(digest.decode()) if digest else None

    def mark_seen(self, digest: str, report: dict[str, Any], *, tag: str | None = None) -> None:
        summary = {k: report[k] for k in SEEN_FIELDS if report.get(k) is not None}
        pipe = self._redis.pipeline()
        pipe.hset(self._key("seen"), digest, json.dumps(summary, default=str))
        pipe.zadd(self._key("seen:at"), {digest: time.time()})
        if tag:
            pipe.hset(self._key("etags"), tag, digest)
            pipe.hset(self._key("etags:of"), digest, tag)
        pipe.execute()
        self._trim("seen", also=("etags:of",))

    def partial(self, digest: str) -> dict[str, Any]:
        """A batch file's entries already rendered, by entry tag, from an earlier upload of the same bytes."""
        raw = self._redis.hget(self._key("partial"), digest)
        return json.loads(raw) if raw else {}

    def mark_partial(self, digest: str, done: dict[str, Any]) -> None:
        pipe = self._redis.pipeline()
        pipe.hset(self._key("partial"), digest, json.dumps(done, default=str))
        pipe.zadd(self._key("partial:at"), {digest: time.time()})
        pipe.execute()
        self._trim("partial")

    def _trim(self, record: str, *, also: tuple[str, ...] = ()) -> None:
        """Forget entries older than `keep_days`, and the oldest beyond MAX_REMEMBERED."""
        at = self._key(f"{record}:at")
        old = self._redis.zrangebyscore(at, "-inf", time.time() - self._keep)
        surplus = max(0, int(self._redis.zcard(at)) - len(old) - MAX_REMEMBERED)
        old += self._redis.zrange(at, len(old), len(old) + surplus - 1) if surplus else []
        if not old:
            return
        tags = [t for t in self._redis.hmget(self._key("etags:of"), old) if t] if also else []
        pipe = self._redis.pipeline()
        pipe.hdel(self._key(record), *old)
        pipe.zrem(at, *old)
        for part in also:
            pipe.hdel(self._key(part), *old)
        if tags:
            pipe.hdel(self._key("etags"), *tags)
        pipe.execute()

    # -- files in flight -----------------------------------------------------------------------------

    def inflight(self) -> dict[str, dict[str, Any]]:
        return {k.decode(): json.loads(v) for k, v in self._redis.hgetall(self._key("inflight")).items()}

    def add_inflight(self, key: str, entry: dict[str, Any]) -> None:
        self._redis.hset(self._key("inflight"), key, json.dumps(entry, default=str))

    def drop_inflight(self, key: str) -> None:
        self._redis.hdel(self._key("inflight"), key)

    # -- today's spend -------------------------------------------------------------------------------

    def _today(self) -> str:
        return keys.pipeline_state(self._name, f"spend:{datetime.now(UTC):%Y-%m-%d}")

    def spent_today(self) -> float:
        return float(self._redis.get(self._today()) or 0)

    def spend(self, usd: float) -> None:
        pipe = self._redis.pipeline()
        pipe.incrbyfloat(self._today(), usd)
        pipe.expire(self._today(), 3 * 86400)
        pipe.execute()

    # -- files held back by the budget ---------------------------------------------------------------

    def held(self, key: str) -> dict[str, Any] | None:
        """Why a file waits, with its upload tag and estimate, so a later scan need not download it to decide again."""
        raw = self._redis.hget(self._key("held"), key)
        if not raw:
            return None
        try:
            found = json.loads(raw)
        except ValueError:
            return None  # a reason written by an older version: decide again
        return found if isinstance(found, dict) else None

    def hold(self, key: str, reason: str, *, tag: str = "", cost: float = 0.0) -> None:
        self._redis.hset(self._key("held"), key, json.dumps({"reason": reason, "tag": tag, "cost": cost}))

    def unhold(self, key: str) -> None:
        self._redis.hdel(self._key("held"), key)

    # -- files that could not leave the inbox, and what went wrong while filing ----------------------

    def kept(self, key: str) -> str | None:
        """The upload tag of a file filed as far as possible but left in the inbox (S3 refused the move), or None."""
        raw = self._redis.hget(self._key("kept"), key)
        return raw.decode() if raw else None

    def keep(self, key: str, tag: str) -> None:
        """Do not take this upload again: its outcome is filed.

        A new upload under the key has a new tag and is taken.
        """
        pipe = self._redis.pipeline()
        pipe.hset(self._key("kept"), key, tag)
        pipe.zadd(self._key("kept:at"), {key: time.time()})
        pipe.execute()
        self._trim("kept")

    def note_problem(self, key: str, notes: list[str]) -> None:
        """What could not be done while filing, for `narrate pipelines status`; the last PROBLEMS_KEPT only."""
        pipe = self._redis.pipeline()
        pipe.lpush(self._key("problems"), json.dumps({"at": time.time(), "source": key, "notes": notes}))
        pipe.ltrim(self._key("problems"), 0, PROBLEMS_KEPT - 1)
        pipe.execute()

    # -- the scan cursor -----------------------------------------------------------------------------

    def cursor(self) -> str:
        raw = self._redis.get(self._key("cursor"))
        return raw.decode() if raw else ""

    def set_cursor(self, key: str) -> None:
        self._redis.set(self._key("cursor"), key)
