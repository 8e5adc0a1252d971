import pytest
from pydantic import ValidationError

from worker.app import make_app
from worker.settings import Settings
from worker.support.backoff import retry_delay


def test_defaults_match_the_documented_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NARRATE_BROKER_URL", "FISH_API_KEY", "NARRATE_FISH_MODEL", "NARRATE_FISH_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.broker_url == "redis://127.0.0.1:6379/0"
    assert settings.fish_base_url == "https://api.fish.audio"
    assert settings.fish_model == "s2-pro"
    assert settings.fish_concurrency == 5
    assert settings.promote_after == 5
    assert settings.fish_api_key is None


def test_environment_is_read_with_the_documented_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FISH_API_KEY", "sekret-key")
    monkeypatch.setenv("NARRATE_FISH_MODEL", "s1")
    monkeypatch.setenv("NARRATE_BROKER_URL", "rediss://cache.example:6380/2")
    settings = Settings()
    assert settings.fish_key() == "sekret-key"
    assert "sekret-key" not in repr(settings)
    assert settings.fish_model == "s1"


def test_non_redis_broker_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARRATE_BROKER_URL", "amqp://localhost")
    with pytest.raises(ValidationError, match="redis"):
        Settings()


def test_time_limits_must_sit_below_the_visibility_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARRATE_VISIBILITY_TIMEOUT", "300")
    with pytest.raises(ValidationError, match="VISIBILITY_TIMEOUT"):
        Settings()


def test_celery_is_configured_for_durable_json_only_jobs() -> None:
    conf = make_app(Settings(broker_url="redis://127.0.0.1:1/0")).conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit < conf.broker_transport_options["visibility_timeout"]


@pytest.mark.parametrize(("visibility", "every"), [(3600, 20), (100, 10), (10, 1)])
def test_a_dead_workers_tasks_are_looked_for_every_tenth_of_the_visibility_timeout(visibility: int, every: int) -> None:
    settings = Settings(
        broker_url="redis://127.0.0.1:1/0",
        visibility_timeout=visibility,
        task_soft_time_limit=5,
        task_time_limit=7,
        retry_max_seconds=2,
        promote_poll_seconds=1,
    )
    options = make_app(settings).conf.broker_transport_options
    assert (options["unacked_restore_interval"], options["unacked_restore_throttle"]) == (every, 1)


def test_retry_delay_grows_and_is_capped() -> None:
    for attempt in range(1, 12):
        delay = retry_delay(attempt, base=2.0, cap=60.0)
        assert 0 <= delay <= min(60.0, 2.0 * 2 ** (attempt - 1))
    assert max(retry_delay(10, base=2.0, cap=60.0) for _ in range(200)) > 30


@pytest.mark.parametrize("name", ["NARRATE_RETRY_MAX_SECONDS", "NARRATE_PROMOTE_POLL_SECONDS"])
def test_a_countdown_redis_would_redeliver_is_refused(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("NARRATE_VISIBILITY_TIMEOUT", "700")  # 100 s of room after the 600 s time limit
    monkeypatch.setenv("NARRATE_RETRY_MAX_SECONDS", "60")
    monkeypatch.setenv(name, "100")
    with pytest.raises(ValidationError, match=f"{name} \\(100\\) must be under NARRATE_VISIBILITY_TIMEOUT"):
        Settings()
    monkeypatch.setenv(name, "99")
    assert Settings().longest_countdown == 100
