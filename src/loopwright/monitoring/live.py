"""Live monitoring: windows of the serving prediction log, judged against the served version.

``lw.monitor("churn", window="1h")`` (``loopwright monitor run --endpoint churn --window 1h``)
cuts the endpoint's prediction log into windows on a UTC-aligned grid and, per window:

* compares the inputs (and prediction) with the **reference profile of the version that served
  them** -- per model version when a window saw several (canary, hot swap); a version without a
  profile gets status ``no_reference`` and a message naming the call that stores one;
* joins the **feedback labels** logged so far by ``(request_id, row)`` into realised metrics
  (classification: accuracy, ROC AUC for binary classifiers with scores; regression: MAE, RMSE);
* **estimates** accuracy and ROC AUC from the scores alone (CBPE, :mod:`.estimation`), so a window
  has a performance figure before any label arrives;
* judges the alert rules (:mod:`.alerts`) and stores the window in ``monitor_windows``.

Which windows a run processes: those after the last *closed* window stored for the endpoint (the
first run starts at the oldest logged prediction, at most ``max_windows`` back), plus the window in
progress (stored with ``closed=False`` and recomputed by the next run), or every window from
``since`` on. A window closes ``grace`` after its end, once the serving log has drained. Storing
is idempotent per (endpoint, start, end). Closed windows whose labels are incomplete are
revisited for ``label_lookback`` whenever new feedback has arrived, so realised metrics fill in
as labels come back (drift and estimates of those windows are kept).

Bad input is a status, never a crash or a silent "no drift": a window without traffic is
``empty`` with no drift verdict (``drifted=None``), a window without labels has
``label_status="pending"`` and no realised metrics, and features the drift tests could not judge
(missing from the logged inputs, all NaN, …) or judged with a caveat (unseen categories,
constant) are listed in ``problems`` with the drift statuses, their messages in ``messages``.

Examples
--------
>>> import os, tempfile, loopwright as lw
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> windows = lw.monitor("churn", window="1h", now="2026-01-01T10:30:00Z")
>>> [(w.status, w.closed, w.drifted) for w in windows]  # no traffic logged yet
[('empty', False, None)]
>>> len(lw.list_monitor_windows("churn"))
1
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
import pyarrow as pa

from loopwright.errors import InvalidInput, LoopwrightError, NotFound
from loopwright.monitoring.alerts import AlertConfig, Alerter, Webhook
from loopwright.monitoring.drift import DriftReport, drift
from loopwright.monitoring.estimation import expected_accuracy, expected_roc_auc
from loopwright.monitoring.joins import SETTLE_MS, LabelJoin, identity, load_joins, save_joins
from loopwright.monitoring.performance import classification_metrics, regression_metrics
from loopwright.monitoring.profile import Profile
from loopwright.monitoring.reference import load_profile
from loopwright.monitoring.report import write_report
from loopwright.monitoring.spans import TimeBound, floor, parse_duration, time_ms, window_grid
from loopwright.monitoring.window import WindowSummary
from loopwright.names import validate_name
from loopwright.serving.prediction_log import FIXED_COLUMNS, list_predictions, read_predictions
from loopwright.store import PredictionLogFile
from loopwright.store.entities import FeedbackLabels, MonitorWindow, now_ms
from loopwright.tracking.client import Client, get_client

log = logging.getLogger(__name__)

Task = Literal["classification", "regression"]
UNREGISTERED = "unregistered"
MAX_VERSIONS_CHARTED = 4  # a report charts at most this many versions of its latest window


class MonitorWindows(list[WindowSummary]):
    """Monitoring windows, oldest first; :meth:`to_frame` gives one row per window.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> windows = lw.monitor("churn", window="1h", since="2026-01-01T08:00:00Z", now="2026-01-01T10:30:00Z")
    >>> len(windows), windows.latest_with_traffic() is None
    (3, True)
    >>> windows.to_frame()["status"].tolist()
    ['empty', 'empty', 'empty']
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """

    def latest_with_traffic(self) -> WindowSummary | None:
        """The newest window that served any rows (what a report's headline and ``monitor report`` show)."""
        return next((w for w in reversed(self) if w.n_rows > 0), None)

    def to_frame(self) -> pd.DataFrame:
        """Columns ``start``, ``end`` (UTC), ``status``, ``closed``, ``model_versions``, ``rows``,
        ``drifted``, ``verdict`` (:attr:`WindowSummary.verdict`), ``share_drifted``,
        ``drifted_features``, ``labelled``, ``label_status``, the realised metrics by name, the
        estimated ones as ``estimated_<name>``, and ``alerts``."""
        metric_names = sorted({k for w in self for k in w.metrics})
        estimated_names = sorted({k for w in self for k in w.estimated})
        rows = []
        for w in self:
            row: dict[str, Any] = {
                "start": pd.Timestamp(w.start_ms, unit="ms", tz="UTC"),
                "end": pd.Timestamp(w.end_ms, unit="ms", tz="UTC"),
                "status": w.status,
                "closed": w.closed,
                "model_versions": ", ".join(w.model_versions),
                "rows": w.n_rows,
                "drifted": w.drifted,
                "verdict": w.verdict,
                "share_drifted": w.share_drifted,
                "drifted_features": ", ".join(w.drifted_features),
                "labelled": w.labelled,
                "label_status": w.label_status,
            }
            row.update({m: w.metrics.get(m) for m in metric_names})
            row.update({f"estimated_{m}": w.estimated.get(m) for m in estimated_names})
            row["alerts"] = "; ".join(w.alerts)
            rows.append(row)
        columns = [
            "start", "end", "status", "closed", "model_versions", "rows", "drifted", "verdict",
            "share_drifted", "drifted_features", "labelled", "label_status", *metric_names,
            *(f"estimated_{m}" for m in estimated_names), "alerts",
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)


@dataclass
class _Classes:
    """What the monitor knows about a classifier's labels: all of them, and the positive one."""

    labels: list[Any] | None
    positive: Any

    @property
    def binary(self) -> bool:
        return self.labels is None or len(self.labels) <= 2


class Monitor:
    """Monitors one endpoint; :meth:`run` processes the due windows, :meth:`run_forever` repeats.

    Parameters
    ----------
    endpoint : str
        The serving endpoint (for ``loopwright serve models:/churn@champion`` it is ``churn``).
    window : str, int or timedelta
        Window length: ``"1h"``, ``"5m"``, ``"1d"`` …, a ``timedelta`` or milliseconds.
    alerts : AlertConfig, dict, path or None
        Alert rules (see :mod:`loopwright.monitoring.alerts`); default: alert on dataset drift.
    webhook : str, optional
        URL alerts are POSTed to (overrides the config's ``webhook.url``, keeps its headers).
    task : "classification" or "regression", optional
        Default: classification when the log has scores or non-float predictions.
    include_open : bool
        Also process the window in progress (stored with ``closed=False``, recomputed next run).
    grace : str
        How long after its end a window stays open for late log writes (default ``"30s"``; the
        server drains its prediction log every 5 s).
    max_windows : int
        How far back a first run (or one after a long pause) starts, in windows.
    label_lookback : str
        How long closed windows with missing labels are revisited when new feedback arrives.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> monitor = lw.Monitor("churn", window="1h", alerts={"metrics": {"accuracy": {"min": 0.8}}})
    >>> windows = monitor.run(now="2026-01-01T10:30:00Z")  # client=: another store than the environment's
    >>> [(w.status, w.n_rows) for w in windows]  # no traffic logged yet
    [('empty', 0)]
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """

    def __init__(
        self,
        endpoint: str,
        window: str | int | timedelta = "1h",
        *,
        alerts: AlertConfig | Mapping[str, Any] | str | Path | None = None,
        webhook: str | None = None,
        task: Task | None = None,
        include_open: bool = True,
        grace: str | int | timedelta = "30s",
        max_windows: int = 168,
        label_lookback: str | int | timedelta = "7d",
    ):
        self.endpoint = validate_name(endpoint, "endpoint name")
        self.width_ms = parse_duration(window)
        config = AlertConfig.load(alerts)
        if webhook is not None:
            headers = config.webhook.headers if config.webhook else {}
            timeout = config.webhook.timeout if config.webhook else 5.0
            config = AlertConfig(
                config.rules, Webhook(webhook, headers, timeout), config.min_labels, config.min_rows
            )
        self.config = config
        if task not in (None, "classification", "regression"):
            raise InvalidInput(f"task must be 'classification' or 'regression', got {task!r}")
        self.task = task
        self.include_open = include_open
        self.grace_ms = parse_duration(grace, allow_zero=True)
        if isinstance(max_windows, bool) or not isinstance(max_windows, int) or max_windows < 1:
            raise InvalidInput(f"max_windows must be a positive integer, got {max_windows!r}")
        self.max_windows = max_windows
        self.label_lookback_ms = parse_duration(label_lookback)
        self._classes: dict[tuple[str, int], _Classes | None] = {}
        self._references: dict[tuple[str | None, int | None], Profile | str] = {}
        self._client: Client | None = None  # the store of the pass in progress

    def __repr__(self) -> str:
        return f"Monitor({self.endpoint!r}, window={self.width_ms} ms, rules={[r.name for r in self.config.rules]})"

    # -- one pass ------------------------------------------------------------------------------
    def run(
        self, since: TimeBound | None = None, now: TimeBound | None = None, *, client: Client | None = None
    ) -> MonitorWindows:
        """Process the due windows (see the module docstring) and return them, oldest first.

        Parameters
        ----------
        since : datetime, ISO string, epoch seconds or ms, timedelta or duration string ("6h" = 6 hours ago)
            Recompute every window from the one holding ``since`` (backfill); default: resume.
        now : same types, optional
            The clock (tests, replays); default: the current time.
        client : Client, optional
            The store and blobs to read predictions, feedback, profiles and models from and to write
            windows and alerts to; default: the environment's (``lw.get_client()``).
        """
        client = client if client is not None else get_client()
        if client is not self._client:
            self._classes.clear()  # model versions of another store
        self._client = client
        store = client.store
        clock = time_ms(now) if now is not None else now_ms()
        assert clock is not None
        width = self.width_ms
        alerter = Alerter(self.endpoint, self.config, store)
        alerter.retry_pending()
        self._references.clear()  # a profile stored since the last run is picked up

        closed_until = floor(clock - self.grace_ms, width)  # windows ending here or earlier are final
        last = floor(clock, width) + width if self.include_open else closed_until
        lookback = clock - self.label_lookback_ms
        start = self._start(since, clock, closed_until, client)
        stored = {
            (w.start_ms, w.end_ms): w
            for w in store.list_monitor_windows(self.endpoint, since_ms=min(start, lookback), width_ms=width)
        }
        spans = list(window_grid(start, last, width)) if start < last else []
        relabel = [
            w
            for (s, e), w in stored.items()
            if e <= start and s >= lookback and w.closed and w.n_rows > w.labelled and w.status != "empty"
        ]
        firsts = [s for s, _ in spans] + [w.start_ms for w in relabel]
        if not firsts:
            return MonitorWindows()
        # one listing of the log for every window of the pass: each window's rows, and its identity
        ends = [e for _, e in spans] + [w.end_ms for w in relabel]
        files = store.list_prediction_log_files(self.endpoint, min(firsts), max(ends))
        stored_joins = load_joins(client, self.endpoint, width, [w.start_ms for w in relabel])
        joins = {
            s: j for s, j in stored_joins.items() if j.identity == identity(_overlapping(files, s, s + width))
        }
        # feedback: since each window began when it is read from the log, since its join's watermark
        # (minus the settle time) when its join still holds -- what is new since the last pass
        reads = [s for s, _ in spans] + [w.start_ms for w in relabel if w.start_ms not in joins]
        reads += [j.feedback_ms - SETTLE_MS for j in joins.values()]
        feedback = _Labels(store.get_feedback_labels(self.endpoint, min(reads)))

        results: list[WindowSummary] = []
        fresh: dict[int, LabelJoin] = {}  # joins to store: windows closed or relabelled in this pass
        new_ids = feedback.request_ids()
        for record in relabel:
            join = joins.get(record.start_ms)
            if join is not None:
                if join.touches(new_ids) and self._relabel_join(join, feedback, clock):
                    summary = _summary(record)
                    self._performance(summary, join.frame, join.labels)
                    results.append(summary)
                    fresh[record.start_ms] = join
            elif feedback.newest_ms >= record.updated_ms:  # labels came back since it was computed
                window_files = _overlapping(files, record.start_ms, record.end_ms)
                summary = _summary(record)
                frame = read_predictions(window_files, record.start_ms, record.end_ms, client=client)
                if not frame.empty:
                    labels = feedback.lookup(frame["request_id"].to_numpy(), frame["row"].to_numpy())
                    self._performance(summary, frame, labels)
                    fresh[record.start_ms] = LabelJoin.build(
                        frame, labels, identity=identity(window_files), feedback_ms=clock
                    )
                results.append(summary)
        for s, e in spans:
            window_files = _overlapping(files, s, e)
            summary, frame, labels = self._evaluate(s, e, e <= closed_until, window_files, feedback, client)
            if summary.closed and not frame.empty:
                fresh[s] = LabelJoin.build(frame, labels, identity=identity(window_files), feedback_ms=clock)
            prior = stored.get((s, e))
            if prior is not None:
                summary.alerts = list(prior.alerts)
            results.append(summary)

        states, events = alerter.judge(results)
        store.put_monitor_windows([_record(w) for w in results])
        # joins after the windows: a crash in between leaves older joins, which read more feedback
        save_joins(client, self.endpoint, width, fresh)
        alerter.commit(states, events)
        return MonitorWindows(sorted(results, key=lambda w: (w.start_ms, w.end_ms)))

    def run_forever(
        self,
        every: str | int | timedelta | None = None,
        *,
        since: TimeBound | None = None,
        stop: threading.Event | None = None,
        on_run: Callable[[MonitorWindows], None] | None = None,
        client: Client | None = None,
    ) -> None:
        """Run every ``every`` (default: one window length) until ``stop`` is set or interrupted.

        A run that fails is logged and the schedule goes on; ``since`` applies to the first run;
        ``client`` is :meth:`run`'s.
        """
        interval = parse_duration(every) if every is not None else self.width_ms
        stop = stop or threading.Event()
        first = True
        while not stop.is_set():
            try:
                windows = self.run(since=since if first else None, client=client)
            except Exception:  # a scheduled monitor outlives a bad run (store restart, …)
                log.exception(
                    "monitor run for endpoint %s failed; retrying in %d ms", self.endpoint, interval
                )
            else:
                if on_run is not None:
                    on_run(windows)
            first = False
            stop.wait(interval / 1000)

    # -- windows -------------------------------------------------------------------------------
    def _start(self, since: TimeBound | None, clock: int, closed_until: int, client: Client) -> int:
        width = self.width_ms
        if since is not None:
            start = time_ms(since, clock)
            assert start is not None
            due = (closed_until - floor(start, width)) // width
            if due > self.max_windows:
                # a bound long ago (or a typo) means millions of windows
                raise InvalidInput(
                    f"since={since!r} asks for {due:,} windows of {width / 1000:g} s, over "
                    f"max_windows={self.max_windows}; give a later since (a datetime, an ISO "
                    "time, epoch seconds or ms, or a duration like '6h'), a wider window, or a larger max_windows"
                )
            return floor(start, width)
        earliest = closed_until - self.max_windows * width
        stored = client.store.list_monitor_windows(self.endpoint, since_ms=earliest, width_ms=width)
        done = [w.end_ms for w in stored if w.closed]
        if done:
            return max(max(done), earliest)
        files = client.store.list_prediction_log_files(self.endpoint, earliest, clock)
        if not files:
            return floor(clock, width)
        return floor(max(min(f.min_ts_ms for f in files), earliest), width)

    def _evaluate(
        self,
        start: int,
        end: int,
        closed: bool,
        files: list[PredictionLogFile],
        feedback: _Labels,
        client: Client,
    ) -> tuple[WindowSummary, pd.DataFrame, np.ndarray]:
        """The window from its rows, with the rows and their labels (for its label join)."""
        frame = read_predictions(files, start, end, client=client)
        summary = WindowSummary(
            start_ms=start,
            end_ms=end,
            n_rows=len(frame),
            drifted=None,
            share_drifted=None,
            endpoint=self.endpoint,
            closed=closed,
        )
        labels = feedback.lookup(frame["request_id"].to_numpy(), frame["row"].to_numpy())
        if frame.empty:
            summary.status = "empty"
            summary.messages = ["no traffic in this window: no drift verdict, no metrics"]
            return summary, frame, labels
        self._drift(summary, frame)
        self._performance(summary, frame, labels)
        return summary, frame, labels

    @staticmethod
    def _relabel_join(join: LabelJoin, feedback: _Labels, clock: int) -> bool:
        """Lay the feedback over a stored join's labels; whether any label changed (then the join
        takes the pass's clock as its watermark)."""
        new, found = feedback.find(join.frame["request_id"].to_numpy(), join.frame["row"].to_numpy())
        # compared as Python values: a label sent again as 1.0 for 1 or true for 1 changes no metric
        changed = np.flatnonzero(found)[new[found] != join.labels[found]]
        if not changed.size:
            return False
        join.labels[changed] = new[changed]
        join.feedback_ms = clock
        return True

    # -- drift ---------------------------------------------------------------------------------
    def _drift(self, summary: WindowSummary, frame: pd.DataFrame) -> None:
        reports: list[tuple[str, DriftReport, int]] = []
        for (name, version), rows in _by_version(frame):
            key = UNREGISTERED if name is None or version is None else f"{name}/{version}"
            summary.model_versions.append(key)
            detail: dict[str, Any] = {"rows": len(rows)}
            reference = self._reference(name, version)
            if isinstance(reference, str):
                detail.update(status="no_reference", drifted=None, message=reference)
                summary.messages.append(f"{key}: {reference}")
            else:
                report = drift(reference, _current(rows, reference))
                reports.append((key, report, len(rows)))
                detail.update(
                    status="drifted" if report.drifted else report.status,
                    drifted=report.drifted,
                    share_drifted=report.share_drifted,
                    drifted_features=report.drifted_features,
                    problems=[f.name for f in report.problems],
                )
            summary.versions[key] = detail
        if not reports:
            summary.status = "no_reference"
            return
        main = max(reports, key=lambda r: r[2])[1]  # the version that served most rows
        summary.drifted = any(r.drifted for _, r, _ in reports)
        summary.share_drifted = max(r.share_drifted for _, r, _ in reports)
        summary.drifted_features = list(dict.fromkeys(f for _, r, _ in reports for f in r.drifted_features))
        summary.effects = {n: f.effect_size for n, f in main.features.items()}
        preds = [r.prediction.drifted for _, r, _ in reports if r.prediction is not None]
        summary.prediction_drifted = (
            any(p for p in preds if p is not None) if any(p is not None for p in preds) else None
        )
        for _, report, _ in reports:
            everything = [*report.features.values(), *([report.prediction] if report.prediction else [])]
            for f in everything:
                if f.status != "ok" and f.name not in summary.problems:
                    summary.problems[f.name] = f.status
                    summary.messages.append(
                        f"{f.name}: {f.message}" if f.message else f"{f.name}: {f.status}"
                    )
        untested = any(r.problems for _, r, _ in reports) or len(reports) < len(summary.model_versions)
        # a drifting window is "drifted" whatever else is true of it: never "ok", open or closed
        summary.status = "drifted" if summary.drifted else ("partial" if untested else "ok")

    def _reference(self, name: str | None, version: int | None) -> Profile | str:
        key = (name, version)
        if key not in self._references:
            self._references[key] = reference_for(name, version, self._client)
        return self._references[key]

    # -- metrics -------------------------------------------------------------------------------
    def _performance(self, summary: WindowSummary, frame: pd.DataFrame, label: np.ndarray) -> None:
        """Realised metrics from each row's label (``None``: none yet) and CBPE estimates."""
        has = np.asarray(pd.notna(label), dtype=bool)
        summary.labelled = int(has.sum())
        summary.label_status = _label_status(summary.n_rows, summary.labelled)
        prediction = frame["prediction"].to_numpy()
        scores = frame["score"].to_numpy(dtype=np.float64)
        task = self.task or _task(frame)
        summary.metrics, summary.estimated = {}, {}
        if task == "regression":
            if has.any():
                summary.metrics = regression_metrics(prediction[has], label[has])
            return
        classes = self._classifier(frame)
        binary = classes.binary
        positive = classes.positive if binary else None
        scored = np.isfinite(scores)
        if scored.any():
            s = scores[scored]
            if binary:
                est = {
                    "accuracy": expected_accuracy(s, _equal_to(prediction[scored], positive)),
                    "roc_auc": expected_roc_auc(s),
                }
            else:
                est = {"accuracy": expected_accuracy(s)}
            summary.estimated = {k: v for k, v in est.items() if math.isfinite(v)}
        if has.any():
            summary.metrics = classification_metrics(
                prediction[has],
                label[has],
                scores=scores[has] if binary and positive is not None else None,
                positive=positive,
            )

    def _classifier(self, frame: pd.DataFrame) -> _Classes:
        """The labels of the version that served most rows (from the model), else inferred."""
        counts = frame.groupby(["model_name", "model_version"], dropna=True).size()
        if len(counts):
            name, version = cast(tuple[Any, Any], counts.idxmax())
            key = (str(name), int(version))
            if key not in self._classes:
                assert self._client is not None
                self._classes[key] = _model_classes(*key, self._client)
            known = self._classes[key]
            if known is not None:
                return known
        # no registered model to ask: scikit-learn orders classes with np.unique, so the positive
        # class is the prediction of rows scored above 0.5
        prediction, scores = frame["prediction"], frame["score"]
        high = prediction[scores > 0.5]
        return _Classes(None, high.mode().iloc[0] if len(high) else None)


class _Labels:
    """Feedback indexed once per run, looked up per window by ``(request_id, row)`` with hash
    indexes (no per-window merge of the whole feedback table)."""

    def __init__(self, feedback: FeedbackLabels):
        codes, uniques = pd.factorize(pd.Series(feedback.request_ids, dtype=object))
        rows = np.asarray(feedback.rows, dtype=np.int64)
        self._ids = pd.Index(uniques)
        self._stride = int(rows.max()) + 1 if rows.size else 1
        self._keys = pd.Index(codes.astype(np.int64) * self._stride + rows)
        self._labels = np.empty(len(feedback.labels), dtype=object)
        self._labels[:] = feedback.labels
        self.newest_ms = max(feedback.timestamps_ms, default=-1)

    def request_ids(self) -> pa.Array:
        """The request ids feedback names, each once."""
        return pa.array(self._ids.to_numpy(dtype=object), type=pa.string())

    def find(self, request_ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's label (``None`` when none) and whether feedback names the row at all (a JSON
        null label is feedback too: it replaces an earlier label)."""
        out = np.full(len(rows), None, dtype=object)
        if not len(self._keys) or not len(rows):
            return out, np.zeros(len(rows), dtype=bool)
        codes = self._ids.get_indexer(request_ids)
        rows = np.asarray(rows, dtype=np.int64)
        known = (codes >= 0) & (rows < self._stride)
        position = self._keys.get_indexer(np.where(known, codes * self._stride + rows, -1))
        found = position >= 0
        out[found] = self._labels[position[found]]
        return out, found

    def lookup(self, request_ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Each row's label, ``None`` when it has none (JSON null counts as none)."""
        return self.find(request_ids, rows)[0]


def reference_for(name: str | None, version: int | None, client: Client | None = None) -> Profile | str:
    """The reference profile of a served version, or why there is none (a message)."""
    if name is None or version is None:
        return "the served model is not a registered version, so it has no reference profile"
    try:
        return load_profile(f"models:/{name}/{version}", client=client)
    except NotFound as error:
        return str(error)


# a package's classes never change: known per manifest digest for the process, so a scheduled pass
# (a new Monitor each time: ``lw.monitor``, a CronJob's CLI in one process) loads a model once
_KNOWN_CLASSES: dict[str, _Classes | None] = {}


def _model_classes(name: str, version: int, client: Client) -> _Classes | None:
    from loopwright.models import load_model

    try:
        digest = client.store.get_model_version(name, version).manifest_digest
        if digest is not None and digest in _KNOWN_CLASSES:
            return _KNOWN_CLASSES[digest]
        labels = load_model(f"models:/{name}/{version}", client=client).classes
    except LoopwrightError as error:
        log.warning(
            "cannot load models:/%s/%s to read its classes (%s); inferring them", name, version, error
        )
        return None
    known = None if labels is None else _Classes(labels, labels[1] if len(labels) == 2 else None)
    if digest is not None:
        _KNOWN_CLASSES[digest] = known
    return known


def _by_version(frame: pd.DataFrame) -> list[tuple[tuple[str | None, int | None], pd.DataFrame]]:
    """Rows per served (model name, version), in order of first appearance."""
    groups = frame.groupby(["model_name", "model_version"], dropna=False, sort=False).indices
    out: list[tuple[tuple[str | None, int | None], pd.DataFrame]] = []
    for group, idx in groups.items():
        name, version = cast(tuple[Any, Any], group)
        key = (None if pd.isna(name) else str(name), None if pd.isna(version) else int(version))
        out.append((key, frame.iloc[idx]))
    return out


def _current(rows: pd.DataFrame, reference: Profile) -> pd.DataFrame:
    """The logged inputs (and prediction) under the names the reference profile uses."""
    current = rows.drop(columns=[c for c in FIXED_COLUMNS if c in rows.columns])
    if reference.prediction and reference.prediction not in current.columns and "prediction" in current:
        current = current.rename(columns={"prediction": reference.prediction})
    return current


def _task(frame: pd.DataFrame) -> Task:
    if frame["score"].notna().any():
        return "classification"
    prediction = frame["prediction"]
    if pd.api.types.is_float_dtype(prediction):
        values = prediction.to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size and not np.all(values == np.round(values)):
            return "regression"
    return "classification"


def _overlapping(files: list[PredictionLogFile], start: int, end: int) -> list[PredictionLogFile]:
    """The log files holding rows of ``[start, end)`` (what ``list_prediction_log_files`` selects)."""
    return [f for f in files if f.max_ts_ms >= start and f.min_ts_ms < end]


def _equal_to(values: np.ndarray, label: Any) -> np.ndarray:
    if label is None:
        return np.zeros(len(values), dtype=bool)
    return np.asarray(np.asarray(values, dtype=object) == label, dtype=bool)


def _label_status(rows: int, labelled: int) -> str:
    if rows == 0:
        return ""
    return "pending" if labelled == 0 else ("complete" if labelled >= rows else "partial")


def _record(w: WindowSummary) -> MonitorWindow:
    return MonitorWindow(
        endpoint=w.endpoint,
        start_ms=w.start_ms,
        end_ms=w.end_ms,
        status=w.status,
        closed=w.closed,
        model_versions=list(w.model_versions),
        n_rows=w.n_rows,
        labelled=w.labelled,
        drifted=w.drifted,
        drift={
            "share_drifted": w.share_drifted,
            "drifted_features": w.drifted_features,
            "effects": w.effects,
            "prediction_drifted": w.prediction_drifted,
            "problems": w.problems,
            "messages": w.messages,
            "versions": w.versions,
        },
        metrics=dict(w.metrics),
        estimated=dict(w.estimated),
        alerts=list(w.alerts),
    )


def _summary(r: MonitorWindow) -> WindowSummary:
    d = r.drift
    return WindowSummary(
        start_ms=r.start_ms,
        end_ms=r.end_ms,
        n_rows=r.n_rows,
        drifted=r.drifted,
        share_drifted=d.get("share_drifted"),
        drifted_features=list(d.get("drifted_features", [])),
        effects=dict(d.get("effects", {})),
        prediction_drifted=d.get("prediction_drifted"),
        metrics=dict(r.metrics),
        estimated=dict(r.estimated),
        alerts=list(r.alerts),
        endpoint=r.endpoint,
        status=r.status,
        closed=r.closed,
        model_versions=list(r.model_versions),
        labelled=r.labelled,
        label_status=_label_status(r.n_rows, r.labelled),
        problems=dict(d.get("problems", {})),
        messages=list(d.get("messages", [])),
        versions=dict(d.get("versions", {})),
    )


# -- the public API ----------------------------------------------------------------------------
def monitor(
    endpoint: str,
    window: str | int | timedelta = "1h",
    *,
    since: TimeBound | None = None,
    now: TimeBound | None = None,
    alerts: AlertConfig | Mapping[str, Any] | str | Path | None = None,
    webhook: str | None = None,
    task: Task | None = None,
    include_open: bool = True,
    report: str | Path | None = None,
    **options: Any,
) -> MonitorWindows:
    """Monitor an endpoint's live traffic: drift, realised and estimated metrics, alerts, per window.

    One pass of :class:`Monitor` (see it for ``grace``, ``max_windows``, ``label_lookback``):
    processes the windows due since the last run (or from ``since``), stores them, fires alerts,
    and optionally writes the HTML report.

    Parameters
    ----------
    endpoint : str
        The serving endpoint.
    window : str, int or timedelta
        Window length (``"1h"``, ``"5m"``, …).
    since : time bound, optional
        Backfill: recompute every window from the one holding ``since`` (``"6h"`` = six hours ago).
    now : time bound, optional
        The clock (tests, replays).
    alerts : dict, YAML path or AlertConfig, optional
        Alert rules and webhook (default: alert on dataset drift, log only).
    webhook : str, optional
        URL to POST alerts to.
    task : "classification" or "regression", optional
        Which metrics apply (default: inferred from the log).
    include_open : bool
        Also process the window in progress.
    report : str or Path, optional
        Write :func:`monitor_report` of the endpoint here after the run.

    Returns
    -------
    MonitorWindows
        The windows this run processed, oldest first (a list of
        :class:`~loopwright.monitoring.window.WindowSummary` with ``to_frame()``).

    Examples
    --------
    >>> import loopwright as lw
    >>> windows = lw.monitor("churn", window="1h", report="report.html")  # doctest: +SKIP
    >>> windows.to_frame()[["start", "status", "drifted", "accuracy", "estimated_accuracy"]]  # doctest: +SKIP
    """
    runner = Monitor(
        endpoint, window, alerts=alerts, webhook=webhook, task=task, include_open=include_open, **options
    )
    windows = runner.run(since=since, now=now)
    if report is not None:
        monitor_report(endpoint, report, window=window)
    return windows


def list_monitor_windows(
    endpoint: str,
    *,
    window: str | int | timedelta | None = None,
    since: TimeBound | None = None,
    until: TimeBound | None = None,
) -> MonitorWindows:
    """The stored monitoring history of an endpoint, oldest first.

    Parameters
    ----------
    endpoint : str
        The serving endpoint.
    window : optional
        Only windows of this length (``"1h"`` …); default: every length stored.
    since, until : time bounds, optional
        Only windows overlapping ``[since, until)``.

    Returns
    -------
    MonitorWindows
        A list of :class:`~loopwright.monitoring.window.WindowSummary`; ``.to_frame()`` for a table.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> lw.list_monitor_windows("churn")
    []
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    validate_name(endpoint, "endpoint name")
    records = get_client().store.list_monitor_windows(
        endpoint,
        since_ms=time_ms(since),
        until_ms=time_ms(until),
        width_ms=parse_duration(window) if window is not None else None,
    )
    return MonitorWindows(_summary(r) for r in records)


def monitor_report(
    endpoint: str,
    output: str | Path,
    *,
    window: str | int | timedelta | None = None,
    since: TimeBound | None = None,
    limit: int = 500,
    title: str | None = None,
) -> Path:
    """Write the endpoint's monitoring report: one self-contained offline HTML page.

    Built from the stored window summaries (drift over time, realised and estimated metric
    trends, alerts, the window table) plus the drift of the latest window with traffic against
    its version's reference profile (per-feature reference-vs-current charts, from profiles);
    never from raw rows, so its size does not grow with traffic.

    Parameters
    ----------
    endpoint : str
        The serving endpoint.
    output : str or Path
        Where to write the page.
    window : optional
        Only windows of this length (default: the length of the latest stored window).
    since : time bound, optional
        Only windows from then on.
    limit : int
        At most this many of the most recent windows.
    title : str, optional
        Page title (default ``"Monitoring: ENDPOINT"``).

    Returns
    -------
    Path

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.monitor_report("churn", "report.html")  # doctest: +SKIP
    PosixPath('report.html')
    """
    windows = list_monitor_windows(endpoint, window=window, since=since)
    if not windows:
        raise InvalidInput(
            f"no monitoring windows stored for endpoint {endpoint!r}: run "
            f"`loopwright monitor run --endpoint {endpoint}` (lw.monitor) first"
        )
    if window is None:
        width = windows[-1].end_ms - windows[-1].start_ms
        windows = MonitorWindows(w for w in windows if w.end_ms - w.start_ms == width)
    windows = MonitorWindows(windows[-limit:])
    latest = windows.latest_with_traffic()
    return write_report(
        output,
        windows=windows,
        title=title or f"Monitoring: {endpoint}",
        latest=latest,
        by_version=_drift_by_version(endpoint, latest) if latest is not None else {},
    )


def _drift_by_version(endpoint: str, window: WindowSummary) -> dict[str, DriftReport]:
    """Each version's traffic in ``window`` against its own reference profile, recomputed from the
    log (drifted versions first, then by rows); empty when the log files are gone (retention)."""
    frame = list_predictions(endpoint, since=window.start_ms, until=window.end_ms)
    reports: dict[str, DriftReport] = {}
    for (name, version), rows in _by_version(frame):
        reference = reference_for(name, version)
        if isinstance(reference, Profile):
            reports[f"{name}/{version}"] = drift(reference, _current(rows, reference))
    order = sorted(reports, key=lambda k: (not reports[k].drifted, -reports[k].current.n_rows))
    return {key: reports[key] for key in order[:MAX_VERSIONS_CHARTED]}
