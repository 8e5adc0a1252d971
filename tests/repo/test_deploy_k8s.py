"""deploy/k8s: the kustomize base, checked offline against the Kubernetes API schemas and against the code it runs."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from functools import cache
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes_validate import utils as kubernetes_validate

from tests.repo.test_deploy import (
    DEPLOY,
    flag,
    is_real_variable,
    probe_argv,
    read_env_file,
)
from worker.app import ALL_QUEUES, ASSEMBLY_QUEUE, BEAT_QUEUE, QUEUE
from worker.settings import Settings

K8S = DEPLOY / "k8s"
# The oldest Kubernetes release still in common support, and the newest the bundled schemas know.
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
SECRET = "narrate"


@cache
def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


@cache
def k8s_documents() -> tuple[dict, ...]:
    return tuple(
        doc for name in kustomization()["resources"] for doc in yaml.safe_load_all((K8S / name).read_text()) if doc
    )


@cache
def configmap_data() -> dict[str, str]:
    [generator] = [g for g in kustomization()["configMapGenerator"] if g["name"] == "narrate-settings"]
    data: dict[str, str] = {}
    for name in generator.get("envs", []):
        data |= read_env_file(K8S / name)
    return data


def generated_configmap() -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "narrate-settings"}, "data": configmap_data()}


def effective_settings() -> Settings:
    """What the pods' settings are: the ConfigMap's values over the defaults, validated by worker/settings.py."""
    return Settings(
        **{
            key.removeprefix("NARRATE_").lower(): value
            for key, value in configmap_data().items()
            if key.startswith("NARRATE_")
        }
    )


def deployments() -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in k8s_documents() if doc["kind"] == "Deployment"}


def containers(doc: dict) -> list[dict]:
    if doc.get("kind") != "Deployment":
        return []
    return doc["spec"]["template"]["spec"]["containers"]


def worker_deployments() -> dict[str, dict]:
    """The Deployments that run `celery -A worker worker`."""
    return {
        name: d
        for name, d in deployments().items()
        if containers(d)[0]["command"][:4] == ["celery", "-A", "worker", "worker"]
    }


def queues_of(deployment: dict) -> list[str]:
    command = containers(deployment)[0]["command"]
    return flag(command, "--queues", "-Q").split(",") if {"--queues", "-Q"} & set(command) else list(ALL_QUEUES)


def scaled_objects() -> list[dict]:
    return [doc for doc in k8s_documents() if doc["kind"] == "ScaledObject"]


def hard_limit(queue: str) -> int:
    """The longest a task from this queue may run before Celery kills it, at the pods' settings."""
    if queue == ASSEMBLY_QUEUE:
        from tests.repo.test_deploy import assembly_time_limit

        return assembly_time_limit()
    return effective_settings().task_time_limit


# --- the kustomization -------------------------------------------------------------------------------------------


def test_the_kustomization_names_every_file_and_only_files_that_exist() -> None:
    k = kustomization()
    assert k["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and k["kind"] == "Kustomization"
    named = list(k["resources"]) + [
        f for g in k.get("configMapGenerator", []) for f in g.get("envs", []) + g.get("files", [])
    ]
    named += list(k.get("configurations", []))
    for name in named:
        assert (K8S / name).is_file(), f"kustomization.yaml names {name}: no such file"
    there = {p.name for p in K8S.iterdir() if p.is_file()} - {"kustomization.yaml"}
    assert there == set(named), f"in deploy/k8s but not in the kustomization: {there - set(named)}"
    assert len(named) == len(set(named))
    text = (K8S / "kustomization.yaml").read_text()
    assert "Helm" in text and f"kubectl create secret generic {SECRET}" in text, (
        "why kustomize, and the Secret it expects"
    )


def test_the_images_are_the_project_image_with_its_tag_set_by_kustomize() -> None:
    [image] = kustomization()["images"]
    assert image["name"] == "narrate" and image["newTag"]
    for doc in k8s_documents():
        for container in containers(doc):
            assert container["image"] == image["name"], (
                f"{doc['metadata']['name']}: the tag comes from kustomization.yaml"
            )


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schemas(version: str) -> None:
    """Strict: a misspelt or misplaced field fails, not only a wrong type. KEDA's kinds have no schema here (below)."""
    checked = 0
    for doc in (*k8s_documents(), generated_configmap()):
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            raise AssertionError(
                f"{doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, error.path))}: {error.message}"
            ) from None
        checked += 1
    assert checked >= 7


def test_the_base_builds_with_kustomize_as_kubectl_applies_it() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (the manifests are still checked one by one above)")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    [configmap] = [doc for doc in built if doc["kind"] == "ConfigMap"]
    assert configmap["metadata"]["name"].startswith("narrate-settings-"), (
        "named after its content, so a change rolls the pods"
    )
    assert configmap["data"] == configmap_data()
    for doc in built:
        if not doc["apiVersion"].startswith("keda.sh/"):
            kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)
        for container in containers(doc):
            assert re.fullmatch(r"narrate:\S+", container["image"])
            refs = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
            assert refs == [configmap["metadata"]["name"]]
    assert len(built) == len(k8s_documents()) + 1


# --- settings and secrets ---------------------------------------------------------------------------------------


def test_the_configmap_sets_real_and_valid_settings() -> None:
    data = configmap_data()
    assert all(is_real_variable(key) for key in data), f"not settings: {[k for k in data if not is_real_variable(k)]}"
    settings = effective_settings()  # raises on a value worker/settings.py would refuse
    assert settings.fish_concurrency in (5, 15, 50), "a Fish tier's cap"
    assert (
        settings.log_format == "json"
        and settings.metrics_port
        and "NARRATE_PRESET" in data
        and "NARRATE_PROMOTE_AFTER" in data
    )
    assert not {"FISH_API_KEY", "AWS_SECRET_ACCESS_KEY", "NARRATE_WEBHOOK_SECRET"} & set(data), (
        "secrets belong in the Secret"
    )
    limits = {"NARRATE_TASK_SOFT_TIME_LIMIT", "NARRATE_TASK_TIME_LIMIT", "NARRATE_VISIBILITY_TIMEOUT"}
    assert not limits & set(data), "the grace periods are sized for the default limits"


def test_every_variable_the_manifests_set_is_real() -> None:
    for doc in k8s_documents():
        for container in containers(doc):
            names = {e["name"] for e in container.get("env", [])}
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                names |= set(probe_argv(container.get(kind, {}).get("exec", {}).get("command", []))[0])
            unknown = {n for n in names if not is_real_variable(n)}
            assert not unknown, f"{doc['metadata']['name']}: not settings: {unknown}"
            refs = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
            assert refs == ["narrate-settings"], f"{doc['metadata']['name']}: the settings come from the ConfigMap"


def env_entries(document: object) -> list[dict]:
    found = []
    if isinstance(document, dict):
        if isinstance(document.get("name"), str) and ("value" in document or "valueFrom" in document):
            found.append(document)
        for value in document.values():
            found += env_entries(value)
    elif isinstance(document, list):
        for item in document:
            found += env_entries(item)
    return found


def test_the_fish_key_comes_only_from_the_secret() -> None:
    entries = [e for doc in k8s_documents() for e in env_entries(doc)]
    fish = [e for e in entries if e["name"] == "FISH_API_KEY"]
    assert fish, "the render workers need the key"
    for entry in fish:
        assert "value" not in entry and entry["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": "FISH_API_KEY"}
    for entry in entries:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        assert ref is None or ref["name"] == SECRET
        if re.search(r"KEY|SECRET|PASSWORD|TOKEN", entry["name"]) and entry["name"] != "AWS_DEFAULT_REGION":
            assert "value" not in entry, f"{entry['name']} as a literal"
    render = [d for d in worker_deployments().values() if "narrate" in queues_of(d)]
    assert render and all(any(e["name"] == "FISH_API_KEY" for e in containers(d)[0]["env"]) for d in render)


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


def container_port(container: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    return number


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


def test_no_probe_or_hook_asks_celery_inspect() -> None:
    for doc in k8s_documents():
        for container in containers(doc):
            for kind in ("startupProbe", "readinessProbe", "livenessProbe", "lifecycle"):
                assert "inspect" not in str(container.get(kind, "")), f"{doc['metadata']['name']} {kind}"


def effective_security(pod: dict, container: dict) -> dict:
    return pod.get("securityContext", {}) | container.get("securityContext", {})


def test_every_container_is_locked_down() -> None:
    for name, d in deployments().items():
        pod = d["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        assert pod.get("automountServiceAccountToken") is False, name
        for container in pod["containers"]:
            security = effective_security(pod, container)
            assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001, name
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False, name
            assert (
                security["capabilities"]["drop"] == ["ALL"] and security["seccompProfile"]["type"] == "RuntimeDefault"
            ), name
            mounts = {m["mountPath"]: volumes[m["name"]] for m in container.get("volumeMounts", [])}
            assert "emptyDir" in mounts["/tmp"], f"{name}: /tmp must be writable"
            folder = next(
                (e["value"] for e in container.get("env", []) if e["name"] == "PROMETHEUS_MULTIPROC_DIR"), None
            )
            assert folder is None or "emptyDir" in mounts[folder], f"{name}: the metrics folder must be writable"
            if name in worker_deployments():
                assert folder, f"{name}: every pool process counts into the folder"
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"], name


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


# --- beat, metrics, services ------------------------------------------------------------------------------------


def test_the_cluster_metrics_run_once_behind_a_service() -> None:
    [metrics] = [
        d for d in deployments().values() if containers(d)[0]["command"][:3] == ["narrate", "metrics", "serve"]
    ]
    assert metrics["spec"]["replicas"] == 1, "one per cluster"
    [container] = containers(metrics)
    port = int(flag(container["command"], "--port"))
    assert (
        port
        == container_port(container, "metrics")
        == int(metrics["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"])
    )
    assert container["readinessProbe"]["exec"]["command"][-3:] == ["-m", "worker.observability.probe", "ready"]


def test_services_select_the_pods_they_name() -> None:
    services = [doc for doc in k8s_documents() if doc["kind"] == "Service"]
    assert len(services) == 2
    for service in services:
        selector = service["spec"]["selector"]
        chosen = [
            d for d in deployments().values() if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert chosen, f"{service['metadata']['name']} selects no pod"
        for d in chosen:
            for port in service["spec"]["ports"]:
                assert container_port(containers(d)[0], port["targetPort"]) == port["port"]
        if service["spec"].get("clusterIP") == "None":
            assert {d["metadata"]["name"] for d in chosen} == set(worker_deployments()), (
                "every worker's /metrics, nothing else"
            )


def test_deployment_selectors_match_their_pods() -> None:
    for name, d in deployments().items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert d["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        assert labels["app.kubernetes.io/part-of"] == "narrate" and labels["app.kubernetes.io/name"] == name


def metrics_address(container: dict) -> str:
    """Where a container's /metrics listens, as its manifest states it: `status.podIP`, a literal, or the loopback
    default."""
    entries = [e for e in container.get("env", []) if e["name"] == "NARRATE_METRICS_HOST"]
    if not entries:
        return configmap_data().get("NARRATE_METRICS_HOST", Settings.model_fields["metrics_host"].default)
    [entry] = entries
    return entry.get("value") or entry["valueFrom"]["fieldRef"]["fieldPath"]


def test_every_metrics_endpoint_states_the_pod_address_it_listens_on() -> None:
    cluster = [d for d in deployments().values() if containers(d)[0]["command"][:3] == ["narrate", "metrics", "serve"]]
    serving = [*worker_deployments().values(), *cluster]
    assert Settings.model_fields["metrics_host"].default == "127.0.0.1", "unset, metrics are loopback only"
    assert "NARRATE_METRICS_HOST" not in configmap_data(), "an address is each pod's own, not one for all"
    for d in serving:
        [container] = containers(d)
        assert "--host" not in container["command"], f"{d['metadata']['name']}: NARRATE_METRICS_HOST says where, once"
        assert metrics_address(container) in ("status.podIP", "0.0.0.0"), (
            f"{d['metadata']['name']}: unreachable on loopback"
        )
