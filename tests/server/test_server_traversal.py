"""Path traversal against every server route that takes a name or a path.

Requests are sent with ``http.client``, which puts the path on the wire as given (httpx would
resolve the dot segments first, so the server would never see them). An artifact name that could
leave its owner's namespace is refused with exactly 400; a name elsewhere (a model, an alias, an
endpoint, an experiment, a blob digest) with 400, 404 or 422. Never 2xx, never 5xx, and nothing is
written: no artifact recorded, no blob stored, no file with the planted name anywhere.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import loopwright as lw
from cli_process import PlatformServer
from loopwright.artifacts import BlobStore

PLANT = f"lw-planted-{uuid.uuid4().hex[:12]}"  # a name no test writes; it must not appear anywhere
BODY = b"planted by the traversal test"

# each payload as it goes on the wire (one or more path segments after the route's prefix)
PAYLOADS = {
    "dotdot": f"../../../../../../tmp/{PLANT}",
    "dotdot-one": "../secret",
    "encoded": f"%2e%2e%2f%2e%2e%2f%2e%2e%2ftmp%2f{PLANT}",
    "encoded-dots": "%2e%2e/secret",
    "encoded-slash": f"..%2f..%2f..%2ftmp%2f{PLANT}",
    "double": f"%252e%252e%252f%252e%252e%252ftmp%252f{PLANT}",
    "absolute": f"/tmp/{PLANT}",
    "absolute-encoded": "%2fetc%2fpasswd",
    "etc-passwd": "../../../../../../../../etc/passwd",
    "backslash": f"..\\..\\..\\tmp\\{PLANT}",
    "backslash-encoded": f"..%5c..%5c..%5ctmp%5c{PLANT}",
    "fragment": f"a%23/../../{PLANT}",
    "query": f"a%3f/../../{PLANT}",
    "nul": f"{PLANT}%00.txt",
    "nul-dotdot": "..%00/secret",
    "one-dot-leader": f"%E2%80%A4%E2%80%A4/%E2%80%A4%E2%80%A4/{PLANT}",  # U+2024
    "two-dot-leader": f"%E2%80%A5/{PLANT}",  # U+2025
    "fullwidth-dots": f"%EF%BC%8E%EF%BC%8E%EF%BC%8F%EF%BC%8E%EF%BC%8E%EF%BC%8F{PLANT}",  # U+FF0E, U+FF0F
    "fullwidth-solidus": f"x%EF%BC%8F..%EF%BC%8F{PLANT}",
}


@dataclass
class Target:
    server: PlatformServer
    artifacts: Path
    run_id: str
    model: str

    def send(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            connection.putheader("Content-Length", str(len(body or b"")))
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    home = tmp_path_factory.mktemp("server-traversal")
    artifacts = home / "artifacts"
    server = PlatformServer(
        "--store-uri", f"sqlite:///{home}/lw.db", "--artifact-uri", str(artifacts), timeout=240
    )
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=30) as http:
        experiment = http.post("/experiments", json={"name": "traversal"}).raise_for_status().json()["id"]
        run_id = http.post("/runs", json={"experiment_id": experiment}).raise_for_status().json()["id"]
        http.put(f"/runs/{run_id}/artifacts/inside.txt", content=b"inside").raise_for_status()
        http.post("/models/churn/versions", json={"source": "runs:/r/model"}).raise_for_status()
    try:
        yield Target(server, artifacts, run_id, "churn")
    finally:
        log = server.stop()
        assert "Traceback" not in log and " 500 " not in log, log[-3000:]


def _one_json_line(status: int, body: bytes) -> dict[str, str]:
    text = body.decode()
    assert "\n" not in text.strip(), text
    answer: dict[str, str] = json.loads(text)
    assert set(answer) == {"error", "message"}, answer
    return answer


def _stored_blobs(root: Path) -> set[str]:
    return {path.name for path in root.rglob("*") if path.is_file()}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_artifact_names_that_escape_are_400(target: Target, payload: str) -> None:
    blobs_before = _stored_blobs(target.artifacts)
    run_base = f"/api/v1/runs/{target.run_id}/artifacts/"
    for method, path, body in (
        ("PUT", run_base + payload, BODY),
        ("GET", run_base + payload, None),
        ("GET", f"/api/v1/models/{target.model}/versions/1/artifacts/{payload}", None),
    ):
        status, answer = target.send(method, path, body)
        assert status == 400, (method, path, status, answer)
        assert _one_json_line(status, answer)["error"] == "InvalidInput"
    with httpx.Client(base_url=f"{target.server.url}/api/v1") as http:
        names = [ref["path"] for ref in http.get(f"/runs/{target.run_id}/artifacts").json()]
    assert names == ["inside.txt"]  # nothing recorded
    assert _stored_blobs(target.artifacts) == blobs_before  # nothing stored
    assert not (Path("/tmp") / PLANT).exists() and not list(target.artifacts.parent.rglob(f"*{PLANT}*"))


# other routes that take a name: (method, path template with {p} for the payload)
NAMED_ROUTES = [
    ("GET", "/api/v1/blobs/{p}"),
    ("HEAD", "/api/v1/blobs/{p}"),
    ("PUT", "/api/v1/blobs/{p}"),
    ("GET", "/api/v1/models/{p}"),
    ("POST", "/api/v1/models/{p}/versions"),
    ("GET", "/api/v1/models/{p}/versions/1/artifacts"),
    ("GET", "/api/v1/models/{p}/versions/1/artifacts/model.pkl"),
    ("GET", "/api/v1/experiments-by-name/{p}"),
    ("GET", "/api/v1/models/churn/aliases/{p}"),
    ("PUT", "/api/v1/models/churn/aliases/{p}"),
    ("GET", "/api/v1/endpoints/{p}/feedback"),
    ("GET", "/api/v1/endpoints/{p}/monitor-windows"),
    ("GET", "/api/v1/loops/{p}"),
    ("GET", "/api/v1/runs/{p}/artifacts"),
]


@pytest.mark.parametrize(("method", "template"), NAMED_ROUTES, ids=[f"{m} {t}" for m, t in NAMED_ROUTES])
def test_names_that_escape_are_refused(target: Target, method: str, template: str) -> None:
    blobs_before = _stored_blobs(target.artifacts)
    for name, payload in PAYLOADS.items():
        body = {
            "PUT": json.dumps({"version": 1}).encode() if "aliases" in template else BODY,
            "POST": json.dumps({"source": "runs:/r/model"}).encode(),
        }.get(method)
        status, answer = target.send(method, template.format(p=payload), body)
        assert status in (400, 404, 422), (name, method, template, status, answer)
        if method != "HEAD":
            _one_json_line(status, answer)
    assert _stored_blobs(target.artifacts) == blobs_before
    with httpx.Client(base_url=f"{target.server.url}/api/v1") as http:
        models = [m["name"] for m in http.post("/models/search", json={}).json()]
        aliases = http.get("/models/churn/versions/1").json()["aliases"]
    assert models == ["churn"] and aliases == []


def test_logging_a_folder_with_a_link_outside_stores_nothing(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through RestStore: a symlink leading out of the logged folder is refused before any upload."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside the folder " + PLANT.encode())
    folder = tmp_path / "outputs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(f"inside the folder {PLANT}")
    os.symlink(secret, folder / "sub" / "leak.txt")
    monkeypatch.setenv("LOOPWRIGHT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOOPWRIGHT_STORE_URI", target.server.url)
    lw.reset_clients()
    try:
        with lw.start_run() as run:
            with pytest.raises(lw.InvalidInput, match="outside the folder"):
                lw.log_artifacts(folder, "outputs")
            assert lw.list_artifacts(run.id) == []
    finally:
        lw.reset_clients()
    blobs = BlobStore(str(target.artifacts))
    assert not blobs.exists(hashlib.sha256(secret.read_bytes()).hexdigest())
    inside = hashlib.sha256(f"inside the folder {PLANT}".encode()).hexdigest()
    assert not blobs.exists(inside)  # refused before anything was sent
