"""An inference server checks a team server's tokens by asking it (``GET /api/v1/whoami``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import loopwright as lw
from cli_process import PlatformServer
from loopwright.auth import TokenAuthenticator
from loopwright.errors import Unauthenticated
from loopwright.store.rest import RestStore


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], str]]:
    home = tmp_path_factory.mktemp("team")
    uri = f"sqlite:///{home}/lw.db"
    tokens = {role: lw.create_token(f"{role}-user", role, store_uri=uri)[1] for role in ("viewer", "admin")}
    revoked, secret = lw.create_token("gone", "editor", store_uri=uri)
    lw.revoke_token(revoked.id, store_uri=uri)
    tokens["revoked"] = secret
    server = PlatformServer("--store-uri", uri, "--artifact-uri", str(home / "artifacts"), "--auth")
    try:
        yield server.url, tokens, uri
    finally:
        server.stop()


def test_whoami_answers_the_callers_own_record(team: tuple[str, dict[str, str], str]) -> None:
    url, tokens, _ = team
    answer = httpx.get(f"{url}/api/v1/whoami", headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["user"] == "viewer-user" and body["role"] == "viewer"
    assert tokens["viewer"] not in answer.text  # the record never carries the secret
    refused = httpx.get(f"{url}/api/v1/whoami", headers={"Authorization": f"Bearer {tokens['revoked']}"})
    assert refused.status_code == 401 and refused.json()["error"] == "Unauthenticated"


def test_a_rest_store_authenticates_tokens_through_its_server(team: tuple[str, dict[str, str], str]) -> None:
    url, tokens, _ = team
    store = RestStore(url, token=tokens["viewer"])  # what `serve --store-tokens` holds against a team server
    try:
        auth = TokenAuthenticator(store, cache_seconds=0)
        principal = auth.authenticate(tokens["admin"])
        assert (principal.user, principal.role) == ("admin-user", "admin")
        with pytest.raises(Unauthenticated):
            auth.authenticate(tokens["revoked"])
        with pytest.raises(Unauthenticated):
            auth.authenticate("lw_" + "x" * 43)
    finally:
        store.close()


def test_without_auth_the_server_issues_no_identities(tmp_path: Path) -> None:
    server = PlatformServer(
        "--store-uri", f"sqlite:///{tmp_path}/lw.db", "--artifact-uri", str(tmp_path / "a")
    )
    try:
        assert RestStore(server.url).identify_token("lw_anything") is None
    finally:
        server.stop()
