"""Alert rules, their per-rule state (fire once, resolve once), and webhook delivery to a real
HTTP receiver: failures are logged without secrets and retried on the next run."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from traffic import HOUR, T0, Traffic, register_classifier, sample, webhook_receiver

import loopwright as lw
from loopwright.errors import InvalidInput
from loopwright.monitoring.alerts import AlertConfig, Alerter, Webhook, redact_url
from loopwright.monitoring.window import WindowSummary


def _window(i: int, drifted: bool | None, accuracy: float | None = None, labelled: int = 0) -> WindowSummary:
    return WindowSummary(
        start_ms=T0 + i * HOUR,
        end_ms=T0 + (i + 1) * HOUR,
        n_rows=0 if drifted is None else 1000,
        drifted=drifted,
        share_drifted=None if drifted is None else (0.5 if drifted else 0.0),
        drifted_features=["tenure"] if drifted else [],
        effects={} if drifted is None else {"tenure": 0.4 if drifted else 0.01, "plan": 0.02},
        metrics={} if accuracy is None else {"accuracy": accuracy},
        labelled=labelled,
        endpoint="churn",
    )


def test_config_parsing_and_errors(tmp_path: Path) -> None:
    assert [r.name for r in AlertConfig.load(None).rules] == ["drift"]
    config = AlertConfig.from_dict(
        {
            "drift": {"dataset": False, "features": ["tenure"], "prediction": True},
            "metrics": {"roc_auc": {"min": 0.75}, "mae": {"max": 4.5}},
            "estimated": False,
            "min_labels": 10,
        }
    )
    assert [r.name for r in config.rules] == [
        "drift:tenure",
        "prediction_drift",
        "metric:roc_auc",
        "metric:mae",
    ]
    assert config.min_labels == 10 and config.webhook is None
    path = tmp_path / "alerts.yaml"
    path.write_text("metrics:\n  accuracy: {min: 0.8}\nwebhook:\n  url: http://127.0.0.1:9/x\n  timeout: 2\n")
    loaded = AlertConfig.load(path)
    assert [r.name for r in loaded.rules] == ["drift", "metric:accuracy", "estimated:accuracy"]
    assert loaded.webhook is not None and loaded.webhook.timeout == 2.0
    bad = [
        ({"metric": {}}, "unknown alert setting"),
        ({"metrics": {"accuracy": 0.8}}, "metrics.accuracy must be"),
        ({"metrics": {"accuracy": {"min": "high"}}}, "must be a number"),
        ({"metrics": {"accuracy": {"above": 1}}}, "metrics.accuracy must be"),
        ({"drift": {"features": "tenure"}}, "list of feature names"),
        ({"webhook": "ftp://example.com/x"}, "webhook URL must be http"),
        ({"webhook": {"url": "http://example.com", "secret": 1}}, "unknown webhook setting"),
        ({"min_labels": -1}, "min_labels must be"),
    ]
    for doc, message in bad:
        with pytest.raises(InvalidInput, match=message):
            AlertConfig.from_dict(doc)
    path.write_text("metrics: [unclosed")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        AlertConfig.load(path)


def test_secrets_stay_out_of_reprs_and_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cr3t")
    hook = Webhook.from_value(
        {
            "url": "https://hooks.example.com/services/T0/B0/s3cr3t?k=1",
            "headers": {"Authorization": "Bearer ${HOOK_TOKEN}"},
        }
    )
    assert hook.headers == {"Authorization": "Bearer s3cr3t"}  # expanded from the environment
    assert "s3cr3t" not in repr(hook) and repr(hook) == "Webhook('https://hooks.example.com/…')"
    assert redact_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert redact_url("http://u:p@h:1/a?b") == "http://h:1/…"


def test_alerts_fire_once_per_condition_and_resolve(lw_env: Path) -> None:
    store = lw.get_client().store
    config = AlertConfig.from_dict({"metrics": {"accuracy": {"min": 0.8}}, "min_labels": 50})
    alerter = Alerter("churn", config, store)
    windows = [
        _window(0, False, 0.9, 100),
        _window(1, True, 0.7, 100),  # drift and accuracy fire
        _window(2, True, 0.6, 100),  # still failing: nothing new
        _window(3, None),  # no traffic: cannot judge, state kept
        _window(4, True, 0.5, 10),  # too few labels to judge accuracy
        _window(5, False, 0.85, 100),  # both resolve
        _window(6, True, 0.9, 100),  # drift fires again
    ]
    states, events = alerter.judge(windows)
    stored = alerter.commit(states, events)
    assert [(e.rule, e.status, (e.start_ms - T0) // HOUR) for e in stored] == [
        ("drift", "firing", 1),
        ("metric:accuracy", "firing", 1),
        ("drift", "resolved", 5),
        ("metric:accuracy", "resolved", 5),
        ("drift", "firing", 6),
    ]
    assert windows[2].alerts == [] and windows[3].alerts == [] and windows[4].alerts == []
    assert windows[1].alerts[1] == "firing: accuracy 0.7 below min 0.8 (100 labelled rows)"
    assert all(e.delivery == "none" and e.id is not None for e in stored)
    assert stored[0].payload["window"]["start"] == "2026-01-01T01:00:00Z"
    now = store.get_alert_states("churn")
    assert now["drift"].firing and now["drift"].since_ms == T0 + 6 * HOUR
    assert not now["metric:accuracy"].firing and now["metric:accuracy"].last_end_ms == T0 + 7 * HOUR

    # judging the same windows again (a re-run) changes nothing; older windows are never re-judged
    fresh = [_window(i, w.drifted, w.metrics.get("accuracy"), w.labelled) for i, w in enumerate(windows)]
    states, events = Alerter("churn", config, store).judge(fresh)
    assert events == [] and all(not w.alerts for w in fresh)
    assert len(store.list_alert_events("churn")) == 5


def test_webhook_failures_are_logged_without_secrets_and_retried(
    sqlite_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    register_classifier()
    model = lw.load_model("models:/churn/1")
    rng = np.random.default_rng(5)
    traffic = Traffic()
    traffic.send(sample(1000, rng), T0 + 1000, model, 1)
    traffic.send(sample(1000, rng, shifted=True), T0 + HOUR + 1000, model, 1)
    traffic.flush()
    caplog.set_level(logging.WARNING, logger="loopwright.monitoring")

    with webhook_receiver(status=503) as down:
        config = {
            "webhook": {"url": down.url + "?token=s3cr3t", "headers": {"X-Token": "s3cr3t"}, "timeout": 5}
        }
        first = lw.monitor(
            "churn", window="1h", since=T0, now=T0 + 2 * HOUR + 60_000, alerts=config, include_open=False
        )
    assert first[1].drifted and len(down.received) == 1  # tried once, answered 503
    events = lw.get_client().store.list_alert_events("churn")
    assert [(e.rule, e.status, e.delivery, e.attempts) for e in events] == [("drift", "firing", "pending", 1)]
    logged = caplog.text
    assert "alert firing: endpoint churn, rule drift" in logged
    assert "failed for alert" in logged and "HTTP 503" in logged and "retrying on the next run" in logged
    assert "s3cr3t" not in logged and "/hooks/" not in logged  # only scheme://host:port/…

    # a slow receiver times out: still pending, the monitor goes on
    with webhook_receiver(delay=2.0) as slow:
        config["webhook"] = {"url": slow.url, "timeout": 0.3}
        lw.monitor("churn", window="1h", now=T0 + 2 * HOUR + 120_000, alerts=config, include_open=False)
    assert lw.get_client().store.list_alert_events("churn")[0].delivery == "pending"
    assert "ReadTimeout" in caplog.text

    # the next run (no new windows due) delivers it to a receiver that is up
    with webhook_receiver() as up:
        config["webhook"] = {"url": up.url, "headers": {"X-Token": "s3cr3t"}}
        again = lw.monitor(
            "churn", window="1h", now=T0 + 2 * HOUR + 180_000, alerts=config, include_open=False
        )
    assert again == []
    assert len(up.received) == 1
    body = up.received[0]["body"]
    assert up.received[0]["headers"]["X-Token"] == "s3cr3t"
    assert body["rule"] == "drift" and body["status"] == "firing" and body["endpoint"] == "churn"
    assert body["id"] == events[0].id and body["window"]["start_ms"] == T0 + HOUR
    assert body["drifted_features"] == ["f0", "f1"] and body["model_versions"] == ["churn/1"]
    (event,) = lw.get_client().store.list_alert_events("churn")
    assert event.delivery == "sent" and event.attempts == 3 and event.delivered_ms is not None
    traffic.close()


def test_run_forever_repeats_until_stopped(sqlite_env: Path) -> None:
    runs: list[int] = []
    stop = threading.Event()

    def seen(windows: lw.MonitorWindows) -> None:
        runs.append(len(windows))
        if len(runs) == 3:
            stop.set()

    monitor = lw.Monitor("churn", "1h", max_windows=2)
    thread = threading.Thread(
        target=monitor.run_forever, args=("20ms",), kwargs={"stop": stop, "on_run": seen}
    )
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive() and len(runs) == 3
    assert runs[0] == 1  # the open (empty) window, recomputed by each run
    assert len(lw.list_monitor_windows("churn")) == 1
