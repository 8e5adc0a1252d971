"""The reference registry on a real Redis: counting, claiming exactly once, leases, back-off."""

from __future__ import annotations

import threading
import time
from datetime import UTC

import pytest
import redis

from worker.voices.registry import ClipRef, Registry

CLIPS = [ClipRef(bucket="b", key="refs/" + "a" * 64 + ".wav", sha256="a" * 64, size=1000, transcript="Hi.")]
H1, H2 = "1" * 64, "2" * 64


@pytest.fixture
def registry(redis_client: redis.Redis) -> Registry:
    return Registry(redis_client)


def use(registry: Registry, h: str = H1, n: int = 3):  # noqa: ANN201
    return registry.use(h, clips=CLIPS, promote_after=n, max_attempts=3)


def test_uses_up_to_n_stay_one_shot_and_the_next_claims(registry: Registry) -> None:
    assert [use(registry).claimed_promotion for _ in range(3)] == [False, False, False]
    assert use(registry).claimed_promotion is True
    assert [use(registry).claimed_promotion for _ in range(5)] == [False] * 5  # claimed once, lease held
    entry = registry.get(H1)
    assert entry["uses"] == 9 and entry["state"] == "promoting" and entry["attempts"] == 1
    assert entry["clips"][0]["key"] == CLIPS[0].key and entry["clip_bytes"] == 1000


def test_zero_promotes_on_first_use_and_negative_never(registry: Registry) -> None:
    assert use(registry, H1, n=0).claimed_promotion is True
    assert not any(use(registry, H2, n=-1).claimed_promotion for _ in range(20))
    assert registry.get(H2)["state"] == "one_shot"


def test_references_are_counted_independently(registry: Registry) -> None:
    for _ in range(3):
        use(registry, H1)
    use(registry, H2)
    assert registry.get(H1)["uses"] == 3 and registry.get(H2)["uses"] == 1
    assert registry.all_hashes() == [H1, H2]


def test_many_threads_crossing_n_together_claim_exactly_once(registry: Registry, redis_client) -> None:
    barrier = threading.Barrier(40)
    claims: list[bool] = []

    def racer() -> None:
        mine = Registry(redis.Redis(connection_pool=redis_client.connection_pool))
        barrier.wait()
        claims.append(mine.use(H1, clips=CLIPS, promote_after=1, max_attempts=3).claimed_promotion)

    threads = [threading.Thread(target=racer) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert claims.count(True) == 1 and len(claims) == 40


def test_trained_model_is_returned_and_saves_bytes(registry: Registry) -> None:
    use(registry, n=0)
    registry.mark_trained(H1, model_id="m1")
    decision = use(registry, n=0)
    assert decision.model_id == "m1" and not decision.claimed_promotion
    assert registry.get(H1)["bytes_saved"] == 1000 and registry.get(H1)["id_uses"] == 1


def test_bytes_saved_counts_what_a_one_shot_request_carries_on_the_wire(registry: Registry) -> None:
    # The clips were uploaded as 1,000 bytes of WAV but go to Fish as 520 bytes of FLAC.
    registry.use(H1, clips=CLIPS, promote_after=0, max_attempts=3, wire_bytes=520)
    registry.mark_trained(H1, model_id="m1")
    registry.use(H1, clips=CLIPS, promote_after=0, max_attempts=3, wire_bytes=520)
    registry.use(H1, clips=CLIPS, promote_after=0, max_attempts=3, wire_bytes=520)
    entry = registry.get(H1)
    assert (entry["bytes_saved"], entry["wire_bytes"], entry["clip_bytes"]) == (1040, 520, 1000)
    registry.drop_model(H1, model_id="m1", reason="gone")  # the last use went out one-shot after all
    assert registry.get(H1)["bytes_saved"] == 520


def test_a_dead_promoters_lease_is_taken_over(registry: Registry) -> None:
    assert use(registry, n=0).claimed_promotion
    assert not use(registry, n=0).claimed_promotion
    registry.set_fields(H1, lease_until=time.time() - 1)
    assert use(registry, n=0).claimed_promotion
    assert registry.get(H1)["attempts"] == 1, "a takeover is the same attempt"


def test_a_young_live_promotion_asks_renders_to_wait_without_counting(registry: Registry) -> None:
    def waiting(seconds: float = 30.0):  # noqa: ANN202
        return registry.use(H1, clips=CLIPS, promote_after=0, max_attempts=3, wait_seconds=seconds)

    assert waiting().claimed_promotion is True  # the claiming render itself goes one-shot
    assert [waiting().wait for _ in range(3)] == [True] * 3
    assert registry.get(H1)["uses"] == 1  # waits are not uses
    assert waiting(seconds=0).wait is False  # waiting switched off: one-shot as before
    registry.set_fields(H1, claimed_at=time.time() - 31)
    assert waiting().wait is False  # a slow training outlasted the wait
    registry.set_fields(H1, claimed_at=time.time(), lease_until=time.time() - 1)
    assert waiting().wait is False  # a dead promoter is not waited for: its lease is taken over
    registry.mark_trained(H1, model_id="m1")
    assert waiting().model_id == "m1"


def test_failed_promotion_waits_for_its_back_off_and_attempts_are_bounded(registry: Registry) -> None:
    use(registry, n=0)
    registry.mark_failed(H1, reason="training failed", retry_in=60)
    assert not use(registry, n=0).claimed_promotion, "retried before the back-off"
    registry.set_fields(H1, retry_at=time.time() - 1)
    assert use(registry, n=0).claimed_promotion
    assert registry.get(H1)["attempts"] == 2
    registry.mark_failed(H1, reason="again", retry_in=None)
    registry.set_fields(H1, retry_at=time.time() - 1)
    registry.clear_fields(H1, "retry_at")
    assert not any(use(registry, n=0).claimed_promotion for _ in range(5))
    assert registry.get(H1)["reason"] == "again"


def test_drop_model_only_if_still_current(registry: Registry) -> None:
    use(registry, n=5)
    registry.mark_trained(H1, model_id="m1")
    assert not registry.drop_model(H1, model_id="old", reason="x")
    assert registry.drop_model(H1, model_id="m1", reason="deleted in the dashboard")
    entry = registry.get(H1)
    assert entry["state"] == "one_shot" and "model_id" not in entry and entry["reason"] == "deleted in the dashboard"
    assert use(registry, n=0).claimed_promotion, "a dropped reference can be promoted again"


def test_demoted_is_never_claimed_automatically_but_can_be_forced(registry: Registry) -> None:
    use(registry, n=0)
    registry.mark_trained(H1, model_id="m1")
    registry.demote(H1, reason="by hand")
    assert use(registry, n=0).model_id is None
    assert not any(use(registry, n=0).claimed_promotion for _ in range(3))
    assert registry.force_claim(H1), "the new chain's claim token"
    assert registry.force_claim(H1) is None, "already under way"


def test_a_chunk_whose_audio_was_lost_counts_as_not_done_once(redis_client) -> None:
    from datetime import datetime

    from worker.books.plan import BookPlan, PlanChapter, PlanChunk
    from worker.books.state import BookState
    from worker.contract import ModelVoice, Output

    chunks = [PlanChunk(index=i, text=f"Chunk {i}.", key=f"chunks/{i}.wav", paragraph_start=True) for i in range(2)]
    plan = BookPlan(
        book_id="b" * 32,
        title="T",
        voice=ModelVoice(reference_id="m1"),
        output=Output(bucket="books"),
        fish_model="s2-pro",
        submitted_at=datetime.now(UTC),
        chapters=[PlanChapter(index=0, title="One", chunks=chunks)],
    )
    state = BookState(redis_client)
    state.create(plan, cached=0, estimated_cost_usd=0.0, notify_url=None)
    assert not state.chunk_done(plan.book_id, 0, 0, rendered=True, billed_bytes=9)
    assert state.chunk_done(plan.book_id, 0, 0, rendered=True, billed_bytes=9) is False, (
        "a redelivered chunk counts once"
    )
    assert state.chunk_done(plan.book_id, 0, 1, rendered=True, billed_bytes=9) is True, (
        "the last chunk finishes the chapter"
    )
    assert state.chunk_lost(plan.book_id, 0, 1) and not state.chunk_lost(plan.book_id, 0, 1)
    assert state.done_indexes(plan.book_id, 0) == {0}
    assert state.chunk_done(plan.book_id, 0, 1, rendered=False, billed_bytes=0) is True, (
        "re-rendered, it finishes again"
    )
    book = state.get(plan.book_id)
    assert book["chunks_done"] == 2 and book["chunks_rendered"] == 2 and book["chunks_reused"] == 1


class SkewedClock:
    """A worker whose own clock is `offset` seconds off; the registry must not trust it."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def time(self) -> float:
        return time.time() + self.offset


def skew_worker_clock(monkeypatch: pytest.MonkeyPatch, offset: float) -> None:
    import worker.voices.registry as registry_module

    monkeypatch.setattr(registry_module, "time", SkewedClock(offset), raising=False)


def test_a_worker_clock_minutes_ahead_does_not_steal_a_live_lease(registry: Registry, monkeypatch) -> None:
    assert use(registry, n=0).claimed_promotion
    skew_worker_clock(monkeypatch, +600)
    assert not use(registry, n=0).claimed_promotion, "the lease is live by Redis' clock"
    entry = registry.get(H1)
    assert float(entry["lease_until"]) - registry.now() > 100


def test_a_worker_clock_minutes_behind_does_not_wait_on_a_lapsed_lease(registry: Registry, monkeypatch) -> None:
    import worker.voices.registry as registry_module

    monkeypatch.setattr(registry_module, "LEASE_SECONDS", 0.3)
    first = use(registry, n=0)
    time.sleep(0.5)
    skew_worker_clock(monkeypatch, -600)
    second = use(registry, n=0)
    assert second.claimed_promotion, "the dead promoter's lease has run out by Redis' clock"
    assert second.claim_token != first.claim_token


def test_a_worker_clock_behind_does_not_skip_the_back_off(registry: Registry, monkeypatch) -> None:
    use(registry, n=0)
    skew_worker_clock(monkeypatch, -600)
    registry.mark_failed(H1, reason="training failed", retry_in=60)
    monkeypatch.undo()
    assert not use(registry, n=0).claimed_promotion, "retried before the back-off"
    assert 50 < float(registry.get(H1)["retry_at"]) - registry.now() <= 60


def test_each_claim_carries_a_fresh_token_and_an_ended_claim_none(registry: Registry) -> None:
    first = use(registry, n=0)
    assert first.claim_token and registry.get(H1)["claim_token"] == first.claim_token
    assert use(registry, n=0).claim_token is None, "no claim, no token"
    registry.set_fields(H1, lease_until=registry.now() - 1)
    second = use(registry, n=0)
    assert second.claim_token not in (None, first.claim_token)
    assert not registry.extend_lease(H1, seconds=60, token=first.claim_token), "the old chain's writes are refused"
    assert not registry.mark_trained(H1, model_id="m1", token=first.claim_token)
    assert registry.extend_lease(H1, seconds=60, token=second.claim_token)
    registry.demote(H1, reason="by hand")
    assert "claim_token" not in registry.get(H1)
    assert not registry.mark_training(H1, model_id="m1", token=second.claim_token), "a demotion ends the chain"
    assert registry.get(H1)["state"] == "demoted"


def test_a_lapsed_creation_lock_is_not_freed_by_its_old_holder(registry: Registry) -> None:
    slow = registry.creation_lock(H1, seconds=0.05)
    assert slow and registry.creation_lock(H1, seconds=5) is None
    time.sleep(0.15)
    fresh = registry.creation_lock(H1, seconds=5)
    assert fresh and fresh != slow
    assert registry.release_creation_lock(H1, slow) is False
    assert registry.creation_lock(H1, seconds=5) is None, "the new holder still holds it"
    assert registry.release_creation_lock(H1, fresh) is True
    assert registry.creation_lock(H1, seconds=5)
