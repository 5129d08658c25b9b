"""A ServingApp mounted in a user's process leaves the process as it found it (issue 18, item 4)."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable
from typing import Any

import httpx

from conftest import FEATURES, Registered
from loopwright.serving import ServerHandle


def test_app_in_a_users_process_changes_no_process_wide_state(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    gc.unfreeze()
    filters: list[Any] = list(warnings.filters)
    handle = serve("models:/churn@champion", log_predictions=False)
    row = {f: 0.1 for f in FEATURES}
    response = http.post(f"{handle.url}/endpoints/churn/predict", json={"instances": [row]})
    assert response.status_code == 200, response.text
    assert gc.get_freeze_count() == 0  # gc.freeze() is the server process's choice (serve(), workers)
    assert list(warnings.filters) == filters


def test_freeze_gc_is_an_explicit_option(
    registered: Registered, serve: Callable[..., ServerHandle], http: httpx.Client
) -> None:
    gc.unfreeze()
    try:
        handle = serve("models:/churn@champion", log_predictions=False, freeze_gc=True)
        assert http.get(f"{handle.url}/v2/health/ready").status_code == 200
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
