"""The generated image and manifests start: entrypoint + args, extras, restricted pods, kubernetes-validate.

No cluster and (here) no container engine: what Kubernetes would run — the image's ENTRYPOINT with the
manifest's ``args`` — is run as a process and served from; the manifests go through the real
``kubernetes-validate`` (strict, two Kubernetes versions) and a checker of the restricted Pod Security
Standard; the image itself is built and served from wherever docker or podman answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml
from pod_security import restricted_violations
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from cli_process import assert_one_line_error, free_port, run_cli, run_cli_here, wait_ready
from loopwright.integrations.kubernetes.image import container_engine

VALIDATOR = Path(sys.executable).parent / "kubernetes-validate"
# two Kubernetes minor versions the installed kubernetes-validate ships schemas for (it has 1.25 … 1.37)
K8S_VERSIONS = ("1.29.0", "1.31.0")
HOME_DIR = "/var/lib/loopwright"


def _register_churn() -> pd.DataFrame:
    X = pd.DataFrame({"tenure": [1.0, 5.0, 12.0, 30.0, 2.0, 40.0], "monthly": [80.0, 60, 50, 20, 90, 10]})
    y = [1, 1, 0, 0, 1, 0]
    with lw.start_run(name="train-churn"):
        info = lw.log_model(LogisticRegression().fit(X, y), "model", input_example=X.head(2))
    lw.set_alias("churn", "champion", lw.register_model(info.uri, "churn").version)
    return X


def _dockerfile(folder: Path) -> tuple[str, dict[str, list[str]]]:
    """The Dockerfile's text and its JSON-form instructions (ENTRYPOINT, CMD)."""
    text = (folder / "Dockerfile").read_text()
    forms = {
        word: json.loads(rest)
        for word, _, rest in (line.partition(" ") for line in text.splitlines())
        if word in ("ENTRYPOINT", "CMD")
    }
    return text, forms


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """``loopwright ARGS`` in this process (no interpreter start-up per call); its stdout."""
    code, out, err = run_cli_here(capsys, *args)
    assert code == 0, err
    return out


def _manifests(
    capsys: pytest.CaptureFixture[str], *args: str, tmp_path: Path
) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path / "k8s.yaml"
    _cli(capsys, "k8s", "manifests", *args, "--output", str(out))
    return out, list(yaml.safe_load_all(out.read_text()))


def _deployment_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump({"endpoints": {"churn": {"model": "models:/churn@champion"}}}))
    return path


def test_entrypoint_with_the_manifest_args_runs_loopwright_serve(
    sqlite_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    X = _register_churn()
    _cli(capsys, "build-image", "models:/churn@champion", "--output", str(tmp_path / "ctx"), "--no-build")
    _, forms = _dockerfile(tmp_path / "ctx")
    assert forms["ENTRYPOINT"] == ["loopwright"]
    assert forms["CMD"][:2] == ["serve", "models:/churn@champion"]  # `docker run IMAGE` serves too
    _, docs = _manifests(capsys, "models:/churn@champion", "--image", "r.local/churn:1", tmp_path=tmp_path)
    container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert "command" not in container  # Kubernetes keeps the image's ENTRYPOINT and replaces CMD by args
    argv = forms["ENTRYPOINT"] + container["args"]
    assert argv[:3] == ["loopwright", "serve", "models:/churn@champion"]
    assert "--allow-unauthenticated" in argv and argv[argv.index("--host") + 1] == "0.0.0.0"

    # what the kubelet would exec, on this machine's `loopwright` (another port: tests share the host)
    port = free_port()
    argv[argv.index("--port") + 1] = str(port)
    exe = shutil.which(argv[0], path=str(Path(sys.executable).parent))
    assert exe is not None
    proc = subprocess.Popen([exe, *argv[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        answer = httpx.post(
            f"{url}/endpoints/churn/predict",
            json={"instances": X.head(2).to_dict(orient="records")},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 2
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def test_image_installs_the_extras_its_store_and_artifact_uris_need(
    lw_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _register_churn()
    _cli(capsys, "build-image", "models:/churn@champion", "-o", str(tmp_path / "env"), "--no-build")
    text, _ = _dockerfile(tmp_path / "env")
    install = next(line for line in text.splitlines() if line.startswith("RUN pip install"))
    store = os.environ["LOOPWRIGHT_STORE_URI"]
    # the store of this environment decides: PostgreSQL needs psycopg (the `postgres` extra), SQLite nothing
    expected = "serve,postgres" if store.startswith("postgresql") else "serve"
    assert f'"loopwright[{expected}]==' in install, install
    assert "scikit-learn==" in install  # the model's recorded requirements, pinned

    _cli(
        capsys,
        "build-image",
        "models:/churn@champion",
        "-o",
        str(tmp_path / "explicit"),
        "--no-build",
        "--store-uri",
        "postgresql+psycopg://lw:pw@db.internal:5432/lw",
        "--artifact-uri",
        "s3://models/loopwright",
    )
    text, _ = _dockerfile(tmp_path / "explicit")
    assert '"loopwright[serve,postgres,s3]==' in text
    assert "pw@" not in text  # the URIs choose extras; credentials stay in the Secret


def test_image_is_pinned_and_runs_as_a_numeric_non_root_user(
    sqlite_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _register_churn()
    _cli(capsys, "build-image", "models:/churn@champion", "-o", str(tmp_path / "ctx"), "--no-build")
    text, _ = _dockerfile(tmp_path / "ctx")
    base = next(line for line in text.splitlines() if line.startswith("FROM ")).split()[1]
    # an exact patch version (python:3.11.11-…) or a digest, never python:3.11-slim / latest
    assert re.fullmatch(r"python:\d+\.\d+\.\d+(-[\w.-]+)?|[\w./:-]+@sha256:[0-9a-f]{64}", base), base
    user = next(line for line in text.splitlines() if line.startswith("USER ")).split()[1]
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", user), user  # numeric: runAsNonRoot can verify it
    assert f"LOOPWRIGHT_HOME={HOME_DIR}" in text

    code, _, err = run_cli_here(
        capsys, "build-image", "models:/churn@champion", "-o", str(tmp_path / "bad"), "--wheel", "nope.txt"
    )
    assert_one_line_error(code, err, "nope.txt")


@pytest.mark.parametrize("target", ["uri", "file"])
def test_manifests_meet_the_restricted_pod_security_standard(
    sqlite_env: Path, tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["models:/churn@champion"] if target == "uri" else [str(_deployment_yaml(tmp_path))]
    _, docs = _manifests(capsys, *args, "--image", "r.local/churn:1", tmp_path=tmp_path)
    assert restricted_violations(docs) == []
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["runAsUser"] == 10001
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"} and sc["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["runAsNonRoot"] is True
    # the read-only root keeps two writable places: /tmp (model folders) and LOOPWRIGHT_HOME (the spool)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    assert "emptyDir" in mounts["/tmp"] and "emptyDir" in mounts[HOME_DIR]
    assert {"name": "LOOPWRIGHT_HOME", "value": HOME_DIR} in container["env"]
    # store credentials only from the Secret, which the pod waits for (never a silent empty SQLite store)
    assert container["envFrom"] == [{"secretRef": {"name": "loopwright"}}]
    assert not any("URI" in e["name"] or "TOKEN" in e["name"] for e in container["env"])


def test_the_checker_refuses_a_pod_the_restricted_standard_rejects() -> None:
    bad = {
        "kind": "Deployment",
        "metadata": {"name": "bad"},
        "spec": {
            "template": {
                "spec": {
                    "hostNetwork": True,
                    "hostPID": True,
                    "securityContext": {"runAsUser": 0, "seccompProfile": {"type": "Unconfined"}},
                    "volumes": [{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}],
                    "containers": [
                        {
                            "name": "server",
                            "image": "x",
                            "ports": [{"containerPort": 80, "hostPort": 80}],
                            "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}},
                        }
                    ],
                }
            }
        },
    }
    problems = "\n".join(restricted_violations([bad]))
    for rule in (
        "hostNetwork",
        "hostPID",
        "runAsUser must not be 0",
        "seccompProfile.type Unconfined",
        "hostPath",
        "hostPort",
        "privileged",
        "allowPrivilegeEscalation must be false",
        "capabilities.drop must include ALL",
        "SYS_ADMIN",
        "runAsNonRoot must be true",
    ):
        assert rule in problems, f"{rule!r} not reported:\n{problems}"
    # NET_BIND_SERVICE is the one capability the restricted profile lets a container add
    good = {
        "kind": "Pod",
        "metadata": {"name": "ok"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "c",
                    "image": "x",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                    },
                }
            ],
        },
    }
    assert restricted_violations([good]) == []


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_pass_kubernetes_validate_strict(
    sqlite_env: Path, tmp_path: Path, version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (["models:/churn@champion"], [str(_deployment_yaml(tmp_path)), "--namespace", "ml"]):
        path, docs = _manifests(capsys, *args, tmp_path=tmp_path)
        r = subprocess.run(
            [str(VALIDATOR), "--strict", "-k", version, str(path)], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count(" passed for resource ") == len(docs), r.stdout
    # strict means strict: a misspelt field in the same manifests fails
    docs[1]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump_all(docs))
    r = subprocess.run([str(VALIDATOR), "--strict", "-k", version, str(typo)], capture_output=True, text=True)
    assert r.returncode != 0 and "readOnlyRootFileSystem" in r.stdout + r.stderr


@pytest.mark.skipif(
    container_engine() is None,
    reason="no container engine: neither docker nor podman is on PATH and answers `info`",
)
def test_the_image_builds_and_serves_a_model(lw_env: Path, tmp_path: Path) -> None:
    """Runs only where a container engine (docker or podman) is on PATH and reachable; skipped, and
    reported as skipped with that reason, elsewhere. It builds the image from a wheel of this checkout and
    runs it as the manifests do: non-root, read-only root, all capabilities dropped, tmpfs at /tmp and
    LOOPWRIGHT_HOME, the store (this test's SQLite or PostgreSQL) and artifacts from the environment."""
    engine = container_engine()
    assert engine is not None
    X = _register_churn()
    wheels = tmp_path / "wheels"
    root = Path(__file__).resolve().parents[2]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(root)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("loopwright-*.whl")
    tag = f"loopwright-churn-test:{os.getpid()}"
    r = run_cli(
        "build-image", "models:/churn@champion", "-o", str(tmp_path / "ctx"), "-t", tag, "--wheel", str(wheel)
    )
    assert r.returncode == 0 and "built" in r.stdout, r.stdout + r.stderr
    _, forms = _dockerfile(tmp_path / "ctx")
    port = free_port()
    args = [*forms["CMD"]]
    args[args.index("--port") + 1] = str(port)
    # the store (a SQLite file or PostgreSQL) and artifacts live on this host: share its network and the
    # test's folder, writable by the image's user (SQLite's WAL, the prediction log)
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    env = {
        "LOOPWRIGHT_STORE_URI": os.environ["LOOPWRIGHT_STORE_URI"],
        "LOOPWRIGHT_ARTIFACT_URI": os.environ["LOOPWRIGHT_ARTIFACT_URI"],
    }
    run = [
        engine, "run", "--rm", "-d", "--network", "host", "--user", "10001:10001", "--read-only",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--tmpfs", "/tmp", "--tmpfs", HOME_DIR, "-v", f"{tmp_path}:{tmp_path}",
        *(f"-e={k}={v}" for k, v in env.items()), tag, *args,
    ]  # fmt: skip
    started = subprocess.run(run, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    container = started.stdout.strip()
    try:
        url = f"http://127.0.0.1:{port}"
        logs = subprocess.Popen(
            [engine, "logs", "-f", container], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        wait_ready(url, logs, timeout=300)
        answer = httpx.post(
            f"{url}/endpoints/churn/predict",
            json={"instances": X.head(2).to_dict(orient="records")},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 2
    finally:
        subprocess.run([engine, "rm", "-f", container], capture_output=True)
        subprocess.run([engine, "rmi", "-f", tag], capture_output=True)
