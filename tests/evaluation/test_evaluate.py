"""``lw.evaluate`` logs to a run linked to the version, writes a report with the plots, takes URIs, models and files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from eval_models import FEATURES, churn_frame, register
from sklearn.linear_model import LinearRegression, LogisticRegression

import loopwright as lw
from browser import chromium, console_messages
from loopwright.evaluation.evaluate import metric_key

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "evaluation"


@pytest.fixture
def churn(sqlite_env: Path) -> pd.DataFrame:
    frame = churn_frame()
    register(
        LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["churned"]), "churn", frame[FEATURES]
    )
    return frame


def test_run_is_linked_to_the_version_and_holds_everything(lw_env: Path) -> None:
    frame = churn_frame(500)
    version = register(
        LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["churned"]), "churn", frame[FEATURES]
    )
    lw.set_alias("churn", "champion", version.version)

    result = lw.evaluate(
        "models:/churn@champion", data=frame, target="churned", slices=["region"], latency_sample=10
    )

    assert result.model_uri == "models:/churn/1" and (result.model_name, result.model_version) == ("churn", 1)
    run = lw.get_run(result.run_id)
    assert run.status == "finished"
    assert run.system_tags["loopwright.evaluation.model_uri"] == "models:/churn/1"
    assert run.system_tags["loopwright.evaluation.model_name"] == "churn"
    assert run.system_tags["loopwright.evaluation.model_version"] == "1"
    assert run.system_tags["loopwright.evaluation.task"] == "classification"
    assert run.metrics["roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    assert run.metrics["region/north/roc_auc"] == pytest.approx(result.slices["region=north"]["roc_auc"])
    assert run.metrics["region/islands/n"] == 12
    assert "region/islands/roc_auc" not in run.metrics  # undefined there: not logged, reason in the JSON
    assert run.metrics["latency_p99_ms"] == pytest.approx(result.latency.p99_ms)
    assert {"evaluation/report.html", "evaluation/metrics.json"} <= {
        a.path for a in lw.list_artifacts(run.id)
    }
    stored = lw.load_dict(run.id, "evaluation/metrics.json")
    assert stored["slices"]["region=islands"]["roc_auc"] is None
    assert "only one class" in stored["missing"]["region=islands"]["roc_auc"]
    assert stored["metrics"] == json.loads(json.dumps(result.metrics))
    edges = lw.get_client().store.get_lineage_edges("model_version", "churn/1", "downstream")
    assert ("run", result.run_id, "evaluated_by") in {(e.dst_type, e.dst_id, e.relation) for e in edges}
    [dataset] = lw.get_client().get_dataset_inputs(run.id)
    assert dataset.context == "evaluation" and dataset.n_rows == 500
    assert lw.load_text(run.id, "evaluation/report.html") == result.report_path.read_text()


def test_accepts_runs_uri_loaded_model_and_files(churn: pd.DataFrame, tmp_path: Path) -> None:
    with lw.start_run() as parent:
        info = lw.log_model(
            LogisticRegression().fit(churn[FEATURES], churn["churned"]),
            "model",
            input_example=churn[FEATURES].head(),
        )
        nested = lw.evaluate(info.uri, data=churn, target="churned", latency_sample=5)
    assert nested.model_uri == info.uri and nested.model_name is None
    assert lw.get_run(nested.run_id).parent_id == parent.id  # inside an active run: its child
    edges = lw.get_client().store.get_lineage_edges("run", parent.id, "downstream")
    assert any(e.dst_id == nested.run_id and e.relation == "evaluated_by" for e in edges)

    churn.to_parquet(tmp_path / "holdout.parquet")
    churn.to_csv(tmp_path / "holdout.csv", index=False)
    loaded = lw.load_model("models:/churn/1")
    from_parquet = lw.evaluate(loaded, data=tmp_path / "holdout.parquet", target="churned", latency_sample=5)
    from_csv = lw.evaluate(
        "models:/churn/1", data=str(tmp_path / "holdout.csv"), target="churned", latency_sample=5
    )
    for name in ("accuracy", "roc_auc", "log_loss"):
        assert from_parquet.metrics[name] == pytest.approx(from_csv.metrics[name])
    assert lw.get_client().get_dataset_inputs(from_csv.run_id)[0].source == str(tmp_path / "holdout.csv")


def test_rows_without_a_label_are_left_out_and_counted(churn: pd.DataFrame) -> None:
    gappy = churn.astype({"churned": "float64"})
    gappy.loc[gappy.index[:7], "churned"] = np.nan
    result = lw.evaluate("models:/churn/1", data=gappy, target="churned", latency_sample=5)
    full = lw.evaluate("models:/churn/1", data=churn.iloc[7:], target="churned", latency_sample=5)
    assert result.n_rows == len(churn) - 7
    assert "7 row(s) without a 'churned' value were left out" in result.notes
    assert result.metrics["roc_auc"] == pytest.approx(full.metrics["roc_auc"])
    assert (
        result.curves["confusion_matrix"] == full.curves["confusion_matrix"]
    )  # float labels meet int classes


def test_bad_input_is_named(churn: pd.DataFrame) -> None:
    with pytest.raises(lw.InvalidInput, match="target column 'label' is not in the data"):
        lw.evaluate("models:/churn/1", data=churn, target="label")
    with pytest.raises(lw.InvalidInput, match="slice column 'country' is not in the data"):
        lw.evaluate("models:/churn/1", data=churn, target="churned", slices=["country"])
    with pytest.raises(lw.InvalidInput, match="task must be 'classification' or 'regression'"):
        lw.evaluate("models:/churn/1", data=churn, target="churned", task="ranking")
    with pytest.raises(lw.InvalidInput, match="slice column 'tenure' has 1500 distinct values"):
        lw.evaluate("models:/churn/1", data=churn, target="churned", slices=["tenure"])
    with pytest.raises(lw.InvalidInput, match="lacks the model's input column"):
        lw.evaluate("models:/churn/1", data=churn.drop(columns=["spend"]), target="churned")
    with pytest.raises(lw.InvalidInput, match="unsupported data file"):
        lw.evaluate("models:/churn/1", data="holdout.xlsx", target="churned")
    with pytest.raises(lw.NotFound):
        lw.evaluate("models:/churn/9", data=churn, target="churned")
    assert metric_key("region=a/b..", "f1") == "region/a_b../f1"
    assert metric_key("region=..", "f1") == "region/_/f1"


def test_report_has_the_plots_and_opens_in_chromium(churn: pd.DataFrame, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    labelled = churn.assign(region=churn["region"].replace({"east": "<script>alert(1)</script>"}))
    result = lw.evaluate(
        "models:/churn/1",
        data=labelled,
        target="churned",
        slices=["region"],
        report_path=ARTIFACTS / "classification-report.html",
        latency_sample=10,
    )
    html = result.report_path.read_text()
    for plot in (
        'aria-label="true positive rate against false positive rate"',
        'aria-label="precision against recall"',
        'aria-label="observed frequency against mean predicted probability"',
        'aria-label="confusion matrix"',
    ):
        assert plot in html, plot
    assert "<h2>Slices</h2>" in html and "region=islands" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert (
        "<script src" not in html
        and "<link" not in html
        and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    )

    shot = ARTIFACTS / "classification-report.png"
    shot.unlink(missing_ok=True)
    shown = chromium(result.report_path.as_uri(), f"--screenshot={shot}", tmp_path=tmp_path)
    assert console_messages(shown.stderr) == [], shown.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 10_000
    dom = chromium(result.report_path.as_uri(), "--dump-dom", tmp_path=tmp_path)
    assert console_messages(dom.stderr) == []
    assert 'data-report-ready="true"' in dom.stdout and "Evaluation of models:/churn/1" in dom.stdout


def test_regression_report_has_residuals(sqlite_env: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": rng.normal(size=300)})
    frame["y"] = 1.5 * frame["a"] + rng.normal(scale=0.3, size=300) + 4
    register(LinearRegression().fit(frame[["a"]], frame["y"]), "price", frame[["a"]])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    result = lw.evaluate(
        "models:/price/1",
        data=frame,
        target="y",
        report_path=ARTIFACTS / "regression-report.html",
        latency_sample=5,
    )
    html = result.report_path.read_text()
    assert 'aria-label="histogram"' in html and "Residuals (actual - predicted)" in html
    shown = chromium(result.report_path.as_uri(), "--dump-dom", tmp_path=tmp_path)
    assert console_messages(shown.stderr) == [] and 'data-report-ready="true"' in shown.stdout
    with pytest.raises(lw.InvalidInput, match="is not numeric"):
        lw.evaluate(
            "models:/price/1", data=frame.assign(y=frame["y"].astype(str)), target="y", task="regression"
        )
