"""A chunk's takes: rendered, heard, taken again while they fail (in retake mode), and the best one chosen.

Every step leaves what it paid for where the next attempt finds it, so a retry on any worker pays for nothing
twice: a take's audio is stored at its own key (or held in Redis while S3 cannot take it) before it is heard,
what was heard goes into the chunk's takes record (or waits in Redis), and the chosen take is copied to the
chunk's content address last. The caller holds the chunk's render lease throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from worker import keys
from worker.audio import codec
from worker.contract import RequestRecord
from worker.errors import StorageUnavailable
from worker.observability import metrics
from worker.takes import record as records
from worker.takes.listen import Listening, drop_held_heard, hear, hold_heard
from worker.takes.record import ChunkTakes, TakeEntry
from worker.voices.speaker import RenderContext

Render = Callable[[], tuple[bytes, RequestRecord]]  # one paid request to Fish: checked audio and its record
_WAV = codec.CONTENT_TYPES["wav"]


@dataclass(frozen=True)
class Chunk:
    """A chunk to take: its text (as the voice is given it) and its content address in `bucket`."""

    bucket: str
    key: str
    text: str


@dataclass
class Taken:
    """What taking a chunk came to: the chosen audio, the requests paid now, and the takes record."""

    audio: bytes
    record: ChunkTakes
    paid: list[RequestRecord] = field(default_factory=list)  # TTS requests this call paid for (or an earlier one held)
    heard_now: int = 0  # takes heard by this call
    seconds_heard_now: int = 0  # seconds of audio speech-to-text billed for them (or held from an earlier attempt)
    retakes_now: int = 0  # takes rendered again by this call
    retake_bytes_now: int = 0  # text bytes billed for them

    @property
    def reused(self) -> bool:
        return not self.paid and not self.heard_now

    @property
    def chosen(self) -> TakeEntry:
        chosen = self.record.chosen_take()
        assert chosen is not None
        return chosen


def take_chunk(chunk: Chunk, *, render: Render, listening: Listening, ctx: RenderContext) -> Taken:
    """The chunk's chosen take: settled ones reused as they are, others heard (and retaken) until one is chosen."""
    storage = ctx.storage
    record = records.load(storage, chunk.bucket, chunk.key)
    chosen = record.chosen_take() if record is not None else None
    if record is not None and chosen is not None and not _may_take_again(chosen, record, listening):
        settled = storage.get(chunk.bucket, chunk.key)
        if settled is not None:
            return Taken(settled, record)  # a settled chunk is never paid for or heard again
    record = record or ChunkTakes(text=chunk.text)
    # Takes whose audio is gone (collected, or lost) are forgotten: one of them may not be chosen.
    record.takes = [t for t in record.takes if storage.exists(chunk.bucket, t.key)]
    taken = Taken(b"", record)
    audio: dict[int, bytes] = {}
    if not record.takes:
        _adopt_unheard(chunk, record, audio, ctx=ctx)
    while True:
        _hear_all(chunk, taken, audio, listening=listening, ctx=ctx)
        best = record.best()
        if best is not None and (_good_enough(best) or len(record.takes) > listening.retakes):
            break
        number = max((t.take for t in record.takes), default=0) + 1
        if number > 1:
            taken.retakes_now += 1
            metrics.RETAKES.inc()
        audio[number] = _new_take(chunk, record, number, taken=taken, render=render, ctx=ctx)
        if number > 1:
            taken.retake_bytes_now += taken.paid[-1].text_bytes
    _choose(chunk, taken, best, audio, ctx=ctx)
    return taken


def _may_take_again(chosen: TakeEntry, record: ChunkTakes, listening: Listening) -> bool:
    """A chunk chosen failing by a book that only reported (or retook less) is taken again for one that retakes;
    its takes already heard are not heard again."""
    return not _good_enough(chosen) and len(record.takes) <= listening.retakes


def _good_enough(entry: TakeEntry) -> bool:
    """Passed, or could not be heard at all (then a retake would not be heard either)."""
    verdict = entry.judged()
    return verdict.passed if verdict is not None else bool(entry.unheard)


def _adopt_unheard(chunk: Chunk, record: ChunkTakes, audio: dict[int, bytes], *, ctx: RenderContext) -> None:
    """A chunk stored before its takes were kept (rendered with proof-listening off) is its own first take."""
    stored = ctx.storage.get(chunk.bucket, chunk.key)
    if stored is None:
        return
    entry = records.new_take(chunk.key, 1, text_bytes=0)
    ctx.storage.put(chunk.bucket, entry.key, stored, content_type=_WAV)
    record.takes.append(entry)
    audio[1] = stored


def _hear_all(chunk: Chunk, taken: Taken, audio: dict[int, bytes], *, listening: Listening, ctx: RenderContext) -> None:
    record, storage = taken.record, ctx.storage
    pending = [t for t in record.takes if t.heard is None and not t.unheard]
    if not pending:
        return
    for entry in pending:
        data = audio.get(entry.take) or storage.get(chunk.bucket, entry.key)
        if data is None:  # its audio is gone: forget the take, a new one is rendered in its place
            record.takes.remove(entry)
            continue
        audio[entry.take] = data
        heard = hear(entry, data, text=chunk.text, listening=listening, ctx=ctx, bucket=chunk.bucket)
        record.takes[record.takes.index(entry)] = heard
        taken.heard_now += 1
        taken.seconds_heard_now += int((heard.heard or {}).get("seconds_billed", 0))
    try:
        records.save(storage, chunk.bucket, chunk.key, record)
    except StorageUnavailable:
        for entry in record.takes:
            hold_heard(entry, ctx=ctx, bucket=chunk.bucket)
        raise
    drop_held_heard(record.takes, ctx=ctx, bucket=chunk.bucket)


def _new_take(
    chunk: Chunk, record: ChunkTakes, number: int, *, taken: Taken, render: Render, ctx: RenderContext
) -> bytes:
    """Take `number`: found stored or held (an earlier attempt paid for it), else rendered now; stored at its key."""
    entry = records.new_take(chunk.key, number, text_bytes=len(chunk.text.encode("utf-8")))
    held_key = keys.s3_url(chunk.bucket, entry.key)
    stored = ctx.storage.get(chunk.bucket, entry.key)
    if stored is not None:  # stored by an attempt that stopped before recording it: paid then, counted now
        data, paid = (
            stored,
            RequestRecord(
                chunk=0, text_bytes=entry.text_bytes, mode="one_shot", reference_bytes_sent=0, latency_seconds=0.0
            ),
        )
    else:
        held = ctx.held.get(held_key) if ctx.held is not None else None
        data, paid = held if held is not None else render()
        try:
            ctx.storage.put(chunk.bucket, entry.key, data, content_type=_WAV)
        except StorageUnavailable:
            if held is None and ctx.held is not None:
                ctx.held.put(held_key, data=data, record=paid)
            raise
        if held is not None and ctx.held is not None:
            ctx.held.drop(held_key)
    record.takes.append(entry)
    taken.paid.append(paid)
    return data


def _choose(chunk: Chunk, taken: Taken, best: TakeEntry | None, audio: dict[int, bytes], *, ctx: RenderContext) -> None:
    """The best take heard goes to the chunk's address, where assembly reads it; the record says which it is."""
    record = taken.record
    assert best is not None
    data = audio.get(best.take) or ctx.storage.get(chunk.bucket, best.key)
    if data is None:
        raise StorageUnavailable(
            f"take {best.take} of s3://{chunk.bucket}/{chunk.key} is missing; it will be taken again"
        )
    ctx.storage.put(chunk.bucket, chunk.key, data, content_type=_WAV)
    record.chosen = best.take
    records.save(ctx.storage, chunk.bucket, chunk.key, record)
    verdict = best.judged()
    if verdict is not None and not verdict.passed:
        metrics.CHUNKS_LEFT_FAILING.inc()
    taken.audio = data
