"""Alerts on monitoring windows: rules, de-duplication by state, a log line and a webhook.

A config (a YAML file or a dict) names the rules::

    drift: true                      # the dataset drifts (the default)
    # or, in detail:
    # drift: {dataset: true, features: [tenure, plan], prediction: true}
    metrics:                         # realised metrics, once labels arrive
      accuracy: {min: 0.80}
      roc_auc: {min: 0.75}
      mae: {max: 4.5}
    estimated: true                  # the same metric rules on CBPE estimates (default true)
    min_labels: 30                   # judge realised metrics only with this many labelled rows
    min_rows: 30                     # judge estimates only with this many scored rows
    webhook:
      url: https://hooks.example.com/loopwright
      headers: {Authorization: "Bearer ${ALERT_TOKEN}"}   # ${VAR} comes from the environment
      timeout: 5

Every rule keeps a state per endpoint in the store (``ok`` or ``firing``). A window where a rule's
condition fails while it is ``ok`` fires it (status ``firing``); while the condition persists
nothing more is sent; the first window where it holds again sends ``resolved``. A window a rule
cannot judge (no traffic, labels pending, too few rows) leaves its state alone. Windows older than
the last one a rule judged are not judged again, so re-running the monitor over the same windows
never repeats an alert (re-judging the *latest* window is idempotent: transitions only).

Each transition is a WARNING log line and, with a webhook, an HTTP POST of a JSON body (see
:func:`payload`). A failed POST (timeout, connection refused, non-2xx) is logged and stays
``pending`` in the store; the next run retries it (up to ``MAX_ATTEMPTS``), oldest first. Log lines
show a webhook as ``scheme://host/…`` only: paths and query strings often carry tokens.

Examples
--------
>>> config = AlertConfig.from_dict({"drift": {"features": ["tenure"]}, "metrics": {"accuracy": {"min": 0.8}}})
>>> [r.name for r in config.rules]
['drift', 'drift:tenure', 'metric:accuracy', 'estimated:accuracy']
>>> redact_url("https://user:secret@hooks.example.com/services/T0/B0/XXXX?token=abc")
'https://hooks.example.com/…'
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import yaml

from loopwright.errors import InvalidInput
from loopwright.monitoring.window import WindowSummary
from loopwright.store.entities import AlertEvent, AlertState, now_ms
from loopwright.store.interface import Store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
RuleKind = Literal["drift", "feature_drift", "prediction_drift", "metric", "estimated"]
_TOP_KEYS = {"drift", "metrics", "estimated", "min_labels", "min_rows", "webhook"}


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of a URL, with ``/…`` when it had more: what log lines may show."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    rest = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


@dataclass(frozen=True)
class Webhook:
    """Where alerts are POSTed: ``url``, extra ``headers`` (e.g. a token), ``timeout`` in seconds."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 5.0

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"webhook URL must be http(s)://HOST/…, got {redact_url(self.url)!r}")
        if not self.timeout > 0:
            raise InvalidInput(f"webhook timeout must be positive, got {self.timeout}")

    def __repr__(self) -> str:  # never show the full URL or the headers' values
        return f"Webhook({redact_url(self.url)!r})"

    @classmethod
    def from_value(cls, value: str | Mapping[str, Any]) -> Webhook:
        """A URL string or ``{url, headers, timeout}``; ``${VAR}`` in the URL/headers is expanded."""
        if isinstance(value, str):
            return cls(os.path.expandvars(value))
        if not isinstance(value, Mapping) or "url" not in value:
            raise InvalidInput("webhook must be a URL or a mapping with 'url' (and 'headers', 'timeout')")
        unknown = set(value) - {"url", "headers", "timeout"}
        if unknown:
            raise InvalidInput(f"unknown webhook setting(s): {', '.join(sorted(unknown))}")
        headers = value.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise InvalidInput("webhook headers must be a mapping of names to values")
        return cls(
            os.path.expandvars(str(value["url"])),
            {str(k): os.path.expandvars(str(v)) for k, v in headers.items()},
            float(value.get("timeout", 5.0)),
        )

    def post(self, body: Mapping[str, Any]) -> str | None:
        """POST ``body`` as JSON; ``None`` on a 2xx answer, else why it failed (never raises)."""
        try:
            response = httpx.post(
                self.url, json=dict(body), headers=self.headers, timeout=self.timeout, follow_redirects=False
            )
        except Exception as error:  # timeouts, refused connections…: never take the monitor down
            return type(error).__name__
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"


@dataclass(frozen=True)
class AlertRule:
    """One condition on a window; :meth:`check` says whether it fails (``None``: cannot judge)."""

    name: str
    kind: RuleKind
    target: str | None = None
    min: float | None = None
    max: float | None = None

    def check(self, window: WindowSummary, config: AlertConfig) -> tuple[bool | None, float | None, str]:
        """``(failing, value, message)`` for ``window``."""
        if self.kind == "drift":
            if window.drifted is None:
                return None, None, ""
            n = len(window.drifted_features)
            what = (
                f"{n} feature(s) drifted ({', '.join(window.drifted_features)})"
                if n
                else "no feature drifted"
            )
            pred = ", and the prediction" if window.prediction_drifted else ""
            # name the versions that drifted: a canary's drift must not read as the champion's
            versions = window.drifted_versions
            where = f" in {', '.join(versions)}" if window.drifted and versions else ""
            return window.drifted, window.share_drifted, f"dataset drift{where}: {what}{pred}"
        if self.kind == "feature_drift":
            assert self.target is not None
            if window.drifted is None or self.target not in window.effects:
                return None, None, ""
            effect = window.effects.get(self.target)
            if effect is None:  # untestable in this window (missing, all NaN, …)
                return None, None, ""
            return (
                self.target in window.drifted_features,
                effect,
                f"feature {self.target!r} drifted (effect {effect:.3g})",
            )
        if self.kind == "prediction_drift":
            if window.prediction_drifted is None:
                return None, None, ""
            return window.prediction_drifted, None, "prediction drift"
        assert self.target is not None
        realised = self.kind == "metric"
        values = window.metrics if realised else window.estimated
        value = values.get(self.target)
        enough = window.labelled >= config.min_labels if realised else window.n_rows >= config.min_rows
        if value is None or not math.isfinite(value) or not enough:
            return None, None, ""
        label = self.target if realised else f"estimated {self.target}"
        basis = f"{window.labelled} labelled rows" if realised else f"CBPE, {window.n_rows} rows"
        if self.min is not None and value < self.min:
            return True, value, f"{label} {value:.4g} below min {self.min:g} ({basis})"
        if self.max is not None and value > self.max:
            return True, value, f"{label} {value:.4g} above max {self.max:g} ({basis})"
        return False, value, f"{label} {value:.4g} within bounds ({basis})"

    @property
    def threshold(self) -> dict[str, float] | None:
        bounds = {k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None}
        return bounds or None


@dataclass(frozen=True)
class AlertConfig:
    """Alert rules, thresholds and the webhook (see the module docstring for the file format).

    Examples
    --------
    >>> import loopwright as lw
    >>> config = lw.AlertConfig.from_dict({"metrics": {"accuracy": {"min": 0.8}}, "min_labels": 50})
    >>> [r.name for r in config.rules], config.min_labels
    (['drift', 'metric:accuracy', 'estimated:accuracy'], 50)
    """

    rules: tuple[AlertRule, ...] = (AlertRule("drift", "drift"),)
    webhook: Webhook | None = None
    min_labels: int = 30
    min_rows: int = 30

    @classmethod
    def load(cls, value: AlertConfig | Mapping[str, Any] | str | Path | None) -> AlertConfig:
        """A config from a YAML file path, a dict, an :class:`AlertConfig`, or ``None`` (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, AlertConfig):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        path = Path(value)
        try:
            doc = yaml.safe_load(path.read_text())
        except OSError as error:
            raise InvalidInput(f"cannot read alert config {path}: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise InvalidInput(f"alert config {path} is not valid YAML: {error}") from None
        return cls.from_dict(doc or {})

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AlertConfig:
        """Parse the mapping form (unknown keys and malformed thresholds raise ``InvalidInput``)."""
        if not isinstance(doc, Mapping):
            raise InvalidInput("an alert config must be a mapping")
        unknown = set(doc) - _TOP_KEYS
        if unknown:
            raise InvalidInput(
                f"unknown alert setting(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(_TOP_KEYS))})"
            )
        rules: list[AlertRule] = []
        drift = doc.get("drift", True)
        if isinstance(drift, bool):
            drift = {"dataset": drift}
        if not isinstance(drift, Mapping) or set(drift) - {"dataset", "features", "prediction"}:
            raise InvalidInput(
                "drift must be true/false or {dataset: bool, features: [names], prediction: bool}"
            )
        if drift.get("dataset", True):
            rules.append(AlertRule("drift", "drift"))
        features = drift.get("features") or []
        if isinstance(features, str) or not isinstance(features, Sequence):
            raise InvalidInput("drift.features must be a list of feature names")
        rules += [AlertRule(f"drift:{f}", "feature_drift", str(f)) for f in features]
        if drift.get("prediction", False):
            rules.append(AlertRule("prediction_drift", "prediction_drift"))
        metrics = doc.get("metrics") or {}
        if not isinstance(metrics, Mapping):
            raise InvalidInput("metrics must map metric names to {min: x} and/or {max: y}")
        metric_rules = [_metric_rule(str(name), bounds) for name, bounds in metrics.items()]
        rules += metric_rules
        if doc.get("estimated", True):
            rules += [replace(r, name=f"estimated:{r.target}", kind="estimated") for r in metric_rules]
        webhook = doc.get("webhook")
        return cls(
            tuple(rules),
            Webhook.from_value(webhook) if webhook else None,
            _count(doc, "min_labels", 30),
            _count(doc, "min_rows", 30),
        )


def _metric_rule(name: str, bounds: Any) -> AlertRule:
    if not isinstance(bounds, Mapping) or not bounds or set(bounds) - {"min", "max"}:
        raise InvalidInput(f"metrics.{name} must be {{min: x}} and/or {{max: y}}, got {bounds!r}")
    values: dict[str, float] = {}
    for key, raw in bounds.items():
        try:
            values[key] = float(raw)
        except (TypeError, ValueError):
            raise InvalidInput(f"metrics.{name}.{key} must be a number, got {raw!r}") from None
    if "min" not in values and "max" not in values:
        raise InvalidInput(f"metrics.{name} needs min or max")
    return AlertRule(f"metric:{name}", "metric", name, values.get("min"), values.get("max"))


def _count(doc: Mapping[str, Any], key: str, default: int) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{key} must be a non-negative integer, got {value!r}")
    return value


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def payload(
    endpoint: str,
    rule: AlertRule,
    status: str,
    window: WindowSummary,
    value: float | None,
    message: str,
) -> dict[str, Any]:
    """The JSON body of a webhook POST (``id`` is added at delivery: receivers can de-duplicate)."""
    return {
        "source": "loopwright",
        "endpoint": endpoint,
        "rule": rule.name,
        "status": status,
        "message": message,
        "value": value,
        "threshold": rule.threshold,
        "window": {
            "start": _iso(window.start_ms),
            "end": _iso(window.end_ms),
            "start_ms": window.start_ms,
            "end_ms": window.end_ms,
            "closed": window.closed,
            "rows": window.n_rows,
            "labelled": window.labelled,
        },
        "model_versions": list(window.model_versions),
        "drifted_features": list(window.drifted_features),
        "metrics": dict(window.metrics),
        "estimated": dict(window.estimated),
        "time": _iso(now_ms()),
    }


@dataclass
class Alerter:
    """Judges windows against the rules, keeps the per-rule state, logs and delivers transitions."""

    endpoint: str
    config: AlertConfig
    store: Store

    def judge(self, windows: Sequence[WindowSummary]) -> tuple[list[AlertState], list[AlertEvent]]:
        """New states and events for ``windows`` (oldest first); each window's ``alerts`` gets the
        messages of the transitions it caused. Nothing is stored yet."""
        states = self.store.get_alert_states(self.endpoint)
        changed: dict[str, AlertState] = {}
        events: list[AlertEvent] = []
        for window in sorted(windows, key=lambda w: (w.end_ms, w.start_ms)):
            for rule in self.config.rules:
                state = changed.get(rule.name) or states.get(rule.name)
                if state is not None and window.end_ms < state.last_end_ms:
                    continue  # judged a later window already: never alert out of order
                failing, value, message = rule.check(window, self.config)
                if failing is None:
                    continue
                was_firing = state is not None and state.firing
                since = None
                if failing:
                    since = state.since_ms if state is not None and was_firing else window.start_ms
                changed[rule.name] = AlertState(
                    self.endpoint, rule.name, failing, since, window.end_ms, value
                )
                if failing == was_firing:
                    continue
                status: Literal["firing", "resolved"] = "firing" if failing else "resolved"
                window.alerts.append(f"{status}: {message}")
                events.append(
                    AlertEvent(
                        self.endpoint,
                        rule.name,
                        status,
                        window.start_ms,
                        window.end_ms,
                        message,
                        payload(self.endpoint, rule, status, window, value, message),
                        "pending" if self.config.webhook else "none",
                    )
                )
        return list(changed.values()), events

    def commit(self, states: Sequence[AlertState], events: Sequence[AlertEvent]) -> list[AlertEvent]:
        """Store states and events, log each event, and POST it to the webhook if there is one."""
        stored = self.store.update_alerts(states, events)
        for event in stored:
            log.warning(
                "alert %s: endpoint %s, rule %s, window %s..%s: %s",
                event.status,
                self.endpoint,
                event.rule,
                _iso(event.start_ms),
                _iso(event.end_ms),
                event.message,
            )
        return [self._deliver(e) for e in stored]

    def retry_pending(self) -> list[AlertEvent]:
        """Deliver events whose webhook POST failed in an earlier run, oldest first."""
        if self.config.webhook is None:
            return []
        return [self._deliver(e) for e in self.store.list_alert_events(self.endpoint, delivery="pending")]

    def _deliver(self, event: AlertEvent) -> AlertEvent:
        webhook = self.config.webhook
        if webhook is None or event.delivery != "pending" or event.id is None:
            return event
        attempts = event.attempts + 1
        error = webhook.post({**event.payload, "id": event.id})
        if error is None:
            delivered = now_ms()
            self.store.set_alert_delivery(event.id, "sent", attempts, delivered)
            return replace(event, delivery="sent", attempts=attempts, delivered_ms=delivered)
        final = attempts >= MAX_ATTEMPTS
        log.warning(
            "alert webhook %s failed for alert %d (%s, attempt %d): %s%s",
            redact_url(webhook.url),
            event.id,
            event.rule,
            attempts,
            error,
            "; giving up" if final else "; retrying on the next run",
        )
        delivery: Literal["pending", "failed"] = "failed" if final else "pending"
        self.store.set_alert_delivery(event.id, delivery, attempts)
        return replace(event, delivery=delivery, attempts=attempts)
