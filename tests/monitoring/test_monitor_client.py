"""Monitor.run(client=) reads and writes the store it is given, not the environment's (issue 18, item 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from traffic import HOUR, T0, Traffic, give_feedback, register_classifier, sample

import loopwright as lw
from loopwright.monitoring.live import Monitor


def test_monitor_run_uses_the_client_it_is_given(
    sqlite_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_classifier()
    model = lw.load_model("models:/churn/1")
    rng = np.random.default_rng(5)
    traffic = Traffic()
    base = traffic.send(sample(1000, rng), T0 + 60_000, model, 1)
    shifted = traffic.send(sample(1000, rng, shifted=True), T0 + HOUR + 60_000, model, 1)
    traffic.close()
    give_feedback("churn", base + shifted, dict(traffic.sent), rng)
    served = lw.get_client()  # the store that holds the model, its profile, predictions and labels

    # the environment now names another, empty store
    monkeypatch.setenv("LOOPWRIGHT_HOME", str(tmp_path / "elsewhere"))
    lw.reset_clients()
    now = T0 + 2 * HOUR + 120_000
    windows = Monitor("churn", "1h", include_open=False).run(since=T0, now=now, client=served)
    assert [w.status for w in windows] == ["ok", "drifted"]  # profile found: drift tested per version
    assert [w.n_rows for w in windows] == [1000, 1000]
    assert windows[1].drifted_features == ["f0", "f1"]
    assert all(w.labelled == 1000 and "accuracy" in w.metrics for w in windows)
    assert len(served.store.list_monitor_windows("churn")) == 2
    assert lw.get_client().store.list_monitor_windows("churn") == []
