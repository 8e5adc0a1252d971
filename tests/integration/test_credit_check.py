"""The credit check beat: it resumes Fish calls only for a meaningful balance, and leaves no connection open.

Real Redis and the Fish emulator's wallet, through the real SDK.
"""

from __future__ import annotations

import pytest

from worker.fish.breaker import CreditBreaker, enough_to_resume
from worker.policy.credit import CreditCheckTask
from worker.settings import get_settings


@pytest.fixture
def breaker(stack_env, redis_client, emulator) -> CreditBreaker:
    breaker = CreditBreaker(redis_client)
    breaker.open(reason="the Fish account has insufficient API credit (402)")
    return breaker


def test_a_tiny_top_up_leaves_the_breaker_open_and_a_real_one_closes_it(breaker, emulator) -> None:
    resume = get_settings().credit_resume_usd
    assert resume == 5.0
    emulator.control(credit="0.50")  # a few cents' worth of requests: they would meet a 402 and open it again
    assert CreditCheckTask().run() == "still open: credit 0.50 under 5.00"
    assert breaker.status() is not None
    emulator.control(credit="5")
    assert CreditCheckTask().run() == "closed"
    assert breaker.status() is None


def test_the_amount_that_resumes_is_a_setting(breaker, emulator, monkeypatch) -> None:
    monkeypatch.setenv("NARRATE_CREDIT_RESUME_USD", "0.25")
    get_settings.cache_clear()
    emulator.control(credit="0.50")
    assert CreditCheckTask().run() == "closed" and breaker.status() is None


def test_no_credit_never_resumes_even_at_a_zero_setting() -> None:
    assert not enough_to_resume(0.0, resume_usd=0.0) and enough_to_resume(0.01, resume_usd=0.0)
    assert not enough_to_resume(4.99, resume_usd=5.0) and enough_to_resume(5.0, resume_usd=5.0)


def test_the_check_closes_its_fish_client(breaker, emulator, monkeypatch) -> None:
    from worker.fish.client import FishClient
    from worker.policy import credit as tasks

    made: list[FishClient] = []

    class Recorded(FishClient):  # the real client, remembered so its HTTP pool can be looked at afterwards
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(tasks, "FishClient", Recorded)
    emulator.control(credit="0")
    assert CreditCheckTask().run().startswith("still open")
    emulator.control(credit="100")
    assert CreditCheckTask().run() == "closed"
    assert len(made) == 2 and all(client._sdk._client_wrapper._client.is_closed for client in made)
