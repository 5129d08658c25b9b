"""Gate policies: what a candidate must reach, alone, against the champion, and in every slice.

The format (YAML or JSON file, or the same as a dict)::

    metric_thresholds: {roc_auc: {min: 0.80}, log_loss: {max: 0.45}}
    versus_champion: {roc_auc: {min_delta: -0.005}, latency_p99_ms: {max_ratio: 1.2}}
    slices: {region: {roc_auc: {min: 0.75}}}

- ``metric_thresholds``: ``min`` / ``max`` bounds on the candidate's overall metrics.
- ``versus_champion``: ``min_delta`` / ``max_delta`` bound ``candidate - champion``;
  ``min_ratio`` / ``max_ratio`` bound ``candidate / champion``. Without a champion they pass
  with the note "no champion".
- ``slices``: ``{COLUMN: {METRIC: {min|max: …}}}``, checked on every value of the column.
- ``inconclusive``: ``pass`` (default, with a warning) or ``fail``: what a latency rule does when the
  measurement's spread across timing rounds straddles its bound (see :mod:`loopwright.evaluation.gate`).

Every section is optional, but a policy needs at least one rule. Metric names are those
:func:`loopwright.evaluate` reports (latency ones only overall and against the champion).

Examples
--------
>>> policy = GatePolicy.from_dict({"metric_thresholds": {"roc_auc": {"min": 0.8}},
...                                "slices": {"region": {"recall": {"min": 0.5}}}})
>>> [str(r) for r in policy.metric_thresholds["roc_auc"]], policy.slice_columns
(['>= 0.8'], ['region'])
>>> GatePolicy.from_dict({"metric_thresholds": {"auc": {"min": 0.8}}})
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: policy metric_thresholds: unknown metric 'auc'; known metrics: accuracy, brier_score, f1, latency_p50_ms, latency_p99_ms, log_loss, mae, mape, pr_auc, precision, r2, recall, residual_mean, residual_std, rmse, roc_auc, throughput_rows_per_s
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from loopwright.errors import InvalidInput
from loopwright.evaluation.metrics import CLASSIFICATION_METRICS, LATENCY_METRICS, REGRESSION_METRICS

SECTIONS = ("metric_thresholds", "versus_champion", "slices")
SETTINGS = ("inconclusive",)
INCONCLUSIVE = ("pass", "fail")
KNOWN_METRICS = tuple(sorted({*CLASSIFICATION_METRICS, *REGRESSION_METRICS, *LATENCY_METRICS}))
BOUNDS = ("min", "max")
COMPARISONS = ("min_delta", "max_delta", "min_ratio", "max_ratio")
Op = Literal["min", "max", "min_delta", "max_delta", "min_ratio", "max_ratio"]
_SYMBOL = {"min": ">=", "max": "<="}


@dataclass(frozen=True)
class Rule:
    """One bound: ``min``/``max`` on a value, or on the delta/ratio against the champion."""

    op: Op
    value: float

    def __str__(self) -> str:
        kind, _, what = self.op.partition("_")
        prefix = f"{what} " if what else ""
        return f"{prefix}{_SYMBOL[kind]} {self.value:g}"

    def holds(self, observed: float) -> bool:
        """Whether ``observed`` (the value, delta or ratio the rule is about) satisfies the bound."""
        return observed >= self.value if self.op.startswith("min") else observed <= self.value


@dataclass(frozen=True)
class GatePolicy:
    """A parsed, validated gate policy (see the module documentation for the format).

    Examples
    --------
    >>> import loopwright as lw
    >>> policy = lw.GatePolicy.from_dict({"metric_thresholds": {"roc_auc": {"min": 0.8}},
    ...                                   "versus_champion": {"roc_auc": {"min_delta": -0.005}}})
    >>> [str(r) for r in policy.metric_thresholds["roc_auc"]]
    ['>= 0.8']
    """

    metric_thresholds: dict[str, list[Rule]] = field(default_factory=dict)
    versus_champion: dict[str, list[Rule]] = field(default_factory=dict)
    slices: dict[str, dict[str, list[Rule]]] = field(default_factory=dict)
    #: what an inconclusive latency check counts as
    inconclusive: Literal["pass", "fail"] = "pass"

    @property
    def slice_columns(self) -> list[str]:
        return list(self.slices)

    @property
    def metrics(self) -> set[str]:
        """Every metric some rule reads."""
        return {*self.metric_thresholds, *self.versus_champion, *(m for s in self.slices.values() for m in s)}

    @classmethod
    def load(
        cls,
        policy: GatePolicy | Mapping[str, Any] | str | os.PathLike[str],
        known: Collection[str] = KNOWN_METRICS,
    ) -> GatePolicy:
        """A policy from itself, a dict, a ``.yaml``/``.yml``/``.json`` file path, or YAML text; ``known``
        are the metric names it may use (a prompt gate's are its scorers')."""
        if isinstance(policy, GatePolicy):
            return policy
        if isinstance(policy, Mapping):
            return cls.from_dict(policy, known=known)
        if not isinstance(policy, str | os.PathLike):
            raise InvalidInput(f"policy must be a dict or a YAML/JSON file path, got {type(policy).__name__}")
        path = Path(policy)
        if isinstance(policy, str) and ":" in policy and not path.is_file():
            try:  # YAML text, e.g. "metric_thresholds: {roc_auc: {min: 0.8}}"
                data = yaml.safe_load(policy)
            except yaml.YAMLError:
                data = None
            if isinstance(data, Mapping):
                return cls.from_dict(data, known=known)
        if not path.is_file():
            raise InvalidInput(f"no such policy file: {path}")
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (yaml.YAMLError, json.JSONDecodeError) as error:
            detail = " ".join(str(error).split())
            raise InvalidInput(f"policy file {path} is not valid YAML/JSON: {detail}") from None
        if data is None:
            raise InvalidInput(f"policy file {path} is empty")
        return cls.from_dict(data, where=f"policy file {path}", known=known)

    @classmethod
    def from_dict(
        cls, data: Any, where: str = "policy", known: Collection[str] = KNOWN_METRICS
    ) -> GatePolicy:
        """Validate ``data``; errors name the section, metric and rule at fault."""
        if not isinstance(data, Mapping):
            raise InvalidInput(
                f"{where} must be a mapping with {', '.join(SECTIONS)}, got {type(data).__name__}"
            )
        unknown = [str(k) for k in data if k not in SECTIONS + SETTINGS]
        if unknown:
            raise InvalidInput(
                f"{where}: unknown section {unknown[0]!r}; use {', '.join(SECTIONS + SETTINGS)}"
            )
        inconclusive = data.get("inconclusive", "pass")
        if inconclusive not in INCONCLUSIVE:
            raise InvalidInput(f"{where} inconclusive: use pass or fail, got {inconclusive!r}")
        thresholds = _metric_rules(data.get("metric_thresholds"), "metric_thresholds", BOUNDS, where, known)
        versus = _metric_rules(data.get("versus_champion"), "versus_champion", COMPARISONS, where, known)
        slices: dict[str, dict[str, list[Rule]]] = {}
        raw_slices = data.get("slices")
        if raw_slices is not None:
            if not isinstance(raw_slices, Mapping):
                raise InvalidInput(
                    f"{where} slices: expected a mapping like {{region: {{roc_auc: {{min: 0.75}}}}}}, "
                    f"got {type(raw_slices).__name__}"
                )
            for column, rules in raw_slices.items():
                if not isinstance(column, str) or not column:
                    raise InvalidInput(
                        f"{where} slices: a slice column must be a non-empty name, got {column!r}"
                    )
                parsed = _metric_rules(rules, f"slices.{column}", BOUNDS, where, known)
                latency = sorted(set(parsed) & set(LATENCY_METRICS))
                if latency:
                    raise InvalidInput(
                        f"{where} slices.{column}: {latency[0]} is measured on the whole data, not per slice"
                    )
                if not parsed:
                    raise InvalidInput(f"{where} slices.{column}: no rules")
                slices[column] = parsed
        policy = cls(thresholds, versus, slices, inconclusive)
        if not policy.metrics:
            raise InvalidInput(f"{where} has no rules: add metric_thresholds, versus_champion or slices")
        return policy

    def to_dict(self) -> dict[str, Any]:
        """The policy in its file format (normalised)."""

        def rules(mapping: Mapping[str, list[Rule]]) -> dict[str, dict[str, float]]:
            return {metric: {r.op: r.value for r in found} for metric, found in mapping.items()}

        out: dict[str, Any] = {}
        if self.metric_thresholds:
            out["metric_thresholds"] = rules(self.metric_thresholds)
        if self.versus_champion:
            out["versus_champion"] = rules(self.versus_champion)
        if self.slices:
            out["slices"] = {column: rules(found) for column, found in self.slices.items()}
        if self.inconclusive != "pass":
            out["inconclusive"] = self.inconclusive
        return out


def _metric_rules(
    raw: Any, section: str, allowed: tuple[str, ...], where: str, known: Collection[str]
) -> dict[str, list[Rule]]:
    if raw is None:
        return {}
    example = f"{{roc_auc: {{{allowed[0]}: 0.8}}}}"
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where} {section}: expected a mapping like {example}, got {type(raw).__name__}")
    out: dict[str, list[Rule]] = {}
    for metric, bounds in raw.items():
        if metric not in known:
            raise InvalidInput(
                f"{where} {section}: unknown metric {metric!r}; known metrics: {', '.join(sorted(known))}"
            )
        if not isinstance(bounds, Mapping) or not bounds:
            raise InvalidInput(
                f"{where} {section}.{metric}: expected a mapping like {{{allowed[0]}: 0.8}}, got {bounds!r}"
            )
        rules = []
        for op, value in bounds.items():
            if op not in allowed:
                raise InvalidInput(
                    f"{where} {section}.{metric}: unknown rule {op!r}; use {' or '.join(allowed)}"
                )
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidInput(f"{where} {section}.{metric}.{op} must be a finite number, got {value!r}")
            if op.endswith("_ratio") and value <= 0:
                raise InvalidInput(f"{where} {section}.{metric}.{op} must be positive, got {value!r}")
            rules.append(Rule(op, float(value)))
        out[str(metric)] = rules
    return out
