"""`loopwright k8s platform`: the generated and committed Kustomize base, its overlays, the Dockerfile.

No cluster: every manifest (generated, committed, and each overlay rendered by the real ``kubectl
kustomize``) goes through the real ``kubernetes-validate`` (strict, the two Kubernetes versions of
test_kubernetes.py) and the restricted Pod Security checker; the committed base must be exactly what the
command writes for the documented example config, so the two cannot drift.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pod_security import restricted_violations
from test_kubernetes import K8S_VERSIONS, VALIDATOR

from cli_process import assert_one_line_error, run_cli_here

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "k8s"
EXAMPLE = DEPLOY / "platform.yaml"
OVERLAYS = ("dev", "prod")
KUBECTL = shutil.which("kubectl")


def _generate(capsys: pytest.CaptureFixture[str], out: Path, config: Path = EXAMPLE) -> Path:
    code, _, err = run_cli_here(capsys, "k8s", "platform", "--config", str(config), "--output", str(out))
    assert code == 0, err
    return out


def _docs(folder: Path) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(folder.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
    ]


def _one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    return container


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each overlay rendered by ``kubectl kustomize`` into one multi-document file."""
    if KUBECTL is None:
        pytest.skip("kubectl (with its built-in kustomize) is not on PATH")
    out = tmp_path_factory.mktemp("overlays")
    files = {}
    for overlay in OVERLAYS:
        r = subprocess.run(
            [KUBECTL, "kustomize", str(DEPLOY / "overlays" / overlay)], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr
        files[overlay] = out / f"{overlay}.yaml"
        files[overlay].write_text(r.stdout)
    return files


def test_committed_base_is_what_the_command_writes_for_the_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _generate(capsys, tmp_path / "base")
    committed = {p.name: p.read_text() for p in (DEPLOY / "base").iterdir()}
    generated = {p.name: p.read_text() for p in out.iterdir()}
    assert sorted(committed) == sorted(generated)
    for name, text in generated.items():
        assert committed[name] == text, f"deploy/k8s/base/{name} drifted: rerun loopwright k8s platform"
    kustomization = yaml.safe_load(generated["kustomization.yaml"])
    assert sorted(kustomization["resources"]) == sorted(n for n in generated if n.endswith(".yaml") and
                                                        n != "kustomization.yaml")  # fmt: skip


def test_the_platform_has_its_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = _docs(_generate(capsys, tmp_path / "base"))
    # the server: two replicas behind a disruption budget, probes on its own routes, --auth, Secret env
    server = _one(docs, "Deployment", "loopwright-server")
    assert server["spec"]["replicas"] == 2
    budget = _one(docs, "PodDisruptionBudget", "loopwright-server")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == server["spec"]["selector"]["matchLabels"]
    c = _container(server)
    assert c["args"][:2] == ["server", "--auth"] and c["args"][c["args"].index("--host") + 1] == "0.0.0.0"
    assert c["args"][c["args"].index("--workers") + 1] == "2"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["envFrom"] == [{"secretRef": {"name": "loopwright"}}]
    assert (
        _one(docs, "Service", "loopwright-server")["spec"]["selector"]
        == server["spec"]["selector"]["matchLabels"]
    )

    # inference: the deployment YAML in a ConfigMap, OIP probes, HPA on CPU, zero-downtime rollouts, drain
    inference = _one(docs, "Deployment", "inference-churn")
    assert inference["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    c = _container(inference)
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert c["args"][:2] == ["serve", "/etc/loopwright/deployment.yaml"]
    assert c["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    sleep = c["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    # the grace period covers the drain and then the server's graceful shutdown
    assert inference["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > int(sleep[1])
    served = yaml.safe_load(_one(docs, "ConfigMap", "inference-churn-deployment")["data"]["deployment.yaml"])
    assert [r["weight"] for r in served["endpoints"]["churn"]["routes"]] == [90, 10]
    hpa = _one(docs, "HorizontalPodAutoscaler", "inference-churn")
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu" and hpa["spec"]["maxReplicas"] == 10

    # the loop controller: one replica, never two overlapping in a rollout
    loop = _one(docs, "Deployment", "loop-churn")
    assert loop["spec"]["replicas"] == 1 and loop["spec"]["strategy"] == {"type": "Recreate"}
    args = _container(loop)["args"]
    assert args[:3] == ["loop", "run", "--config"] and args[-2:] == ["--every", "5m"]
    config = yaml.safe_load(_one(docs, "ConfigMap", "loop-churn-config")["data"]["loop.yaml"])
    assert config["model"] == "churn" and config["trigger"] == "drift"
    assert "compare-and-set" in (tmp_path / "base" / "loop-churn.yaml").read_text()

    # monitoring: `loopwright monitor run` on a schedule, one pass at a time
    cron = _one(docs, "CronJob", "monitor-churn")
    assert cron["spec"]["schedule"] == "*/15 * * * *" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert _container(cron)["args"][:4] == ["monitor", "run", "--endpoint", "churn"]

    # every pod: restricted, read-only root with /tmp and LOOPWRIGHT_HOME writable, no credentials inline
    assert restricted_violations(docs) == []
    for doc in docs:
        if doc["kind"] in ("Deployment", "CronJob"):
            c = _container(doc)
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert {m["mountPath"] for m in c["volumeMounts"]} >= {"/tmp", "/var/lib/loopwright"}
            assert not any("URI" in e["name"] or "SECRET" in e["name"] for e in c["env"])


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_generated_committed_and_overlay_manifests_pass_kubernetes_validate_strict(
    version: str, rendered: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generated = _generate(capsys, tmp_path / "base")
    files = [
        *(p for folder in (generated, DEPLOY / "base") for p in sorted(folder.glob("*.yaml"))),
        *rendered.values(),
    ]
    files = [p for p in files if p.name != "kustomization.yaml"]  # not a Kubernetes kind
    r = subprocess.run(
        [str(VALIDATOR), "--strict", "-k", version, *map(str, files)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    count = sum(len(list(yaml.safe_load_all(p.read_text()))) for p in files)
    assert r.stdout.count(" passed for resource ") == count, r.stdout


def test_overlays_keep_the_restricted_profile_and_change_what_they_say(rendered: dict[str, Path]) -> None:
    docs = {o: list(yaml.safe_load_all(path.read_text())) for o, path in rendered.items()}
    for overlay, namespace in (("dev", "loopwright-dev"), ("prod", "loopwright")):
        assert restricted_violations(docs[overlay]) == []
        ns = _one(docs[overlay], "Namespace", namespace)
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        assert {d["metadata"].get("namespace") for d in docs[overlay] if d["kind"] != "Namespace"} == {
            namespace
        }
        # the loop controller stays single in every overlay
        assert _one(docs[overlay], "Deployment", "loop-churn")["spec"]["replicas"] == 1
    dev, prod = docs["dev"], docs["prod"]
    assert _one(dev, "Deployment", "loopwright-server")["spec"]["replicas"] == 1
    assert not [d for d in dev if d["kind"] == "PodDisruptionBudget"]  # 1 of 1 would block node drains
    assert _container(_one(dev, "Deployment", "loopwright-server"))["image"].endswith(":dev")
    server = _one(prod, "Deployment", "loopwright-server")
    assert server["spec"]["replicas"] == 3 and _one(prod, "PodDisruptionBudget", "loopwright-server")
    c = _container(server)
    # the patch replaced args and resources but kept the base's probes, drain and security context
    assert c["args"][-1] == "4" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["lifecycle"]["preStop"] and c["securityContext"]["readOnlyRootFilesystem"] is True
    assert _one(prod, "HorizontalPodAutoscaler", "inference-churn")["spec"]["maxReplicas"] == 30


def test_dockerfile_builds_both_images_from_the_wheel_as_non_root() -> None:
    text = (DEPLOY / "base" / "Dockerfile").read_text()
    stages: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("FROM "):
            current = line.split()[-1]
            stages[current] = [line]
        elif current and line and not line.startswith("#"):
            stages[current].append(line)
    assert list(stages) == ["build", "runtime", "serving", "server"]
    assert any("loopwright-*.whl" in line for line in stages["build"])
    # the runtime stages copy the built environment, never run pip themselves
    assert any(line.startswith("COPY --from=build") for line in stages["runtime"])
    assert not any("pip install" in line for s in ("runtime", "serving", "server") for line in stages[s])
    assert "USER 10001:10001" in stages["runtime"]
    assert (
        stages["serving"][0] == "FROM runtime AS serving" and stages["server"][0] == "FROM runtime AS server"
    )
    assert any("/v2/health/ready" in line for line in stages["serving"] if line.startswith("HEALTHCHECK"))
    assert any("/readyz" in line for line in stages["server"] if line.startswith("HEALTHCHECK"))


def test_a_bad_platform_config_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = {
        "servers: {}\nimage: r/lw:1\n": "servers",
        "server: {replicas: 2}\n": "image",
        "image: r/lw:1\ninference: {churn: {replicas: 2}}\n": "inference.churn",
        "image: r/lw:1\nloops: {churn: {config: {model: churn}}}\n": "loop config",
        "image: r/lw:1\nserver: {replicas: 0}\n": "server.replicas",
    }
    for i, (text, word) in enumerate(cases.items()):
        config = tmp_path / f"bad{i}.yaml"
        config.write_text(text)
        code, _, err = run_cli_here(capsys, "k8s", "platform", "-c", str(config), "-o", str(tmp_path / "out"))
        assert_one_line_error(code, err, word)
    code, _, err = run_cli_here(capsys, "k8s", "platform", "-c", str(tmp_path / "missing.yaml"))
    assert_one_line_error(code, err, "missing.yaml")
