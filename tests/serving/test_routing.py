"""Weighted traffic split, sticky routing by X-Routing-Key, and fire-and-forget shadow traffic."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import yaml
from serving_models import POISON, Fragile

import loopwright as lw
from conftest import Registered, records
from loopwright.serving import ServerHandle


def _deployment(tmp_path: Path, body: dict[str, object]) -> Path:
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump({"endpoints": {"churn": body}}))
    return path


def test_weighted_split_proportions(
    registered: Registered, tmp_path: Path, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    path = _deployment(
        tmp_path,
        {
            "routes": [
                {"model": "models:/churn@champion", "weight": 80},
                {"model": "models:/churn@challenger", "weight": 20},
            ]
        },
    )
    server = serve(str(path), log_predictions=False)
    payload = {"instances": records(registered.X.iloc[:1])}
    n = 600
    versions = Counter(
        http.post(f"{server.url}/endpoints/churn/predict", json=payload).headers["x-model-version"]
        for _ in range(n)
    )
    assert set(versions) == {"1", "2"}
    # binomial(600, 0.2): mean 120, sd 9.8; five standard deviations either way
    assert abs(versions["2"] - 120) < 49, versions


def test_sticky_routing_by_header(
    registered: Registered, tmp_path: Path, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    path = _deployment(
        tmp_path,
        {
            "routes": [
                {"model": "models:/churn@champion", "weight": 50},
                {"model": "models:/churn@challenger", "weight": 50},
            ]
        },
    )
    server = serve(str(path), log_predictions=False)
    payload = {"instances": records(registered.X.iloc[:1])}
    seen: dict[str, set[str]] = {}
    for user in range(40):
        for _ in range(4):
            r = http.post(
                f"{server.url}/endpoints/churn/predict",
                json=payload,
                headers={"X-Routing-Key": f"user-{user}"},
            )
            seen.setdefault(f"user-{user}", set()).add(r.headers["x-model-version"])
    assert all(len(v) == 1 for v in seen.values())  # one user, one version
    assert {next(iter(v)) for v in seen.values()} == {"1", "2"}  # and users are spread


def test_shadow_answers_are_logged_never_returned(
    registered: Registered, tmp_path: Path, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    path = _deployment(
        tmp_path, {"routes": [{"model": "models:/churn@champion"}], "shadow": "models:/churn/2"}
    )
    server = serve(str(path))
    rows = registered.X.iloc[:10]
    ids = []
    for i in range(10):
        r = http.post(
            f"{server.url}/endpoints/churn/predict", json={"instances": records(rows.iloc[i : i + 1])}
        )
        assert r.status_code == 200 and r.headers["x-model-version"] == "1"
        assert r.json()["predictions"] == registered.gbc.predict(rows.iloc[i : i + 1]).tolist()
        ids.append(r.json()["request_id"])
    server.app.prediction_log.flush()

    primary = lw.list_predictions("churn")
    assert primary["request_id"].tolist() == ids and set(primary["model_version"]) == {1}
    both = lw.list_predictions("churn", include_shadow=True)
    shadow = both[both["shadow"]]
    assert set(shadow["model_version"]) == {2}
    assert sorted(shadow["request_id"]) == sorted(ids)
    shadow = shadow.set_index("request_id").loc[ids]
    assert shadow["prediction"].tolist() == registered.logreg.predict(rows).tolist()
    metrics = http.get(f"{server.url}/metrics").text
    assert 'loopwright_shadow_requests_total{endpoint="churn",outcome="ok",version="2"} 10.0' in metrics


def test_failing_shadow_never_fails_the_primary(
    registered: Registered, tmp_path: Path, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    limits = tmp_path / "limits.json"
    limits.write_text(json.dumps({"poison": POISON}))
    example = registered.X.head(3)
    with lw.start_run():
        info = lw.log_model(Fragile(str(limits)), "model", input_example=example)
    lw.register_model(info.uri, "churn")  # version 3: raises on the poison row
    path = _deployment(
        tmp_path, {"routes": [{"model": "models:/churn@champion"}], "shadow": "models:/churn/3"}
    )
    server = serve(str(path), log_predictions=False)
    poison = pd.DataFrame([{**records(example.iloc[:1])[0], "f0": POISON + 1}])
    for _ in range(5):
        r = http.post(f"{server.url}/endpoints/churn/predict", json={"instances": records(poison)})
        assert r.status_code == 200 and r.json()["predictions"] == registered.gbc.predict(poison).tolist()
    expected = 'loopwright_shadow_requests_total{endpoint="churn",outcome="error",version="3"} 5.0'
    for _ in range(200):  # the shadow answers after the primary: wait for the fifth
        if expected in http.get(f"{server.url}/metrics").text:
            break
        time.sleep(0.05)
    assert expected in http.get(f"{server.url}/metrics").text
