"""Incremental monitoring: closed windows keep their label joins, a pass reads only what is new,
and the stored windows equal a from-scratch backfill -- after late labels for an already-profiled
window (new, replaced and null labels) and after compaction rewrote the log files under them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from traffic import HOUR, T0, Traffic, give_feedback, labels_for, register_classifier, sample

import loopwright as lw
from loopwright.monitoring.joins import OWNER


def _results(windows: list[Any]) -> list[tuple[Any, ...]]:
    """What a window concluded (its alerts depend on the order passes judged it, so not those)."""
    return [
        (w.start_ms, w.status, w.closed, w.n_rows, w.labelled, w.label_status, w.drifted,
         w.share_drifted, w.drifted_features, w.metrics, w.estimated, w.versions)
        for w in windows
    ]  # fmt: skip


def test_incremental_passes_equal_a_backfill(sqlite_env: Path) -> None:
    register_classifier()
    model = lw.load_model("models:/churn/1")
    rng = np.random.default_rng(5)
    traffic = Traffic()
    hours: list[list[str]] = []
    for h in range(3):  # two flushes an hour: two log files, which compaction merges
        hours.append(traffic.send(sample(300, rng, shifted=h == 1), T0 + h * HOUR + 60_000, model, 1))
        traffic.flush()
        hours[-1] += traffic.send(sample(300, rng, shifted=h == 1), T0 + h * HOUR + 120_000, model, 1)
        traffic.flush()
    rows = dict(traffic.sent)
    give_feedback("churn", hours[0] + hours[1][:1], rows, rng)  # hour 1: one request of four labelled
    store = lw.get_client().store

    # passes as a schedule runs them: each closes one more window and reads only what is new
    for h in (1, 2):
        lw.monitor("churn", window="1h", now=T0 + h * HOUR + 60_000, include_open=False)
    joins = store.list_artifacts(OWNER, "churn")
    assert [j.path for j in joins] == [f"{HOUR}/{T0}.parquet", f"{HOUR}/{T0 + HOUR}.parquet"]

    # late labels for the profiled hour 1: the rest of it, one label replaced, one row's label nulled
    give_feedback("churn", hours[1][1:], rows, rng)
    first = hours[1][0]
    flipped = [int(1 - v) for v in labels_for(rows[first], rng)]
    flipped[0] = None  # type: ignore[call-overload]
    lw.log_feedback("churn", first, flipped)
    now = T0 + 3 * HOUR + 60_000
    passed = lw.monitor("churn", window="1h", now=now, include_open=False)
    assert [(w.start_ms - T0) // HOUR for w in passed] == [1, 2]  # relabelled hour 1, new hour 2
    assert passed[0].labelled == 600 - 1 and passed[0].label_status == "partial"
    incremental = _results(lw.list_monitor_windows("churn"))

    # the relabel replaced hour 1's join (new labels, the pass's clock as its watermark)
    assert store.list_artifacts(OWNER, "churn")[1].digest != joins[1].digest

    scratch = lw.monitor("churn", window="1h", since=T0, now=now, include_open=False)
    assert _results(scratch) == incremental

    # compaction rewrites the files under hour 1: its join no longer matches and it is rebuilt from
    # the log (the same rows, so the same results) when its next labels come
    report = lw.gc(grace_seconds=0, compact_predictions="1h")
    assert report.details["compacted_files_written"] >= 1
    lw.log_feedback("churn", first, [int(v) for v in labels_for(rows[first], rng)])
    lw.monitor("churn", window="1h", now=now + 60_000, include_open=False)
    after = _results(lw.list_monitor_windows("churn"))
    again = lw.monitor("churn", window="1h", since=T0, now=now + 60_000, include_open=False)
    assert _results(again) == after
    assert after[1][4] == 600 and after[1][5] == "complete"

    # a join whose blob is gone: that window is relabelled from the log, the pass goes on
    hour2 = store.list_artifacts(OWNER, "churn")[2]
    assert hour2.path == f"{HOUR}/{T0 + 2 * HOUR}.parquet"
    path = lw.get_client().blobs.local_path(hour2.digest)
    assert path is not None
    path.unlink()
    give_feedback("churn", hours[2][:1], rows, rng)
    lw.monitor("churn", window="1h", now=now + 120_000, include_open=False)
    final = _results(lw.list_monitor_windows("churn"))
    assert final[2][4] == 250  # its first request
    assert (
        _results(lw.monitor("churn", window="1h", since=T0, now=now + 120_000, include_open=False)) == final
    )
    traffic.close()


def test_label_join_roundtrip_keeps_types_and_nulls() -> None:
    import pandas as pd

    from loopwright.monitoring.joins import LabelJoin

    frame = pd.DataFrame(
        {
            "request_id": ["a", "a", "b"],
            "row": [0, 1, 0],
            "model_name": ["m", "m", None],
            "model_version": pd.array([1, 1, None], dtype="Int64"),
            "prediction": ["yes", "no", "yes"],
            "score": [0.7, np.nan, 0.6],
        }
    )
    join = LabelJoin.build(frame, ["yes", None, True], identity="x", feedback_ms=1)
    data = join.to_bytes()
    assert data is not None
    back = LabelJoin.from_bytes(data)
    pd.testing.assert_frame_equal(back.frame, frame)
    assert back.labels.tolist() == ["yes", None, True]
    mixed = LabelJoin.build(
        frame.assign(prediction=pd.Series([[1], "x", 2.0], dtype=object)),
        [None] * 3,
        identity="x",
        feedback_ms=1,
    )
    assert mixed.to_bytes() is None  # not storable: that window is relabelled from the log


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("ERROR", logger="loopwright")
