"""The failure policy's one decision: what an error means for its unit of work."""

from __future__ import annotations

import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded

from worker.errors import (
    AudioError,
    FishRejected,
    FishUnavailable,
    PermanentError,
    Progressing,
    StorageRejected,
    StorageUnavailable,
    TransientError,
    Wait,
)
from worker.fish.breaker import BreakerOpen
from worker.fish.limiter import SlotUnavailable
from worker.policy.failures import Verdict, classify, describe
from worker.renders.lease import LeaseTaken
from worker.voices.speaker import PromotionPending


@pytest.mark.parametrize(
    "exc", [LeaseTaken("x"), SlotUnavailable("x"), BreakerOpen("x"), PromotionPending("x"), Progressing("x")]
)
def test_every_wait_is_one_class_and_uses_no_attempt(exc: Exception) -> None:
    assert isinstance(exc, Wait) and isinstance(exc, TransientError)  # a wait is a transient error that counts nothing
    assert classify(exc) is Verdict.WAIT


@pytest.mark.parametrize(
    "exc",
    [
        FishUnavailable("503"),
        StorageUnavailable("S3 away"),
        SoftTimeLimitExceeded(),
        redis.ConnectionError("reset"),
        redis.TimeoutError("slow"),
    ],
)
def test_transient_errors_use_an_attempt(exc: Exception) -> None:
    assert classify(exc) is Verdict.TRANSIENT


@pytest.mark.parametrize(
    "exc", [FishRejected("422", status=422), AudioError("not audio"), StorageRejected("denied"), PermanentError("no")]
)
def test_permanent_errors_end_the_unit(exc: Exception) -> None:
    assert classify(exc) is Verdict.PERMANENT


@pytest.mark.parametrize("exc", [RuntimeError("a bug"), KeyError("x"), redis.ResponseError("OOM command not allowed")])
def test_anything_else_is_unexpected(exc: Exception) -> None:
    assert classify(exc) is Verdict.UNEXPECTED


def test_a_wait_may_say_when_to_look_again() -> None:
    assert Wait("busy", delay=3.5).delay == 3.5 and SlotUnavailable("busy").delay is None


def test_descriptions_say_what_happened() -> None:
    assert describe(FishUnavailable("the Fish API answered 503")) == "the Fish API answered 503"
    assert describe(SoftTimeLimitExceeded()) == "it ran past its soft time limit"
    assert describe(redis.ConnectionError("x")) == "Redis unreachable (ConnectionError)"
    assert describe(RuntimeError("boom")) == "internal error: RuntimeError: boom"
