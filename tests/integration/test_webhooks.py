"""Webhooks against a real loopback receiver and real Redis: what is sent where, what status says, what counts a batch.

Only loopback is ever connected to; every refused address is refused before a socket opens.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from producer.cli.main import app as cli
from producer.readers.text import TextSource
from producer.submit.jobs import Submitter
from worker.app import ASSEMBLY_QUEUE
from worker.contract import BATCH_NOTIFY_TASK, RENDER_TASK
from worker.jobs.records import JobRecord, JobStore
from worker.settings import Settings, get_settings
from worker.webhooks import tasks as webhook_tasks
from worker.webhooks.batches import Batches
from worker.webhooks.receivers import AllowList, WebhookRefused
from worker.webhooks.send import ReceiverFailed, ReceiverRejected, Sender
from worker.webhooks.signing import verify

SECRET = "hook-secret"
LEAK = "stack trace from the receiver at 10.1.2.3"


class Receiver(BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, dict(self.headers), body))
        code = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(code)
        if code == 302:
            self.send_header("Location", "/elsewhere")
        self.end_headers()
        self.wfile.write(LEAK.encode())

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[int]:
    Receiver.answers, Receiver.received = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    # A short poll: shutdown() waits for the serving loop to look, up to one poll (0.5 s by default).
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


@pytest.fixture
def hook_env(stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    extra = {
        "NARRATE_WEBHOOK_SECRET": SECRET,
        "NARRATE_WEBHOOK_ALLOW": "127.0.0.1/32",
        "NARRATE_WEBHOOK_MAX_ATTEMPTS": "2",
        "NARRATE_RETRY_BASE_SECONDS": "0.01",
    }
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return {**stack_env, **extra}


def loopback_sender(**overrides: object) -> Sender:
    return Sender(**{"secret": SECRET, "unsigned": False, "allow": AllowList.parse("127.0.0.1/32"), **overrides})  # type: ignore[arg-type]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_notice_goes_to_the_vetted_address_named_by_host_and_signed_now(receiver: int) -> None:
    # "hooks.test" resolves nowhere but here: reaching the receiver proves the connection went to the vetted address.
    sender = loopback_sender(resolve=lambda host, port: ["127.0.0.1"])
    sender.send(f"http://hooks.test:{receiver}/in?token=abc", {"event": "job.finished"})
    [(path, headers, body)] = Receiver.received
    assert path == "/in?token=abc" and headers["Host"] == f"hooks.test:{receiver}"
    assert verify(body, headers["X-Narrate-Signature"], secret=SECRET)


def test_loopback_and_a_name_rebound_to_it_are_refused_at_send_before_any_connection(receiver: int) -> None:
    for url, resolve in (
        (f"http://127.0.0.1:{receiver}/in", None),
        (f"http://hooks.test:{receiver}/in", lambda h, p: ["127.0.0.1"]),
    ):
        sender = Sender(secret=SECRET, unsigned=False, allow=AllowList(), **({"resolve": resolve} if resolve else {}))
        with pytest.raises(WebhookRefused, match="loopback"):
            sender.send(url, {"event": "job.finished"})
    assert Receiver.received == []


def test_redirects_are_not_followed(receiver: int) -> None:
    Receiver.answers = [302]
    with pytest.raises(ReceiverRejected, match="3xx"):
        loopback_sender().send(f"http://127.0.0.1:{receiver}/in", {})
    assert [path for path, _, _ in Receiver.received] == ["/in"]


def test_a_closed_port_reads_as_a_silent_one_and_an_answer_only_as_its_class(receiver: int) -> None:
    with pytest.raises(ReceiverFailed) as closed:
        loopback_sender(timeout=2.0).send(f"http://127.0.0.1:{closed_port()}/in", {})
    assert closed.value.status == "timeout"
    Receiver.answers = [503]
    with pytest.raises(ReceiverFailed) as failing:
        loopback_sender().send(f"http://127.0.0.1:{receiver}/in", {})
    assert failing.value.status == "HTTP 5xx" and LEAK not in str(failing.value)


def test_unsigned_sends_need_the_setting(receiver: int) -> None:
    with pytest.raises(WebhookRefused, match="NARRATE_WEBHOOK_UNSIGNED"):
        loopback_sender(secret=None).send(f"http://127.0.0.1:{receiver}/in", {})
    loopback_sender(secret=None, unsigned=True).send(f"http://127.0.0.1:{receiver}/in", {})
    assert "X-Narrate-Signature" not in Receiver.received[0][1]


def job_with_webhook(redis_client: redis.Redis, url: str, *, state: str = "succeeded", batch: str = "") -> str:
    job_id = uuid.uuid4().hex
    JobStore(redis_client).create(
        [JobRecord(job_id=job_id, state="queued", title="t", notify_url=url, notify_batch=batch)]
    )
    return job_id


def status_of(job_id: str) -> dict:
    result = CliRunner().invoke(cli, ["status", job_id, "--json"])
    return json.loads(result.stdout)[0] | {"text": CliRunner().invoke(cli, ["status", job_id]).stdout}


def test_status_says_delivered_refused_or_failed_after_n_attempts_and_never_what_the_receiver_said(
    hook_env, redis_client: redis.Redis, receiver: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        webhook_tasks.job_notify, "apply_async", lambda *a, **k: None
    )  # the test runs each notice itself
    store = JobStore(redis_client)
    outcomes = {}
    for name, url, answers in (
        ("delivered", f"http://127.0.0.1:{receiver}/ok?token=s3cret", []),
        ("failing", f"http://127.0.0.1:{receiver}/down", [500, 500]),
        ("closed", f"http://127.0.0.1:{closed_port()}/x", []),
        ("metadata", "http://169.254.169.254/latest/meta-data/", []),
        ("gone", f"http://127.0.0.1:{receiver}/gone", [404]),
    ):
        Receiver.answers = answers
        job_id = job_with_webhook(redis_client, url)
        store.mark_succeeded(job_id, output_url="s3://b/x.mp3")
        webhook_tasks.job_notify.apply(args=(job_id,))  # eagerly: a retry runs again at once
        outcomes[name] = status_of(job_id)
    assert outcomes["delivered"]["notify_status"] == "delivered"
    assert outcomes["failing"]["notify_status"] == "failed after 2 attempts (HTTP 5xx)"
    assert outcomes["closed"]["notify_status"] == "failed after 2 attempts (timeout)"
    assert outcomes["metadata"]["notify_status"] == "refused by policy"
    assert outcomes["gone"]["notify_status"] == "failed: HTTP 4xx, not retried"
    for shown in outcomes.values():
        assert (
            LEAK not in json.dumps(shown) and "s3cret" not in json.dumps(shown) and "Connect" not in json.dumps(shown)
        )
    assert outcomes["delivered"]["notify_url"] == f"http://127.0.0.1:{receiver}/ok"
    assert "webhook:" in outcomes["delivered"]["text"] and "delivered" in outcomes["delivered"]["text"]
    payload = json.loads(Receiver.received[0][2])
    assert payload == {
        "event": "job.finished",
        "job_id": payload["job_id"],
        "state": "succeeded",
        "title": "t",
        "output_url": "s3://b/x.mp3",
        "manifest_url": None,
        "error": None,
        "duration_seconds": 0.0,
    }


def test_a_job_ending_twice_claims_one_notice_and_a_batch_sends_once_when_its_last_job_ends(
    hook_env, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, tuple]] = []
    monkeypatch.setattr(webhook_tasks.job_notify, "apply_async", lambda args, **k: sent.append(("job", args)))
    monkeypatch.setattr(webhook_tasks.batch_notify, "apply_async", lambda args, **k: sent.append(("batch", args)))
    batch_id = uuid.uuid4().hex
    batches = Batches(redis_client, ttl_seconds=60)
    batches.open(batch_id, url="http://127.0.0.1:9/all")
    batches.add(batch_id, 2)
    batches.seal(batch_id)
    store = JobStore(redis_client)
    first = job_with_webhook(redis_client, "http://127.0.0.1:9/one", batch=batch_id)
    second = job_with_webhook(redis_client, "", batch=batch_id)
    store.mark_succeeded(first, output_url="s3://b/1.mp3")
    store.mark_succeeded(first, output_url="s3://b/1.mp3")  # a duplicate delivery finishes it again
    assert sent == [("job", (first,))]
    store.mark_failed(second, error="bad text")
    store.mark_failed(second, error="bad text")
    assert sent == [("job", (first,)), ("batch", (batch_id,))]
    counted = batches.get(batch_id) or {}
    assert (counted["total"], counted["succeeded"], counted["failed"], counted["remaining"]) == ("2", "1", "1", "0")
    store.requeue(first)
    store.mark_succeeded(first, output_url="s3://b/1.mp3")  # `narrate retry`: a new ending is a new notice
    assert sent[-1] == ("job", (first,)) and len(sent) == 3


def test_a_batch_whose_jobs_all_ended_before_the_seal_is_sent_by_the_seal(
    hook_env, redis_client: redis.Redis, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_tasks.job_notify, "apply_async", lambda *a, **k: None)
    monkeypatch.setattr(
        webhook_tasks.batch_notify, "apply_async", lambda *a, **k: pytest.fail("the batch is not sealed yet")
    )
    submitter = Submitter.from_settings(Settings())
    batch = submitter.open_batch("http://127.0.0.1:9/all?token=t")
    [job] = submitter.submit(
        sources=[TextSource("a.txt", "Hello.")],
        voice="a" * 32,
        out=f"s3://{bucket}/n",
        notify_batch=batch,
        notify="http://127.0.0.1:9/one",
    )
    assert (
        job.notify is not None and job.notify.batch_id == batch.batch_id and job.notify.url == "http://127.0.0.1:9/one"
    )
    record = JobStore(redis_client).get(job.job_id)
    assert record is not None and record.notify_batch == batch.batch_id
    JobStore(redis_client).mark_succeeded(job.job_id, output_url="s3://b/1.mp3")
    batch.seal()
    tasks = [json.loads(raw)["headers"]["task"] for raw in redis_client.lrange(ASSEMBLY_QUEUE, 0, -1)]
    assert tasks.count(BATCH_NOTIFY_TASK) == 1


def test_a_message_from_a_producer_that_wrote_no_record_still_names_its_webhook(
    hook_env, redis_client: redis.Redis
) -> None:
    job_id = uuid.uuid4().hex
    render = type("Render", (), {"name": RENDER_TASK})()
    webhook_tasks._record_notify(
        sender=render, args=(), kwargs={"job": {"job_id": job_id, "notify": {"url": "https://hooks.example/x"}}}
    )
    record = JobStore(redis_client).get(job_id)
    assert record is not None and record.state == "queued" and record.notify_url == "https://hooks.example/x"


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"NARRATE_WEBHOOK_SECRET": SECRET}, ["--notify", "http://localhost:9/hook"], "localhost resolves to"),
        (
            {"NARRATE_WEBHOOK_SECRET": SECRET},
            ["--notify-batch", "http://169.254.169.254/latest?token=abc"],
            "169.254.169.254 is link-local",
        ),
        ({"NARRATE_WEBHOOK_SECRET": SECRET}, ["--notify", "http://10.0.0.1/hook"], "10.0.0.1 is private"),
        ({}, ["--notify", "https://hooks.example/x"], "NARRATE_WEBHOOK_SECRET.*NARRATE_WEBHOOK_UNSIGNED=true"),
    ],
)
def test_submit_refuses_a_webhook_it_could_never_deliver_with_exit_2_and_sends_nothing(
    stack_env,
    redis_client: redis.Redis,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict,
    args: list,
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    text = tmp_path / "a.txt"
    text.write_text("Hello there.")
    result = CliRunner().invoke(cli, ["submit", str(text), "--voice-id", "a" * 32, "--out", f"s3://{bucket}/x", *args])
    assert result.exit_code == 2, result.output
    assert re.search(message, " ".join(result.output.split())), result.output
    assert "token=abc" not in result.output
    assert not redis_client.keys("narrate:*")


def test_a_grant_bounds_the_webhooks_of_single_jobs_too(hook_env, redis_client: redis.Redis, bucket: str) -> None:
    from producer.submit.grant import Grant, Refused

    submitter = Submitter.from_settings(Settings(), grant=Grant(notify=("http://127.0.0.1:9/mine/",)))
    for kwargs in ({"notify": "http://127.0.0.1:9/other"}, {"notify_batch": "http://127.0.0.1:9/other"}):
        with pytest.raises(Refused, match="not one this submitter may call"):
            submitter.submit(sources=[TextSource("a.txt", "Hello.")], voice="a" * 32, out=f"s3://{bucket}/n", **kwargs)
    assert not redis_client.keys("narrate:*"), "nothing recorded, no batch opened"
    [job] = submitter.submit(
        sources=[TextSource("a.txt", "Hello.")],
        voice="a" * 32,
        out=f"s3://{bucket}/n",
        notify="http://127.0.0.1:9/mine/x",
    )
    assert job.notify is not None and job.notify.url == "http://127.0.0.1:9/mine/x"
