"""deploy/k8s's workers: every queue consumed once, grace periods over the hard time limits, scratch disks sized for
the work, probes that suit long tasks, and KEDA scaling each worker Deployment on its own queues."""

from __future__ import annotations

import importlib.util
import re
from urllib.parse import urlsplit

from tests.support.deploy_files import flag, probe_argv
from tests.support.k8s_manifests import (
    K8S,
    container_port,
    containers,
    deployments,
    effective_settings,
    hard_limit,
    queues_of,
    scaled_objects,
    worker_deployments,
)
from worker.app import ALL_QUEUES, ASSEMBLY_QUEUE, BEAT_QUEUE, QUEUE
from worker.settings import Settings

# --- the workers ------------------------------------------------------------------------------------------------


def test_the_worker_deployments_consume_every_queue_once() -> None:
    consumed = [queue for d in worker_deployments().values() for queue in queues_of(d)]
    assert sorted(consumed) == sorted(ALL_QUEUES)
    [assembly] = [d for d in worker_deployments().values() if ASSEMBLY_QUEUE in queues_of(d)]
    assert queues_of(assembly) == [ASSEMBLY_QUEUE], "assembly is long and CPU-bound: it has workers of its own"


def test_grace_periods_cover_the_hard_time_limit_of_what_each_worker_runs() -> None:
    for name, d in worker_deployments().items():
        spec = d["spec"]["template"]["spec"]
        needed = max(hard_limit(queue) for queue in queues_of(d))
        assert spec["terminationGracePeriodSeconds"] >= needed, (
            f"{name}: {spec['terminationGracePeriodSeconds']} s < {needed} s"
        )
        for container in spec["containers"]:
            pre_stop = container.get("lifecycle", {}).get("preStop")
            assert pre_stop is None or "celery" not in str(pre_stop), f"{name}: SIGTERM is the warm shutdown already"
    assert hard_limit(ASSEMBLY_QUEUE) == int(0.9 * effective_settings().visibility_timeout)
    assert effective_settings().task_time_limit == Settings.model_fields["task_time_limit"].default


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes quantity such as 8Gi or 500M, in bytes."""
    match = re.fullmatch(r"(\d+)([KMGT]i?)?", quantity)
    assert match, quantity
    number, unit = int(match[1]), match[2] or ""
    return number * (1024 if unit.endswith("i") else 1000) ** (" KMGT".index(unit[:1] or " "))


def test_the_assembly_pods_disk_holds_two_spools_and_says_which_chapter_fits() -> None:
    from worker.books.spool import spool_bytes

    container, size = scratch_disk(ASSEMBLY_QUEUE)
    tasks = int(flag(container["command"], "--concurrency", "-c"))
    limit = effective_settings().spool_limit_bytes
    assert size >= tasks * limit, (
        f"{tasks} chapter tasks of NARRATE_SPOOL_LIMIT_BYTES each need {tasks * limit} bytes of /tmp"
    )
    # The figures the manifest states are what the chapter spool writes (worker/books/spool.py).
    text = (K8S / "assembly.yaml").read_text()
    hour = lambda fmt, bit_rate=None: spool_bytes(seconds=3600, rate=44_100, fmt=fmt, bit_rate=bit_rate)  # noqa: E731
    assert (
        f"about {hour('mp3') / 1e6:.0f} MB per audio hour" in text
        and f"WAV chapters {hour('wav') / 1e6:.0f} MB" in text
    )
    assert f"{hour('mp3', 192_000) / 1e6:.0f} MB at the acx preset" in text
    assert f"about {limit / hour('mp3'):.1f} hours of MP3 (WAV: {limit / hour('wav'):.1f})" in text
    assert f"NARRATE_SPOOL_LIMIT_BYTES ({limit // 1024**3} GiB)" in text


def test_the_render_pods_disk_holds_the_largest_job_joined_as_wav() -> None:
    from producer.submit.bookparts import CHARACTERS_PER_SECOND, HIGHEST_CHUNK_RATE, SPLIT_MARGIN

    _, size = scratch_disk(QUEUE)
    seconds = effective_settings().max_text_bytes / CHARACTERS_PER_SECOND / SPLIT_MARGIN
    largest_wav = seconds * HIGHEST_CHUNK_RATE * 2  # 16-bit mono
    assert size >= largest_wav, f"a job of NARRATE_MAX_TEXT_BYTES joins into {largest_wav / 1e9:.1f} GB of WAV in /tmp"


def scratch_disk(queue: str) -> tuple[dict, int]:
    """The container of the workers of `queue` and the size of its /tmp, which fits in its ephemeral storage."""
    [deployment] = [d for d in worker_deployments().values() if queue in queues_of(d)]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    tmp = next(m["name"] for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    [volume] = [v for v in pod["volumes"] if v["name"] == tmp]
    size = quantity_bytes(volume["emptyDir"]["sizeLimit"])
    assert size <= quantity_bytes(container["resources"]["limits"]["ephemeral-storage"]), (
        "an emptyDir on disk counts as ephemeral storage"
    )
    return container, size


def test_workers_have_the_probes_that_suit_long_tasks() -> None:
    metrics_port = effective_settings().metrics_port
    for name, d in worker_deployments().items():
        template = d["spec"]["template"]
        for container in template["spec"]["containers"]:
            live = container["livenessProbe"]["httpGet"]
            assert live["path"] == "/healthz" and container_port(container, live["port"]) == metrics_port, name
            for kind in ("readinessProbe", "startupProbe"):
                unset, argv = probe_argv(container[kind]["exec"]["command"])
                assert argv == ["python", "-m", "worker.observability.probe", "ready"], f"{name} {kind}"
                assert {"PROMETHEUS_MULTIPROC_DIR", "NARRATE_METRICS_PORT"} <= set(unset), (
                    f"{name} {kind}: runs without the metrics"
                )
            assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] >= 60
        assert int(template["metadata"]["annotations"]["prometheus.io/port"]) == metrics_port, name
    assert importlib.util.find_spec("worker.observability.probe") is not None
    from worker.observability import probe

    assert probe.main(["sideways"]) == 2, "ready and live are its only checks"


# --- KEDA -------------------------------------------------------------------------------------------------------


def test_keda_scales_every_worker_deployment_on_its_own_queues() -> None:
    broker = urlsplit(effective_settings().broker_url)
    targets = {}
    for so in scaled_objects():
        assert so["apiVersion"] == "keda.sh/v1alpha1"
        spec = so["spec"]
        ref = spec["scaleTargetRef"]
        assert ref.get("kind", "Deployment") == "Deployment" and ref["name"] in deployments(), ref
        targets[ref["name"]] = so
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        lists = []
        for trigger in spec["triggers"]:
            assert trigger["type"] == "redis", "one Redis; with Sentinel the redis-sentinel trigger (see keda.yaml)"
            meta = trigger["metadata"]
            assert meta["listName"] in ALL_QUEUES and int(meta["listLength"]) > 0
            assert meta["address"] == f"{broker.hostname}:{broker.port}", "the broker's host and port"
            assert meta.get("enableTLS", "false") == ("true" if broker.scheme == "rediss" else "false")
            assert meta.get("databaseIndex", "0") == (broker.path.strip("/") or "0")
            lists.append(meta["listName"])
        # Beat's queue holds at most one expiring message per beat task: no measure of load (keda.yaml).
        loads = [queue for queue in queues_of(deployments()[ref["name"]]) if queue != BEAT_QUEUE]
        assert sorted(lists) == sorted(loads), f"{so['metadata']['name']}: the queues its workers take"
    assert set(targets) == set(worker_deployments()), "every worker Deployment is scaled, and only those"
    for name in targets:
        assert "replicas" not in deployments()[name]["spec"], f"{name}: the HPA owns the count"


def test_keda_scale_down_is_slow_and_takes_few_pods_at_a_time() -> None:
    for so in scaled_objects():
        down = so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
        assert down["stabilizationWindowSeconds"] >= 300
        assert down["policies"] and all(p["type"] == "Pods" and p["value"] <= 2 for p in down["policies"])


def test_the_render_fleet_can_fill_the_fish_cap() -> None:
    cap = effective_settings().fish_concurrency
    for so in scaled_objects():
        d = deployments()[so["spec"]["scaleTargetRef"]["name"]]
        if "narrate" in queues_of(d):
            processes = so["spec"]["maxReplicaCount"] * int(flag(containers(d)[0]["command"], "--concurrency", "-c"))
            assert cap <= processes <= 2 * cap, f"{processes} render processes for {cap} Fish slots"
