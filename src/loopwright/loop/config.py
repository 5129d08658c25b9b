"""``LoopConfig``: what the loop retrains, how it judges the result, and when it acts.

The format (a YAML file, or the same as a dict)::

    model: churn                      # the registered model the loop maintains
    endpoint: churn                   # the serving endpoint it watches (default: the model name)
    pipeline: training:train          # "module:attr" or "path/file.py:attr" (or a Pipeline object)
    params: {data: data/latest.parquet}
    model_step: train                 # default: the step that returned a model package
    reference_step: features          # optional: its frame becomes the new version's reference profile
    policy: gate.yaml                 # the gate policy (path or mapping)
    holdout: data/holdout.parquet     # labelled data the gate evaluates on (path or DataFrame)
    target: churned
    trigger: drift                    # drift | alerts | always | never (manual: --force)
                                      # or {schedule: "0 3 * * 1"}: cron, UTC, whatever the monitors say
    monitor: {window: 1h}             # optional: run one monitoring pass before each step
    canary:                           # optional: without it a passing gate promotes directly
      alias: challenger
      min_requests: 200
      min_labels: 50
      max_error_rate: 0.2
      metrics: {accuracy: {min_delta: -0.02}}
      timeout: 1d
    promote_alias: champion
    allow_unsigned: false             # true: promote a candidate without a signature (else refused)

Relative paths (``policy``, ``holdout``, a ``.py`` pipeline, ``monitor.alerts``) are relative to
the YAML file's folder; ``params`` are passed to the pipeline as they are.

Examples
--------
>>> doc = {"model": "churn", "pipeline": "training:train", "target": "churned",
...        "policy": {"metric_thresholds": {"roc_auc": {"min": 0.8}}}, "holdout": "holdout.parquet"}
>>> config = LoopConfig.from_dict({**doc, "canary": {"min_requests": 50, "max_error_rate": 0.2}},
...                               check_files=False)
>>> config.endpoint, config.trigger, config.canary.alias, config.promote_alias
('churn', 'drift', 'challenger', 'champion')
>>> [str(rule) for rule in config.canary.rules]
['error_rate <= 0.2']
>>> LoopConfig.from_dict({**doc, "trigger": "hourly"}, check_files=False)
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: loop config: trigger must be one of drift, alerts, always, never or {schedule: CRON}, got 'hourly'
>>> config = LoopConfig.from_dict({**doc, "trigger": {"schedule": "0 3 * * 1"}}, check_files=False)
>>> config.trigger, config.schedule
('schedule', '0 3 * * 1')
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from loopwright.errors import InvalidInput
from loopwright.evaluation.policy import GatePolicy
from loopwright.loop.schedule import CronSchedule
from loopwright.monitoring.alerts import AlertConfig
from loopwright.monitoring.spans import parse_duration
from loopwright.names import validate_alias, validate_name
from loopwright.pipelines.pipeline import Pipeline

TriggerKind = Literal["drift", "alerts", "always", "never", "schedule"]
TRIGGERS: tuple[str, ...] = ("drift", "alerts", "always", "never")
KEYS = (
    "model", "endpoint", "pipeline", "params", "model_step", "reference_step", "policy", "holdout",
    "target", "trigger", "monitor", "canary", "promote_alias", "cache", "actor", "retrain_timeout",
    "allow_unsigned",
)  # fmt: skip
REQUIRED = ("model", "pipeline", "policy", "holdout", "target")
CANARY_KEYS = ("alias", "min_requests", "min_labels", "max_error_rate", "metrics", "timeout")
MONITOR_KEYS = ("window", "alerts", "grace")
# what the canary is judged on: its own live predictions joined with the labels fed back
LIVE_METRICS = ("accuracy", "error_rate", "roc_auc", "mae", "rmse")
CanaryOp = Literal["min", "max", "min_delta", "max_delta"]
CANARY_OPS: tuple[str, ...] = ("min", "max", "min_delta", "max_delta")
_SYMBOL = {"min": ">=", "max": "<="}
DEFAULT_ACTOR = "loopwright-loop"
DEFAULT_MIN_LABELS = 30


@dataclass(frozen=True)
class CanaryRule:
    """One bound on a live metric of the canary: ``min``/``max`` on its value, ``min_delta``/
    ``max_delta`` on canary - champion over the same period."""

    metric: str
    op: CanaryOp
    value: float

    def __str__(self) -> str:
        kind, _, delta = self.op.partition("_")
        return f"{self.metric}{' delta' if delta else ''} {_SYMBOL[kind]} {self.value:g}"

    @property
    def versus_champion(self) -> bool:
        return self.op.endswith("_delta")

    def holds(self, observed: float) -> bool:
        return observed >= self.value if self.op.startswith("min") else observed <= self.value


@dataclass(frozen=True)
class CanaryConfig:
    """How a gated candidate earns promotion on live traffic under the canary alias."""

    alias: str = "challenger"
    min_requests: int = 100
    min_labels: int = 0
    rules: tuple[CanaryRule, ...] = ()
    timeout_ms: int | None = None


@dataclass(frozen=True)
class MonitorSpec:
    """A monitoring pass the loop runs itself before each step (``lw.monitor`` with these)."""

    window: str = "1h"
    alerts: AlertConfig | None = None
    grace: str = "30s"


@dataclass(frozen=True)
class LoopConfig:
    """A validated loop configuration; build it with :meth:`load` (YAML path, dict or itself).

    Examples
    --------
    >>> import loopwright as lw
    >>> config = lw.LoopConfig.from_dict({"model": "churn", "pipeline": "training:train", "target": "churned",
    ...                                   "policy": {"metric_thresholds": {"roc_auc": {"min": 0.8}}},
    ...                                   "holdout": "holdout.parquet"}, check_files=False)
    >>> config.endpoint, config.trigger, config.promote_alias, config.canary
    ('churn', 'drift', 'champion', None)
    """

    model: str
    pipeline: str | Pipeline
    policy: GatePolicy
    holdout: pd.DataFrame | Path
    target: str
    endpoint: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    model_step: str | None = None
    reference_step: str | None = None
    trigger: TriggerKind = "drift"
    schedule: str | None = None  # the cron expression of trigger {schedule: …}
    monitor: MonitorSpec | None = None
    canary: CanaryConfig | None = None
    promote_alias: str = "champion"
    cache: bool = True
    actor: str = DEFAULT_ACTOR
    retrain_timeout_ms: int = 6 * 3_600_000
    allow_unsigned: bool = False
    source: str = ""

    @classmethod
    def load(cls, value: LoopConfig | Mapping[str, Any] | str | os.PathLike[str]) -> LoopConfig:
        """A config from a YAML file path, a mapping, or a config (returned as is)."""
        if isinstance(value, LoopConfig):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        if isinstance(value, str | os.PathLike):
            path = Path(value)
            if not path.is_file():
                raise InvalidInput(f"no such loop config file: {path}")
            try:
                doc = yaml.safe_load(path.read_text())
            except yaml.YAMLError as error:
                detail = " ".join(str(error).split())
                raise InvalidInput(f"loop config {path} is not valid YAML: {detail}") from None
            if not isinstance(doc, Mapping):
                raise InvalidInput(f"loop config {path} must be a mapping of settings")
            return cls.from_dict(doc, base=path.parent, source=str(path))
        raise InvalidInput(f"a loop config is a YAML path or a mapping, got {type(value).__name__}")

    @classmethod
    def from_dict(
        cls,
        doc: Mapping[str, Any],
        *,
        base: Path | None = None,
        source: str = "",
        check_files: bool = True,
    ) -> LoopConfig:
        """Validate a mapping; ``base`` resolves relative paths, ``check_files`` that they exist."""
        where = f"loop config {source}" if source else "loop config"

        def fail(message: str) -> InvalidInput:
            return InvalidInput(f"{where}: {message}")

        unknown = sorted(set(doc) - set(KEYS))
        if unknown:
            raise fail(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
        missing = [k for k in REQUIRED if doc.get(k) is None]
        if missing:
            raise fail(f"missing required setting(s) {', '.join(missing)} (required: {', '.join(REQUIRED)})")
        try:
            model = validate_name(_text(doc["model"], "model", fail), "model name")
            endpoint = validate_name(_text(doc.get("endpoint", model), "endpoint", fail), "endpoint name")
            promote = _alias(doc.get("promote_alias", "champion"), "promote_alias", fail)
        except InvalidInput as error:
            raise fail(str(error)) from None
        trigger, schedule = _trigger(doc.get("trigger", "drift"), fail)
        params = doc.get("params") or {}
        if not isinstance(params, Mapping):
            raise fail(f"params must be a mapping of pipeline parameters, got {type(params).__name__}")
        canary = _canary(doc["canary"], fail) if doc.get("canary") is not None else None
        if canary is not None and canary.alias == promote:
            raise fail(f"canary.alias and promote_alias are both {promote!r}; the canary needs its own alias")
        raw = doc["policy"]
        if isinstance(raw, str | os.PathLike):
            raw = _path(raw, base, "policy", fail, check_files)
        try:
            policy = GatePolicy.load(raw)
        except InvalidInput as error:
            raise fail(str(error)) from None
        holdout = doc["holdout"]
        if not isinstance(holdout, pd.DataFrame):
            holdout = _path(_text(holdout, "holdout", fail), base, "holdout", fail, check_files)
        pipeline = doc["pipeline"]
        if isinstance(pipeline, str):
            pipeline = _pipeline_ref(pipeline, base, fail)
        elif not isinstance(pipeline, Pipeline):
            raise fail(f"pipeline must be 'module:attr' or a @pipeline, got {type(pipeline).__name__}")
        cache = _flag(doc.get("cache", True), "cache", fail)
        return cls(
            model=model,
            endpoint=endpoint,
            pipeline=pipeline,
            params=dict(params),
            model_step=_optional_text(doc.get("model_step"), "model_step", fail),
            reference_step=_optional_text(doc.get("reference_step"), "reference_step", fail),
            policy=policy,
            holdout=holdout,
            target=_text(doc["target"], "target", fail),
            trigger=trigger,
            schedule=schedule,
            monitor=_monitor(doc["monitor"], base, fail, check_files) if doc.get("monitor") else None,
            canary=canary,
            promote_alias=promote,
            cache=cache,
            actor=_text(doc.get("actor", DEFAULT_ACTOR), "actor", fail),
            retrain_timeout_ms=_duration(doc.get("retrain_timeout", "6h"), "retrain_timeout", fail),
            allow_unsigned=_flag(doc.get("allow_unsigned", False), "allow_unsigned", fail),
            source=source,
        )


def _trigger(value: Any, fail: Any) -> tuple[TriggerKind, str | None]:
    """``drift|alerts|always|never``, or ``{schedule: CRON}`` → ("schedule", its expression)."""
    if isinstance(value, Mapping):
        if set(value) != {"schedule"}:
            raise fail(
                f"trigger as a mapping takes one key, schedule (a cron expression), got {dict(value)!r}"
            )
        try:
            return "schedule", CronSchedule.parse(value["schedule"]).expression
        except InvalidInput as error:
            raise fail(f"trigger: {error}") from None
    if value not in TRIGGERS:
        raise fail(f"trigger must be one of {', '.join(TRIGGERS)} or {{schedule: CRON}}, got {value!r}")
    return value, None


def _text(value: Any, key: str, fail: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{key} must be a non-empty string, got {value!r}")
    return value


def _flag(value: Any, key: str, fail: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(f"{key} must be true or false, got {value!r}")
    return value


def _optional_text(value: Any, key: str, fail: Any) -> str | None:
    return None if value is None else _text(value, key, fail)


def _alias(value: Any, key: str, fail: Any) -> str:
    try:
        return validate_alias(_text(value, key, fail))
    except InvalidInput as error:
        raise fail(f"{key}: {error}") from None


def _duration(value: Any, key: str, fail: Any) -> int:
    try:
        return parse_duration(value)
    except InvalidInput as error:
        raise fail(f"{key}: {error}") from None


def _count(value: Any, key: str, fail: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fail(f"{key} must be a whole number >= 0, got {value!r}")
    return value


def _number(value: Any, key: str, fail: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(f"{key} must be a finite number, got {value!r}")
    return float(value)


def _path(value: str | os.PathLike[str], base: Path | None, key: str, fail: Any, check: bool) -> Path:
    path = Path(value)
    if not path.is_absolute() and base is not None:
        path = base / path
    if check and not path.is_file():
        raise fail(f"{key}: no such file {path}")
    return path


def _pipeline_ref(ref: str, base: Path | None, fail: Any) -> str:
    if ":" not in ref:
        raise fail(f"pipeline {ref!r} must look like module:attr or path/file.py:attr")
    target, _, name = ref.rpartition(":")
    if target.endswith(".py") and base is not None and not Path(target).is_absolute():
        return f"{base / target}:{name}"
    return ref


def _canary(doc: Any, fail: Any) -> CanaryConfig:
    if not isinstance(doc, Mapping):
        raise fail(f"canary must be a mapping ({', '.join(CANARY_KEYS)}), got {type(doc).__name__}")
    unknown = sorted(set(doc) - set(CANARY_KEYS))
    if unknown:
        raise fail(f"canary: unknown setting(s) {', '.join(unknown)}; known: {', '.join(CANARY_KEYS)}")
    rules: list[CanaryRule] = []
    if doc.get("max_error_rate") is not None:
        rate = _number(doc["max_error_rate"], "canary.max_error_rate", fail)
        if not 0 <= rate <= 1:
            raise fail(f"canary.max_error_rate is a share between 0 and 1, got {rate:g}")
        rules.append(CanaryRule("error_rate", "max", rate))
    metrics = doc.get("metrics") or {}
    if not isinstance(metrics, Mapping):
        raise fail("canary.metrics must map metric names to bounds, e.g. {accuracy: {min: 0.8}}")
    for metric, bounds in metrics.items():
        if metric not in LIVE_METRICS:
            raise fail(f"canary.metrics: unknown metric {metric!r}; live metrics: {', '.join(LIVE_METRICS)}")
        if not isinstance(bounds, Mapping) or not bounds:
            raise fail(f"canary.metrics.{metric} must map {'/'.join(CANARY_OPS)} to numbers")
        for op, value in bounds.items():
            if op not in CANARY_OPS:
                raise fail(f"canary.metrics.{metric}: unknown bound {op!r}; use {', '.join(CANARY_OPS)}")
            rules.append(CanaryRule(metric, op, _number(value, f"canary.metrics.{metric}.{op}", fail)))
    default_labels = DEFAULT_MIN_LABELS if rules else 0
    try:
        alias = _alias(doc.get("alias", "challenger"), "canary.alias", fail)
    except InvalidInput as error:
        raise fail(str(error)) from None
    return CanaryConfig(
        alias=alias,
        min_requests=_count(doc.get("min_requests", 100), "canary.min_requests", fail),
        min_labels=_count(doc.get("min_labels", default_labels), "canary.min_labels", fail),
        rules=tuple(rules),
        timeout_ms=_duration(doc["timeout"], "canary.timeout", fail) if doc.get("timeout") else None,
    )


def _monitor(doc: Any, base: Path | None, fail: Any, check: bool) -> MonitorSpec:
    if not isinstance(doc, Mapping):
        raise fail(f"monitor must be a mapping ({', '.join(MONITOR_KEYS)}), got {type(doc).__name__}")
    unknown = sorted(set(doc) - set(MONITOR_KEYS))
    if unknown:
        raise fail(f"monitor: unknown setting(s) {', '.join(unknown)}; known: {', '.join(MONITOR_KEYS)}")
    window = str(doc.get("window", "1h"))
    grace = str(doc.get("grace", "30s"))
    _duration(window, "monitor.window", fail)
    try:
        parse_duration(grace, allow_zero=True)
    except InvalidInput as error:
        raise fail(f"monitor.grace: {error}") from None
    alerts = doc.get("alerts")
    if isinstance(alerts, str | os.PathLike):
        alerts = _path(alerts, base, "monitor.alerts", fail, check)
    try:
        config = AlertConfig.load(alerts) if alerts is not None else None
    except InvalidInput as error:
        raise fail(f"monitor.alerts: {error}") from None
    return MonitorSpec(window, config, grace)
