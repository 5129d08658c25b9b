"""Secure defaults of ``loopwright server``: body and upload limits, loopback unless --auth, no secrets out.

Webhook secrets are not covered here: alert webhooks are configured on the monitoring side
(``loopwright monitor``), never sent to or stored by the server.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import loopwright as lw
from cli_process import PlatformServer, free_port, one_line_error, run_cli

MIB = 1 << 20
BODY_MB, UPLOAD_MB = 0.05, 0.2  # small limits: the tests send a little more than each
PG_PASSWORD = "s3cretpw"


@dataclass
class Limited:
    server: PlatformServer
    home: Path
    admin: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.admin}"}
        return httpx.Client(base_url=f"{self.server.url}/api/v1", headers=headers, timeout=60)

    def files(self) -> list[Path]:
        """Every file under the artifact root and the server's spool (its TMPDIR)."""
        return sorted(
            p for folder in ("artifacts", "spool") for p in (self.home / folder).rglob("*") if p.is_file()
        )


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    home = tmp_path_factory.mktemp("server-limits")
    (home / "spool").mkdir()
    uri = f"sqlite:///{home}/lw.db"
    _, admin = lw.create_token("ada", "admin", store_uri=uri)
    server = PlatformServer(
        "--auth",
        "--store-uri",
        uri,
        "--artifact-uri",
        str(home / "artifacts"),
        "--max-body-mb",
        str(BODY_MB),
        "--max-upload-mb",
        str(UPLOAD_MB),
        env={"TMPDIR": str(home / "spool")},
        timeout=240,
    )
    try:
        yield Limited(server, home, admin)
    finally:
        log = server.stop()
        assert admin not in log and "Traceback" not in log, log[-3000:]


def _one_json_line(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert "\n" not in response.text.strip()
    body = json.loads(response.text)
    assert set(body) == {"error", "message"}, body
    return str(body["message"])


def test_json_body_over_the_limit_is_413_and_stores_nothing(limited: Limited) -> None:
    tags = {f"k{i}": "v" * 100 for i in range(int(BODY_MB * MIB / 100) + 10)}
    with limited.client() as http:
        declared = http.post("/experiments", json={"name": "big", "tags": tags})
        assert "larger than" in _one_json_line(declared, 413)

        def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts what arrives
            data = json.dumps({"name": "big", "tags": tags}).encode()
            for start in range(0, len(data), 4096):
                yield data[start : start + 4096]

        chunked = http.post("/experiments", content=chunks(), headers={"Content-Type": "application/json"})
        assert "larger than" in _one_json_line(chunked, 413)
        assert http.get("/experiments-by-name/big").json() is None
        small = http.post("/experiments", json={"name": "small", "tags": {"k": "v"}})
        assert small.status_code == 200, small.text


def test_upload_over_the_limit_is_413_and_leaves_no_blob(limited: Limited) -> None:
    with limited.client() as http:
        experiment = http.post("/experiments", json={"name": "uploads"}).json()["id"]
        run = http.post("/runs", json={"experiment_id": experiment}).json()["id"]
        before = limited.files()

        def chunks() -> Iterator[bytes]:
            for _ in range(int(UPLOAD_MB * MIB / 65536) + 4):
                yield b"x" * 65536

        refused = http.put(f"/runs/{run}/artifacts/big.bin", content=chunks())
        assert "larger than" in _one_json_line(refused, 413)
        assert http.get(f"/runs/{run}/artifacts").json() == []
        assert limited.files() == before  # no blob, no spooled temp file left behind
        fits = http.put(f"/runs/{run}/artifacts/small.bin", content=b"x" * 1000)
        assert fits.status_code == 200, fits.text


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_non_loopback_bind_without_auth_is_refused(tmp_path: Path) -> None:
    port = free_port()
    store = ("--store-uri", f"sqlite:///{tmp_path}/lw.db", "--artifact-uri", str(tmp_path / "artifacts"))
    result = run_cli("server", "--host", "0.0.0.0", "--port", str(port), *store, timeout=120)
    one_line_error(result, "--auth", "--insecure-no-auth")
    assert not _listening(port)
    server = PlatformServer("--host", "0.0.0.0", "--insecure-no-auth", *store, timeout=240)
    try:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
    finally:
        server.stop()


def test_an_unreachable_store_never_shows_its_password(tmp_path: Path) -> None:
    uri = f"postgresql+psycopg://lw:{PG_PASSWORD}@127.0.0.1:1/x"
    result = run_cli(
        "server", "--port", str(free_port()), "--store-uri", uri, "--artifact-uri", str(tmp_path), timeout=120
    )
    assert result.returncode != 0
    assert PG_PASSWORD not in result.stdout + result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


TOKEN_LIKE = re.compile(r"lw_[A-Za-z0-9_\-]{30,}")


def test_tokens_never_appear_in_errors_metrics_openapi_or_logs(limited: Limited) -> None:
    wrong = "lw_" + "W" * 43
    with limited.client() as http:
        _, viewer = lw.create_token("vera", "viewer", store_uri=f"sqlite:///{limited.home}/lw.db")
        secrets = (limited.admin, viewer, wrong)
        answers = [
            httpx.get(f"{limited.server.url}/api/v1/tokens", headers={"Authorization": f"Bearer {wrong}"}),
            http.get("/tokens", headers={"Authorization": f"Bearer {viewer}"}),  # 403
            http.get("/runs/nope"),
            http.post("/tokens", json={"user": "x", "role": "root", "token_hash": "0" * 64}),
            http.get("/tokens"),
        ]
        assert [a.status_code for a in answers] == [401, 403, 404, 422, 200]
        metrics = httpx.get(f"{limited.server.url}/metrics", headers={"Authorization": f"Bearer {viewer}"})
        openapi = http.get("/openapi.json")
    assert metrics.status_code == 200 and openapi.status_code == 200
    document = openapi.json()
    examples = [
        json.dumps(value) for key, value in _walk(document) if key in ("example", "examples", "default")
    ]
    for text in [*(a.text for a in answers), metrics.text, openapi.text, limited.server.log(), *examples]:
        for secret in secrets:
            assert secret not in text
        assert not TOKEN_LIKE.search(text)
    assert "token_hash" not in answers[-1].text  # token listings show neither secret nor hash


def _walk(node: object) -> Iterator[tuple[str, object]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)
