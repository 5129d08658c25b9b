"""``loopwright serve --store-tokens``: store-issued tokens on the predict and admin routes (real uvicorn)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

import loopwright as lw
from cli_process import run_cli
from conftest import Registered, records
from loopwright.errors import PermissionDenied
from loopwright.serving import ServerHandle
from loopwright.serving.server import serve as serve_forever


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_store_tokens_predict_and_admin(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    viewer, viewer_secret = lw.create_token("ana", "viewer")
    _, maintainer_secret = lw.create_token("ops", "maintainer")
    _, expired_secret = lw.create_token("old", "admin", expires="1ms")
    server = serve("models:/churn@champion", store_tokens=True)
    payload = {"instances": records(registered.X.iloc[:2])}
    predict = f"{server.url}/endpoints/churn/predict"
    oip = {"inputs": [{"name": f, "shape": [1], "datatype": "FP64", "data": [0.1]} for f in registered.X]}

    assert http.post(predict, json=payload).status_code == 401  # auth is on without any fixed token
    ok = http.post(predict, json=payload, headers=bearer(viewer_secret))
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2
    assert (
        http.post(f"{server.url}/v2/models/churn/infer", json=oip, headers=bearer(viewer_secret)).status_code
        == 200
    )
    assert http.post(predict, json=payload, headers=bearer(maintainer_secret)).status_code == 200

    refused = http.post(f"{server.url}/admin/reload", headers=bearer(viewer_secret))
    assert refused.status_code == 403
    assert refused.json()["error"] == "this needs the maintainer role; token of 'ana' has viewer"
    assert http.post(f"{server.url}/admin/reload", headers=bearer(maintainer_secret)).status_code == 200

    for wrong in (expired_secret, "lw_not_a_token"):
        answer = http.post(predict, json=payload, headers=bearer(wrong))
        assert answer.status_code == 401 and answer.json()["error"] == "invalid or expired token"
        assert wrong not in answer.text

    lw.revoke_token(viewer.id)
    time.sleep(1.05)  # positive lookups are reused for at most a second
    revoked = http.post(predict, json=payload, headers=bearer(viewer_secret))
    assert (
        revoked.status_code == 401 and revoked.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    )
    used = next(t for t in lw.list_tokens(include_revoked=True) if t.user == "ana")
    assert used.last_used is not None  # recorded (at most once a minute)


def test_fixed_tokens_keep_working_beside_store_tokens(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    _, editor_secret = lw.create_token("ed", "editor")
    server = serve("models:/churn@champion", token="s3cret", admin_token="0per4tor", store_tokens=True)
    payload = {"instances": records(registered.X.iloc[:1])}
    predict = f"{server.url}/endpoints/churn/predict"
    for secret in ("s3cret", "0per4tor", editor_secret):
        assert http.post(predict, json=payload, headers=bearer(secret)).status_code == 200, secret
    assert http.post(f"{server.url}/admin/reload", headers=bearer("0per4tor")).status_code == 200
    assert http.post(f"{server.url}/admin/reload", headers=bearer("s3cret")).status_code == 403
    assert http.post(f"{server.url}/admin/reload", headers=bearer(editor_secret)).status_code == 403
    # an unknown path still answers 401 before telling anything
    assert http.get(f"{server.url}/no/such/route").status_code == 401
    assert http.get(f"{server.url}/no/such/route", headers=bearer(editor_secret)).status_code == 404


def test_store_tokens_count_as_auth_for_the_bind_check(registered: Registered) -> None:
    with pytest.raises(PermissionDenied, match="--store-tokens"):
        serve_forever("models:/churn@champion", host="0.0.0.0", port=0, token="")
    refused = run_cli("serve", "models:/churn@champion", "--host", "0.0.0.0", "--port", "1", "--help")
    assert "--store-tokens" in refused.stdout
