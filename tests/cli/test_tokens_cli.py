"""``loopwright tokens``: create prints the secret alone on stdout's last line; list never shows it; revoke."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_process import run_cli
from loopwright.auth import hash_token
from loopwright.store.sql import SqlStore


@pytest.mark.parametrize("store_uri", ["sqlite", "postgresql"], indirect=True)
def test_create_list_revoke(lw_env: Path, store_uri: str) -> None:
    # as a shell script would: TOKEN=$(loopwright tokens create ...), stderr left to the terminal
    script = 'TOKEN=$("$PY" -m loopwright.cli tokens create --user ana --role editor --expires 30d) && echo "$TOKEN"'
    env = {**os.environ, "PY": sys.executable, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    shell = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert shell.returncode == 0, shell.stderr
    secret = shell.stdout.strip()
    assert secret.startswith("lw_") and len(secret.split()) == 1 and "\n" not in secret
    assert "created token" in shell.stderr and "ana" in shell.stderr and secret not in shell.stderr

    created = run_cli("tokens", "create", "--user", "bo", "--role", "viewer")
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines()[-1].startswith("lw_") and len(created.stdout.splitlines()) == 1
    second = created.stdout.splitlines()[-1]

    store = SqlStore(store_uri)
    try:
        token = store.find_token(hash_token(secret))
        assert token is not None and (token.user, token.role) == ("ana", "editor") and token.expires
        assert [e.action for e in store.list_audit_log("ana")] == ["token_created"]
    finally:
        store.close()

    for output in ("table", "json", "csv"):
        listed = run_cli("tokens", "list", "--output", output, "--full-ids")
        assert listed.returncode == 0, listed.stderr
        assert secret not in listed.stdout + listed.stderr and second not in listed.stdout + listed.stderr
        assert hash_token(secret) not in listed.stdout
        assert "ana" in listed.stdout and "bo" in listed.stdout and token.id in listed.stdout
    rows = json.loads(run_cli("tokens", "list", "--output", "json").stdout)
    assert {r["user"]: r["role"] for r in rows} == {"ana": "editor", "bo": "viewer"}
    assert all(
        set(r) == {"id", "user", "role", "created", "created_by", "expires", "revoked", "last_used"}
        for r in rows
    )

    revoked = run_cli("tokens", "revoke", token.id[:8])
    assert revoked.returncode == 0 and token.id in revoked.stdout, revoked.stderr
    assert [r["user"] for r in json.loads(run_cli("tokens", "list", "--output", "json").stdout)] == ["bo"]
    everything = json.loads(run_cli("tokens", "list", "--all", "--output", "json").stdout)
    assert [r["revoked"] is not None for r in everything] == [True, False]


def test_store_uri_option_and_one_line_errors(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'other.db'}"
    created = run_cli("tokens", "create", "--user", "root", "--role", "admin", "--store-uri", uri)
    assert created.returncode == 0, created.stderr
    listed = run_cli("tokens", "list", "--output", "csv", "--store-uri", uri)
    assert listed.returncode == 0 and "root,admin" in listed.stdout
    bad = run_cli("tokens", "create", "--user", "ana", "--role", "owner", "--store-uri", uri)
    assert bad.returncode == 1 and bad.stdout == ""
    assert "viewer, editor, maintainer or admin" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    missing = run_cli("tokens", "revoke", "0123456789abcdef", "--store-uri", uri)
    assert missing.returncode == 1 and "not found" in missing.stderr
    expires = run_cli(
        "tokens", "create", "--user", "ana", "--role", "viewer", "--expires", "soon", "--store-uri", uri
    )
    assert expires.returncode == 1 and "not a duration" in expires.stderr and expires.stdout == ""
