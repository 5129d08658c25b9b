"""Roles by route classes against a real ``loopwright server --auth`` on SQLite.

Each kind of request (read, tracking write, registry write, maintainer action, admin action) is
sent with no token, a bad, revoked or expired one, and a token of each role: 401 (one JSON line,
``WWW-Authenticate``) without a valid token, 403 (one JSON line naming the role needed) below the
route's role, 2xx from it up. Every 403 and every change is in the audit log with the token's user,
never ``LOOPWRIGHT_USER`` (``mallory`` in both the client's and the server's environment).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import loopwright as lw
from cli_process import PlatformServer, run_cli
from loopwright.auth import hash_token, role_allows
from loopwright.store.entities import now_ms
from loopwright.store.sql import SqlStore
from loopwright.store.sql.tables import audit_log

ROLES = ("viewer", "editor", "maintainer", "admin")
USERS = {"viewer": "vera", "editor": "eddie", "maintainer": "mona", "admin": "ada"}
NOT_AUTHENTICATED = ("none", "bad", "revoked", "expired")
IMPOSTOR = "mallory"  # LOOPWRIGHT_USER of client and server: never the audit's actor


@dataclass
class Deployment:
    server: PlatformServer
    store_uri: str
    secrets: dict[str, str]  # role or NOT_AUTHENTICATED kind → bearer value ("" for none)
    engine: sa.Engine

    def client(self, who: str) -> httpx.Client:
        secret = self.secrets[who]
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=f"{self.server.url}/api/v1", headers=headers, timeout=30)

    def last_audit_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit_log.c.id), 0))).scalar_one())

    def audit_since(self, after_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(audit_log).where(audit_log.c.id > after_id)).all()
        return [dict(row._mapping) for row in rows]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("server-roles")
    uri = f"sqlite:///{home}/lw.db"
    env = {"LOOPWRIGHT_USER": IMPOSTOR, "LOOPWRIGHT_STORE_URI": uri, "LOOPWRIGHT_HOME": str(home)}
    created = run_cli("tokens", "create", "--user", USERS["admin"], "--role", "admin", env=env)
    assert created.returncode == 0, created.stderr
    secrets = {"admin": created.stdout.strip().splitlines()[-1], "none": "", "bad": "lw_" + "x" * 43}
    for role in ("viewer", "editor", "maintainer"):
        secrets[role] = lw.create_token(USERS[role], role, store_uri=uri)[1]
    revoked, secrets["revoked"] = lw.create_token("rex", "admin", store_uri=uri)
    lw.revoke_token(revoked.id, store_uri=uri)
    secrets["expired"] = "lw_" + uuid.uuid4().hex + uuid.uuid4().hex
    store = SqlStore(uri)
    store.create_token(
        "old", "admin", hash_token(secrets["expired"]), actor="setup", expires_ms=now_ms() - 60_000
    )
    store.close()
    server = PlatformServer(
        "--auth",
        "--store-uri",
        uri,
        "--artifact-uri",
        str(home / "artifacts"),
        env={"LOOPWRIGHT_USER": IMPOSTOR},
        timeout=240,
    )
    engine = sa.create_engine(uri)
    try:
        yield Deployment(server, uri, secrets, engine)
    finally:
        engine.dispose()
        log = server.stop()
        assert "Traceback" not in log, log[-3000:]
        for secret in secrets.values():
            assert not secret or secret not in log  # tokens never reach the server's log


def _name() -> str:
    return f"m{uuid.uuid4().hex[:10]}"


# An action prepares what it needs as admin (skipped without a valid token: authentication comes
# first, so made-up ids do), then sends one request as the role under test. It names the Store
# method (the denial's audit name), the least role, and the audit entity its change writes (None:
# a read, or a change the audit log does not cover).
Prepared = dict[str, Any]


@dataclass(frozen=True)
class Action:
    method: str
    role: str
    send: Callable[[httpx.Client, Prepared], httpx.Response]
    prepare: Callable[[httpx.Client], Prepared] = lambda admin: {}
    audits: str | None = None


MADE_UP = {"run": "0" * 32, "experiment": "0" * 32, "model": "nomodel", "version": 1, "token": "0" * 32}


def _experiment(admin: httpx.Client) -> Prepared:
    return {"experiment": admin.post("/experiments", json={"name": _name()}).raise_for_status().json()["id"]}


def _run(admin: httpx.Client) -> Prepared:
    body = {"experiment_id": _experiment(admin)["experiment"]}
    return {"run": admin.post("/runs", json=body).raise_for_status().json()["id"]}


def _version(admin: httpx.Client) -> Prepared:
    name = _name()
    answer = admin.post(f"/models/{name}/versions", json={"source": "runs:/r/model"}).raise_for_status()
    return {"model": name, "version": int(answer.json()["version"])}


def _token(admin: httpx.Client) -> Prepared:
    body = {"user": "tmp", "role": "viewer", "token_hash": hash_token(uuid.uuid4().hex)}
    return {"token": admin.post("/tokens", json=body).raise_for_status().json()["id"]}


def _point(run: str) -> list[Any]:
    return [run, {"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}]


def _new_token() -> dict[str, str]:
    return {"user": "newbie", "role": "viewer", "token_hash": hash_token(uuid.uuid4().hex)}


ACTIONS = [
    # reads
    Action("get_run", "viewer", lambda http, p: http.get(f"/runs/{p['run']}"), _run),
    Action("search_runs", "viewer", lambda http, p: http.post("/runs/search", json={"filter": None})),
    # tracking writes
    Action(
        "create_experiment",
        "editor",
        lambda http, p: http.post("/experiments", json={"name": _name()}),
        audits="experiment",
    ),
    Action(
        "delete_experiment",
        "editor",
        lambda http, p: http.delete(f"/experiments/{p['experiment']}"),
        _experiment,
        "experiment",
    ),
    Action(
        "create_run",
        "editor",
        lambda http, p: http.post("/runs", json={"experiment_id": p["experiment"]}),
        _experiment,
    ),
    Action("delete_run", "editor", lambda http, p: http.delete(f"/runs/{p['run']}"), _run, "run"),
    Action(
        "log_metrics",
        "editor",
        lambda http, p: http.post("/metrics", json={"points": [_point(p["run"])]}),
        _run,
    ),
    Action(
        "put_run_artifact",
        "editor",
        lambda http, p: http.put(f"/runs/{p['run']}/artifacts/a/b.txt", content=b"x"),
        _run,
    ),
    # registry writes
    Action(
        "create_model_version",
        "editor",
        lambda http, p: http.post(f"/models/{_name()}/versions", json={"source": "runs:/r/model"}),
        audits="model_version",
    ),
    # maintainer actions
    Action(
        "set_alias",
        "maintainer",
        lambda http, p: http.put(f"/models/{p['model']}/aliases/champion", json={"version": p["version"]}),
        _version,
        "alias",
    ),
    Action(
        "set_model_version_status",
        "maintainer",
        lambda http, p: http.post(
            f"/models/{p['model']}/versions/{p['version']}/status", json={"status": "archived"}
        ),
        _version,
        "model_version",
    ),
    Action(
        "set_loop_paused",
        "maintainer",
        lambda http, p: http.post(f"/loops/{_name()}/paused", json={"paused": True, "reason": "incident"}),
    ),
    # admin actions
    Action("create_token", "admin", lambda http, p: http.post("/tokens", json=_new_token()), audits="token"),
    Action("list_tokens", "admin", lambda http, p: http.get("/tokens")),
    Action(
        "revoke_token", "admin", lambda http, p: http.post(f"/tokens/{p['token']}/revoke"), _token, "token"
    ),
    Action("gc", "admin", lambda http, p: http.post("/admin/gc", params={"grace_seconds": 3600})),
]


def _one_line_error(response: httpx.Response, kind: str) -> str:
    assert "\n" not in response.text.strip(), response.text
    body = json.loads(response.text)
    assert set(body) == {"error", "message"} and body["error"] == kind, body
    return str(body["message"])


# every role against every action; a revoked or expired token against one action of each class
REPRESENTATIVE = {"get_run", "create_run", "create_model_version", "set_alias", "create_token"}
CASES = [
    pytest.param(action, who, id=f"{action.method}-{who}")
    for action in ACTIONS
    for who in (*NOT_AUTHENTICATED, *ROLES)
    if who not in ("revoked", "expired") or action.method in REPRESENTATIVE
]


@pytest.mark.parametrize(("action", "who"), CASES)
def test_role_matrix(
    deployment: Deployment, action: Action, who: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPWRIGHT_USER", IMPOSTOR)
    with deployment.client("admin") as admin, deployment.client(who) as http:
        prepared = MADE_UP if who in NOT_AUTHENTICATED else action.prepare(admin)
        before = deployment.last_audit_id()
        response = action.send(http, prepared)
        entries = deployment.audit_since(before)
    assert response.status_code < 500, response.text
    assert all(entry["actor"] != IMPOSTOR for entry in entries)
    if who in NOT_AUTHENTICATED:
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        _one_line_error(response, "Unauthenticated")
        assert entries == []  # no identity, nothing changed
    elif not role_allows(who, action.role):
        assert response.status_code == 403, response.text
        message = _one_line_error(response, "PermissionDenied")
        assert action.role in message and who in message
        denial = [(e["entity"], e["name"], e["action"], e["actor"]) for e in entries]
        assert denial == [("server", action.method, "denied", USERS[who])]
        assert json.loads(entries[0]["after_json"])["needs"] == action.role
    else:
        assert 200 <= response.status_code < 300, response.text
        if action.audits:
            assert [e["entity"] for e in entries] == [action.audits], entries
            assert entries[0]["actor"] == USERS[who]


def test_denied_write_changes_nothing(deployment: Deployment) -> None:
    name = _name()
    with deployment.client("viewer") as http, deployment.client("admin") as admin:
        assert http.post("/experiments", json={"name": name}).status_code == 403
        assert admin.get(f"/experiments-by-name/{name}").json() is None
        model, version = _version(admin).values()
        assert http.put(f"/models/{model}/aliases/champion", json={"version": version}).status_code == 403
        assert admin.get(f"/models/{model}/versions/{version}").json()["aliases"] == []


def test_rest_store_set_alias_needs_maintainer(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The unchanged Python API through RestStore: a viewer's token is refused naming the role."""
    with deployment.client("admin") as admin:
        model, version = _version(admin).values()
    monkeypatch.setenv("LOOPWRIGHT_HOME", str(tmp_path))
    monkeypatch.setenv("LOOPWRIGHT_STORE_URI", deployment.server.url)
    monkeypatch.setenv("LOOPWRIGHT_USER", IMPOSTOR)
    monkeypatch.setenv("LOOPWRIGHT_TOKEN", deployment.secrets["viewer"])
    lw.reset_clients()
    try:
        with pytest.raises(lw.PermissionDenied, match="maintainer"):
            lw.set_alias(model, "champion", version)
        monkeypatch.setenv("LOOPWRIGHT_TOKEN", deployment.secrets["maintainer"])
        lw.reset_clients()
        before = deployment.last_audit_id()
        assert "champion" in lw.set_alias(model, "champion", version).aliases
    finally:
        lw.reset_clients()
    moved = [e for e in deployment.audit_since(before) if e["entity"] == "alias"]
    assert [(e["name"], e["actor"]) for e in moved] == [(model, USERS["maintainer"])]
