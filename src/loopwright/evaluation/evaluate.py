"""``lw.evaluate``: metrics overall and per slice, prediction latency, a tracking run and an HTML report.

The steps are separate functions because a gate runs them for two models at once: load both
(:func:`load_subject`), read the data once (:func:`read_data`), time both interleaved
(:func:`~loopwright.evaluation.latency.measure_latency`), then compute (:func:`compute`) and record
(:func:`record`) each.

Examples
--------
>>> import os, tempfile, pandas as pd, loopwright as lw
>>> from sklearn.linear_model import LogisticRegression
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> df = pd.DataFrame({"x": [0.1, 0.4, 0.35, 0.8, 0.2, 0.9], "region": list("nnnsss"),
...                    "churned": [0, 0, 1, 1, 0, 1]})
>>> with lw.start_run():
...     info = lw.log_model(LogisticRegression().fit(df[["x"]], df["churned"]), "model",
...                         input_example=df[["x"]])
>>> result = lw.evaluate(info.uri, data=df, target="churned", slices=["region"], latency_sample=5)
>>> result.metrics["accuracy"], result.slices["region=s"]["n"]
(0.8333333333333334, 3)
>>> result.report_path.exists(), lw.get_run(result.run_id).metrics["region/n/accuracy"]
(True, 0.6666666666666666)
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopwright.errors import InvalidInput
from loopwright.evaluation.curves import classification_curves, confusion_matrix, residuals
from loopwright.evaluation.latency import DEFAULT_SAMPLE, measure_latency
from loopwright.evaluation.metrics import MetricSet, classification_metrics, regression_metrics
from loopwright.evaluation.report import render_evaluation
from loopwright.evaluation.result import OVERALL, EvaluationResult
from loopwright.frames import is_spark_dataframe, read_path, spark_to_pandas, to_pandas
from loopwright.models.loaded import LoadedModel
from loopwright.models.loading import load_model
from loopwright.store.entities import LineageEdge
from loopwright.tracking.client import get_client
from loopwright.tracking.fluent import active_run, chosen_experiment
from loopwright.uris import parse_model_uri

TASKS = ("classification", "regression")
DEFAULT_EXPERIMENT = "evaluations"
MAX_SLICE_VALUES = 100
MISSING_VALUE = "(missing)"
REPORT_ARTIFACT = "evaluation/report.html"
RESULT_ARTIFACT = "evaluation/metrics.json"
TAG_PREFIX = "loopwright.evaluation."
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9_.\-: ]")


@dataclass
class Subject:
    """A loaded model and what identifies it in the store."""

    model: LoadedModel
    uri: str
    name: str | None = None
    version: int | None = None
    source_run_id: str | None = None


def evaluate(
    model: str | LoadedModel,
    data: Any,
    target: str,
    task: str | None = None,
    slices: Sequence[str] | None = None,
    *,
    pos_label: Any = None,
    experiment: str | None = None,
    report_path: str | os.PathLike[str] | None = None,
    latency_sample: int = DEFAULT_SAMPLE,
) -> EvaluationResult:
    """Evaluate a model on labelled data, log everything to a tracking run, and write an HTML report.

    Parameters
    ----------
    model : str or LoadedModel
        ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``runs:/RUN_ID/PATH``, or a loaded model.
    data : frame, path or records
        Features and the target: a pandas, polars or pyarrow table (anything
        :func:`loopwright.frames.to_pandas` takes), a ``.parquet``/``.csv`` path, a list of records, a
        dict of columns, or a Spark DataFrame of up to 1,000,000 rows (collected to the driver). When
        the model has a column signature, only its columns go to the model (slice columns may be extra).
    target : str
        The label column. Rows without a label are left out (and counted in ``notes``).
    task : {"classification", "regression"}, optional
        Default: classification when the model has classes or ``predict_proba``, else regression.
    slices : list of str, optional
        Columns to slice by: every value of each becomes a slice ``"COLUMN=VALUE"`` with its own
        metrics (at most 100 values per column).
    pos_label : optional
        The positive class of a binary classifier (default: its last class, the second
        ``predict_proba`` column).
    experiment : str, optional
        Where the run goes: default the experiment ``lw.set_experiment`` chose, else ``evaluations``.
        Inside an active run, the evaluation run is its child.
    report_path : path, optional
        Where to write the local copy of the report (default
        ``$LOOPWRIGHT_HOME/reports/evaluation-RUN_ID.html``).
    latency_sample : int
        Single-row predict calls timed for the latency percentiles.

    Returns
    -------
    EvaluationResult
        ``.metrics``, ``.slices``, ``.missing``, ``.curves``, ``.latency``, ``.run_id``,
        ``.report_path``. The run holds the metrics (slice metrics as ``COLUMN/VALUE/METRIC``,
        e.g. ``region/north/roc_auc``), tags naming the model, the dataset fingerprint,
        ``evaluation/metrics.json`` and ``evaluation/report.html``; for a registered version a
        lineage edge ``model_version → run`` (``evaluated_by``) links them.

    Examples
    --------
    >>> import os, tempfile, pandas as pd, loopwright as lw
    >>> from sklearn.linear_model import LogisticRegression
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> df = pd.DataFrame({"x": [0.1, 0.4, 0.35, 0.8, 0.2, 0.9], "churned": [0, 0, 1, 1, 0, 1]})
    >>> with lw.start_run() as run:
    ...     _ = lw.log_model(LogisticRegression().fit(df[["x"]], df["churned"]), "model", input_example=df[["x"]])
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> result = lw.evaluate("models:/churn/1", data=df, target="churned", latency_sample=5)
    >>> result.model_uri, result.metrics["accuracy"], result.metrics["roc_auc"]
    ('models:/churn/1', 0.8333333333333334, 0.8888888888888888)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    subject = load_subject(model)
    frame, source = read_data(data)
    labelled, notes = labelled_rows(frame, target)
    features = model_input(subject.model, labelled, target)
    result = compute(subject, labelled, features, target, task, slices, pos_label=pos_label)
    result.set_latency(*measure_latency([subject.model], features, sample=latency_sample))
    result.notes[:0] = notes
    return record(result, subject, labelled, source, experiment=experiment, report_path=report_path)


def load_subject(model: str | LoadedModel) -> Subject:
    """Load (or take) the model; a registered one is pinned to its version (an alias is resolved once)."""
    if isinstance(model, LoadedModel):
        loaded = model
    elif isinstance(model, str):
        loaded = load_model(model)
    else:
        raise InvalidInput(
            f"model must be a model URI or a LoadedModel, got {type(model).__name__}: "
            "log it with lw.log_model(...) first"
        )
    if loaded.name is not None and loaded.version:
        return Subject(loaded, f"models:/{loaded.name}/{loaded.version}", loaded.name, loaded.version)
    parsed = parse_model_uri(loaded.uri)
    return Subject(loaded, loaded.uri, source_run_id=parsed.run_id)


def read_data(data: Any) -> tuple[pd.DataFrame, str | None]:
    """The evaluation frame and, when read from a file, its path.

    Takes every frame :func:`loopwright.frames.to_pandas` does, and a Spark DataFrame of up to
    :data:`~loopwright.frames.SPARK_COLLECT_ROWS` rows (collected through Arrow: the metrics need
    every prediction on the driver).

    >>> read_data([{"x": 1, "y": 0}])[0].shape
    (1, 2)
    """
    if isinstance(data, str | os.PathLike):
        return read_path(data), os.fspath(data)
    if is_spark_dataframe(data):
        return spark_to_pandas(data), None
    return to_pandas(data), None


def labelled_rows(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, list[str]]:
    """The rows that have a label (and a note when some had none)."""
    if not isinstance(target, str) or target not in frame.columns:
        raise InvalidInput(f"target column {target!r} is not in the data; columns: {list(frame.columns)}")
    known = frame[target].notna()
    if known.all():
        return frame, []
    if not known.any():
        raise InvalidInput(f"target column {target!r} has no values")
    dropped = int((~known).sum())
    return frame.loc[known], [f"{dropped} row(s) without a {target!r} value were left out"]


def model_input(model: LoadedModel, frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """The columns the model takes: its signature's when it has a column signature, else all but the target."""
    if len(frame) == 0:
        raise InvalidInput("the evaluation data has no rows")
    names = model.input_columns
    if names is not None:
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise InvalidInput(f"the data lacks the model's input column(s) {missing}")
        return frame[names]
    return frame.drop(columns=[target])


def compute(
    subject: Subject,
    frame: pd.DataFrame,
    features: pd.DataFrame,
    target: str,
    task: str | None,
    slices: Sequence[str] | None,
    *,
    pos_label: Any = None,
) -> EvaluationResult:
    """Predict once, then compute the metrics overall and per slice, and the plot data (latency comes later)."""
    model = subject.model
    task = task or infer_task(model)
    if task not in TASKS:
        raise InvalidInput(f"task must be 'classification' or 'regression', got {task!r}")
    slice_masks = _slice_masks(frame, slices or [])
    y_true = frame[target].to_numpy()
    y_pred = _labels(model.predict(features), len(frame))
    notes: list[str] = []
    classes: list[Any] | None = None
    if task == "classification":
        proba, classes, note = _probabilities(model, features, y_true, y_pred)
        notes += note
        y_true = _align_labels(y_true, classes)
        if pos_label is not None and (len(classes) > 2 or pos_label not in classes):
            raise InvalidInput(f"pos_label {pos_label!r} must be one of the binary classes {classes}")
        notes.append(_averaging_note(classes, pos_label))
        cls = classes

        def measure(mask: np.ndarray | None) -> MetricSet:
            if mask is None:
                return classification_metrics(y_true, y_pred, proba, cls, pos_label)
            return classification_metrics(
                y_true[mask], y_pred[mask], None if proba is None else proba[mask], cls, pos_label
            )

        curves = classification_curves(y_true, proba, classes, pos_label)
        curves["confusion_matrix"] = confusion_matrix(y_true, y_pred, classes)
    else:
        if y_true.dtype.kind not in "iufb":
            raise InvalidInput(
                f"target {target!r} is not numeric ({y_true.dtype}): use task='classification'"
            )
        y_true = y_true.astype(np.float64)
        y_pred = y_pred.astype(np.float64)

        def measure(mask: np.ndarray | None) -> MetricSet:
            return (
                regression_metrics(y_true, y_pred)
                if mask is None
                else regression_metrics(y_true[mask], y_pred[mask])
            )

        curves = {"residuals": residuals(y_true, y_pred)}
    overall = measure(None)
    metrics: dict[str, float | None] = dict(overall.values)
    missing = {OVERALL: overall.missing} if overall.missing else {}
    per_slice: dict[str, dict[str, float | int | None]] = {}
    for key, mask in slice_masks.items():
        found = measure(mask)
        per_slice[key] = {"n": int(mask.sum()), **found.values}
        if found.missing:
            missing[key] = found.missing
    return EvaluationResult(
        model_uri=subject.uri,
        model_name=subject.name,
        model_version=subject.version,
        task=task,
        target=target,
        n_rows=len(frame),
        metrics=metrics,
        slices=per_slice,
        missing=missing,
        curves=curves,
        classes=classes,
        notes=notes,
    )


def infer_task(model: LoadedModel) -> str:
    """``classification`` for a model with classes or ``predict_proba``, else ``regression``."""
    return "classification" if model.classes is not None or model.has_proba else "regression"


def _labels(prediction: Any, n: int) -> np.ndarray:
    if isinstance(prediction, pd.DataFrame):
        if prediction.shape[1] != 1:
            raise InvalidInput(
                f"the model returned {prediction.shape[1]} output columns; evaluation needs one prediction per row"
            )
        prediction = prediction.iloc[:, 0]
    values = np.asarray(prediction)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or len(values) != n:
        raise InvalidInput(f"the model returned predictions of shape {values.shape} for {n} rows")
    return values


def _sorted_labels(values: np.ndarray) -> list[Any]:
    found = pd.unique(values).tolist()
    try:
        return sorted(found)
    except TypeError:
        return sorted(found, key=str)


def _probabilities(
    model: LoadedModel, features: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray
) -> tuple[np.ndarray | None, list[Any], list[str]]:
    classes = model.classes
    if not model.has_proba:
        labels = classes if classes is not None else _sorted_labels(np.concatenate([y_true, y_pred]))
        return (
            None,
            labels,
            ["the model has no predict_proba: ROC AUC, PR AUC, log loss and Brier score are missing"],
        )
    proba = np.asarray(model.predict_proba(features), dtype=np.float64)
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    if classes is None:
        classes = _sorted_labels(np.concatenate([y_true, y_pred]))
        if len(classes) != proba.shape[1]:
            note = (
                f"predict_proba has {proba.shape[1]} columns but the data has {len(classes)} classes and "
                "the model does not name its classes: probability metrics are missing"
            )
            return None, classes, [note]
    if proba.shape != (len(features), len(classes)):
        raise InvalidInput(
            f"predict_proba returned shape {proba.shape} for {len(features)} rows and classes {classes}"
        )
    return proba, list(classes), []


def _align_labels(y_true: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """Integral float labels (a CSV column with gaps) compared with integer classes become integers."""
    kinds = {np.asarray(classes).dtype.kind}
    if kinds <= {"i", "u"} and y_true.dtype.kind == "f" and np.all(np.mod(y_true, 1) == 0):
        return y_true.astype(np.int64)
    return y_true


def _averaging_note(classes: Sequence[Any], pos_label: Any) -> str:
    if len(classes) <= 2:
        positive = classes[-1] if pos_label is None else pos_label
        return f"binary classification, positive class {positive!r}: precision, recall, F1, ROC AUC, PR AUC and Brier score are computed for it"
    return (
        f"multiclass classification ({len(classes)} classes): precision, recall and F1 are macro averages; "
        "ROC AUC and PR AUC (average precision) are macro one-vs-rest averages; the Brier score sums over classes"
    )


def _slice_masks(frame: pd.DataFrame, slices: Sequence[str]) -> dict[str, np.ndarray]:
    if isinstance(slices, str):
        slices = [slices]
    masks: dict[str, np.ndarray] = {}
    for column in slices:
        if column not in frame.columns:
            raise InvalidInput(f"slice column {column!r} is not in the data; columns: {list(frame.columns)}")
        values = frame[column]
        present = values.dropna()
        distinct = _sorted_labels(present.to_numpy())
        if len(distinct) > MAX_SLICE_VALUES:
            raise InvalidInput(
                f"slice column {column!r} has {len(distinct)} distinct values (at most {MAX_SLICE_VALUES}): "
                "slice on a categorical column, or bin it into a new column first"
            )
        for value in distinct:
            masks[f"{column}={value}"] = (values == value).to_numpy()
        if len(present) < len(values):
            masks[f"{column}={MISSING_VALUE}"] = values.isna().to_numpy()
    return masks


def metric_key(scope: str, metric: str) -> str:
    """The tracking key of a metric: ``roc_auc`` overall, ``region/north/roc_auc`` in slice ``region=north``.

    Characters a metric key cannot hold become ``_``.

    >>> metric_key("region=São Paulo", "f1"), metric_key("overall", "f1")
    ('region/S_o Paulo/f1', 'f1')
    """
    if scope == OVERALL:
        return metric
    column, _, value = scope.partition("=")
    parts = [_UNSAFE_KEY_CHARS.sub("_", p).strip() or "_" for p in (column, value)]
    parts = ["_" if set(p) == {"."} else p for p in parts]
    return f"{parts[0]}/{parts[1]}/{metric}"


def flat_metrics(result: EvaluationResult) -> dict[str, float]:
    """Every defined value as tracking metrics (overall, then ``COLUMN/VALUE/METRIC`` per slice)."""
    out = {k: v for k, v in result.metrics.items() if v is not None}
    for scope, values in result.slices.items():
        for name, value in values.items():
            if value is not None:
                out[metric_key(scope, name)] = float(value)
    return out


def record(
    result: EvaluationResult,
    subject: Subject,
    frame: pd.DataFrame,
    source: str | None,
    *,
    experiment: str | None = None,
    report_path: str | os.PathLike[str] | None = None,
    tags: Mapping[str, str] | None = None,
    parent_id: str | None = None,
) -> EvaluationResult:
    """Log ``result`` to a new run (child of ``parent_id`` or the active run), write and store the report."""
    client = get_client()
    parent = parent_id or (active.id if (active := active_run()) is not None else None)
    who = f"{subject.name}-v{subject.version}" if subject.name else (subject.source_run_id or "model")[:12]
    all_tags = {
        f"{TAG_PREFIX}model_uri": subject.uri,
        f"{TAG_PREFIX}task": result.task,
        f"{TAG_PREFIX}target": result.target,
        f"{TAG_PREFIX}manifest_digest": subject.model.manifest_digest,
        **(
            {f"{TAG_PREFIX}model_name": subject.name, f"{TAG_PREFIX}model_version": str(subject.version)}
            if subject.name
            else {}
        ),
        **(tags or {}),
    }
    run = client.create_run(
        experiment or chosen_experiment() or DEFAULT_EXPERIMENT,
        name=f"evaluate-{who}",
        tags=all_tags,
        parent_id=parent,
    )
    try:
        client.log_params(
            run.id,
            {
                "task": result.task,
                "target": result.target,
                "slices": ",".join(sorted({k.partition("=")[0] for k in result.slices})),
                "rows": result.n_rows,
                "latency_sample": result.latency.single_rows if result.latency else 0,
            },
        )
        client.log_dataset(run.id, frame, name="evaluation", context="evaluation", source=source)
        client.log_metrics(run.id, flat_metrics(result))
        result.run_id = run.id
        html = render_evaluation(result)
        path = (
            Path(report_path)
            if report_path
            else client.settings.home / "reports" / f"evaluation-{run.id}.html"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
        result.report_path = path
        client.log_bytes(run.id, html.encode(), REPORT_ARTIFACT)
        client.log_dict(run.id, result.to_dict(), RESULT_ARTIFACT)
        if subject.name is not None:
            edge = LineageEdge(
                "model_version", f"{subject.name}/{subject.version}", "run", run.id, "evaluated_by"
            )
        else:
            edge = LineageEdge("run", str(subject.source_run_id), "run", run.id, "evaluated_by")
        client.store.add_lineage_edges([edge])
    except BaseException as error:
        client.end_run(run.id, "failed", error=f"{type(error).__name__}: {error}")
        raise
    client.end_run(run.id)
    return result
