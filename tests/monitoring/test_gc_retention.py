"""Prediction-log retention and compaction through ``lw.gc`` / ``loopwright gc``, on SQLite,
PostgreSQL and through a server: compacted hours give the monitor the same rows and verdicts,
expiry drops only what no monitor window, pending label join, run or registered version needs,
and the freed blobs are really gone and reported.

Traffic goes through the serving ``PredictionLog`` (the server's writer) with chosen timestamps in
January 2026, so "older than 30 days" holds for all of it and the monitor decides what stays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from traffic import HOUR, T0, Traffic, give_feedback, register_classifier, sample

import loopwright as lw
from cli_process import run_cli_here
from loopwright.errors import InvalidInput, NotFound
from loopwright.serving.inputs import ModelInput
from loopwright.serving.prediction_log import PredictionLog
from loopwright.store import PredictionLogFile


def _hours(traffic: Traffic, model: lw.LoadedModel, hours: range, flushes: int, rows: int) -> list[list[str]]:
    """``flushes`` small files per hour (one flush each), ``rows`` rows per file; request ids by hour."""
    rng = np.random.default_rng(7)
    ids: list[list[str]] = []
    for h in hours:
        ids.append([])
        for k in range(flushes):
            ids[-1] += traffic.send(sample(rows, rng), T0 + h * HOUR + k * 60_000, model, 1, request_rows=100)
            traffic.flush()
    return ids


def _files() -> list[PredictionLogFile]:
    return lw.get_client().store.list_prediction_log_files("churn", include_shadow=True)


def _rows() -> pd.DataFrame:
    frame = lw.list_predictions("churn", since=T0, until=T0 + 24 * HOUR)
    return frame.sort_values(["request_id", "row"], ignore_index=True)


def _verdicts(windows: lw.MonitorWindows) -> list[tuple[object, ...]]:
    return [
        (w.start_ms, w.status, w.n_rows, w.labelled, w.drifted, w.share_drifted, w.metrics, w.estimated)
        for w in windows
    ]


def _gone(digest: str) -> bool:
    try:
        lw.get_client().blobs.get_bytes(digest)
    except NotFound:
        return True
    return False


def test_compaction_keeps_rows_and_monitor_verdicts(lw_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register_classifier()
    model = lw.load_model("models:/churn/1")
    traffic = Traffic()
    ids = _hours(traffic, model, range(3), flushes=3, rows=200)
    rows = dict(traffic.sent)
    give_feedback("churn", ids[0] + ids[1][:3], rows, np.random.default_rng(3))
    small = _files()
    assert len(small) == 9
    now = T0 + 3 * HOUR + 120_000
    before = lw.monitor("churn", window="1h", since=T0, now=now, include_open=False)
    frame = _rows()

    report = lw.gc(grace_seconds=0, compact_predictions="1h")

    merged = _files()
    assert [(f.min_ts_ms // HOUR, f.n_rows) for f in merged] == [(T0 // HOUR + h, 600) for h in range(3)]
    assert {f.id for f in merged}.isdisjoint(f.id for f in small)
    pd.testing.assert_frame_equal(_rows(), frame)  # same rows, values and types
    after = lw.monitor("churn", window="1h", since=T0, now=now, include_open=False)
    assert _verdicts(after) == _verdicts(before)
    assert [w.labelled for w in after] == [600, 300, 0]  # the label join still finds every row

    freed = report.details["freed"]["compacted_predictions"]
    assert (freed["files"], freed["rows"]) == (9, 1800)
    assert freed["bytes"] == report.bytes > 0 and report.blobs == 9
    assert report.details["compacted_files_written"] == 3
    assert all(_gone(f.digest) for f in small)
    assert not any(_gone(f.digest) for f in merged)

    # a second pass has nothing to merge; the CLI prints the per-kind table
    code, out, _ = run_cli_here(capsys, "gc", "--grace", "0", "--compact-predictions", "1h")
    assert code == 0, out
    assert "compacted predictions" in out and "removed 0 runs" in out
    assert len(_files()) == 3


@pytest.mark.parametrize("store_uri", ["sqlite", "rest"], indirect=True)  # rest: POST /admin/gc
def test_expiry_keeps_what_monitoring_labels_and_runs_need(lw_env: Path, tmp_path: Path) -> None:
    register_classifier()
    model = lw.load_model("models:/churn/1")
    traffic = Traffic()
    ids = _hours(traffic, model, range(6), flushes=2, rows=100)
    rows = dict(traffic.sent)
    give_feedback("churn", ids[0], rows, np.random.default_rng(3))  # hour 0 fully labelled
    # windows of hours 0-2 are computed and closed; hours 3-5 are still to be summarised
    lw.monitor("churn", window="1h", since=T0, now=T0 + 3 * HOUR + 120_000, include_open=False)
    stored = _verdicts(lw.list_monitor_windows("churn"))
    by_hour = {h: [f for f in _files() if f.min_ts_ms // HOUR == T0 // HOUR + h] for h in range(6)}
    # hour 1's log file, downloaded and logged as a run's artifact (a training set built from traffic)
    kept_file = by_hour[1][0]
    (tmp_path / "traffic.parquet").write_bytes(lw.get_client().blobs.get_bytes(kept_file.digest))
    with lw.start_run(name="retrain"):
        lw.log_artifact(tmp_path / "traffic.parquet")

    # labels may still come for hours 1 and 2 (unlabelled, within a 400-day horizon): only hour 0 goes
    first = lw.gc(grace_seconds=3600, predictions_older_than="30d", label_horizon="400d")
    assert first.details["freed"]["expired_predictions"] == {"files": 2, "rows": 200, "bytes": first.bytes}
    assert first.details["kept_prediction_files"] == {"labels": 4, "monitor": 6}
    assert all(_gone(f.digest) for f in by_hour[0])
    assert {f.id for f in _files()} == {f.id for h in range(1, 6) for f in by_hour[h]}

    # no horizon: hour 2 goes, hour 1's run artifact stays (blob and index), hours 3-5 stay unsummarised
    second = lw.gc(grace_seconds=3600, predictions_older_than="30d", label_horizon="0s")
    assert second.details["kept_prediction_files"] == {"run": 1, "monitor": 6}
    assert second.details["freed"]["expired_predictions"]["rows"] == 300  # hour 1's other file + hour 2
    assert {f.id for f in _files()} == {kept_file.id} | {f.id for h in range(3, 6) for f in by_hour[h]}
    assert not _gone(kept_file.digest)
    assert all(_gone(f.digest) for f in [by_hour[1][1], *by_hour[2]])
    # the windows keep their summaries; the unsummarised hours are still monitored from their rows
    assert _verdicts(lw.list_monitor_windows("churn")) == stored
    later = lw.monitor("churn", window="1h", now=T0 + 6 * HOUR + 120_000, include_open=False)
    assert [(w.start_ms - T0) // HOUR for w in later] == [3, 4, 5]
    assert [w.n_rows for w in later] == [200, 200, 200]


def test_bad_retention_options_are_one_line_errors(lw_env: Path) -> None:
    with pytest.raises(InvalidInput):
        lw.gc(predictions_older_than="soon")
    with pytest.raises(InvalidInput, match="at least 1m"):
        lw.gc(compact_predictions="10s")


def test_deleted_older_than_purges_only_old_deletions(lw_env: Path, store_uri: str) -> None:
    with lw.start_run(name="old") as old:
        lw.log_text("old notes", "notes.txt")
    with lw.start_run(name="recent") as recent:
        lw.log_text("recent notes", "notes.txt")
    lw.delete_run(old.id)
    lw.delete_run(recent.id)
    # "old" was deleted ten days ago (the store records when; no waiting ten days in a test)
    engine = sa.create_engine(store_uri)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE runs SET deleted_ms = deleted_ms - :d WHERE id = :id"),
            {"d": 10 * 24 * HOUR, "id": old.id},
        )
    engine.dispose()

    report = lw.gc(grace_seconds=3600, deleted_older_than="7d")
    assert (report.runs, report.details["run_ids"]) == (1, [old.id])
    assert report.details["freed"]["runs"]["bytes"] == report.bytes > 0
    lw.restore_run(recent.id)  # deleted 0 days ago: still there, restorable
    with pytest.raises(NotFound):
        lw.get_run(old.id)


def test_compaction_merges_each_row_shape_of_a_mixed_endpoint(lw_env: Path) -> None:
    # an endpoint answering records and embedding texts logs one file per shape each flush
    log = PredictionLog(lw.get_client, spool_interval=3600.0)
    vector = np.array([[0.5, 1.0]], dtype=np.float32)
    for k in range(2):
        ts = T0 + k * 60_000
        log.record(
            "chars",
            f"t{k}",
            ts,
            None,
            "chars",
            1,
            1.0,
            ModelInput(np.array([[k, 2.0]]), 1, ("a", "b")),
            np.array([k]),
        )
        texts = np.array([[f"text {k}"]], dtype=object)  # what /v1/embeddings logs
        log.record("chars", f"e{k}", ts, None, "chars", 1, 1.0, ModelInput(texts, 1, ("input",)), vector)
        assert log.flush()
    log.close()
    store = lw.get_client().store
    assert len(store.list_prediction_log_files("chars")) == 4
    before = lw.list_predictions("chars").sort_values("request_id", ignore_index=True)

    report = lw.gc(grace_seconds=0, compact_predictions="1h")

    assert report.details["freed"]["compacted_predictions"]["files"] == 4
    assert sorted(f.n_rows for f in store.list_prediction_log_files("chars")) == [2, 2]
    after = lw.list_predictions("chars").sort_values("request_id", ignore_index=True)
    pd.testing.assert_frame_equal(after, before, check_like=True)  # shapes in another file order
    assert after["input"].tolist()[:2] == ["text 0", "text 1"] and after["a"].tolist()[2:] == [0.0, 1.0]


def test_expiry_keeps_the_rows_an_ongoing_canary_is_judged_on(lw_env: Path) -> None:
    # an unmonitored endpoint serving two models: only the cutoff and the canary decide
    traffic = Traffic()
    rng = np.random.default_rng(5)
    for h in range(4):
        for name in ("churn", "other"):
            traffic.send(
                sample(50, rng), T0 + h * HOUR, None, 1, predictions=np.zeros(50, dtype=int), name=name
            )
        traffic.flush()
    traffic.close()
    store = lw.get_client().store
    assert len(_files()) == 8
    # churn's loop put v2 on canary at hour 2 (the details Loop stores when it starts a canary)
    started = T0 + 2 * HOUR
    canary = {"canary_started_ms": started, "canary_alias": "challenger"}
    store.transition_loop(
        "churn",
        "canary",
        expect=["idle"],
        cycle=1,
        version=2,
        reason="gate passed",
        details=canary,
        time_ms=started,
    )

    first = lw.gc(grace_seconds=0, predictions_older_than="30d")
    assert first.details["kept_prediction_files"] == {"canary": 2}
    assert first.details["freed"]["expired_predictions"]["files"] == 6
    kept = _files()
    assert {(f.model_name, f.min_ts_ms) for f in kept} == {("churn", started), ("churn", started + HOUR)}
    assert not any(_gone(f.digest) for f in kept)
    # judge_canary still sees every row of the canary period
    assert len(lw.list_predictions("churn", since=started)) == 100

    # the verdict is recorded with its report: nothing reads those rows again
    store.transition_loop(
        "churn", "promoted", expect=["canary"], cycle=1, version=2, reason="canary held",
        details={**canary, "canary": {"verdict": "pass", "n_rows": 100}}, time_ms=T0 + 4 * HOUR,
    )  # fmt: skip
    second = lw.gc(grace_seconds=0, predictions_older_than="30d")
    assert second.details["freed"]["expired_predictions"]["files"] == 2 and _files() == []
    assert all(_gone(f.digest) for f in kept)
