"""Live-monitoring test helpers: a calibrated classifier, traffic with chosen timestamps, a webhook
receiver. Everything is real: the model is logged and registered, the traffic goes through the
serving prediction log (``PredictionLog`` writes the same Parquet files the server writes), the
receiver is an HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from loopwright.serving.inputs import ModelInput
from loopwright.serving.prediction_log import PredictionLog

FEATURES = ["f0", "f1", "f2", "f3"]
HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def true_proba(X: pd.DataFrame) -> np.ndarray:
    """P(churn | x): the labels are drawn from this, so a logistic model is calibrated on any x."""
    return 1 / (1 + np.exp(-(3.0 * X.f0 + 2.0 * X.f1 - 1.0 * X.f2).to_numpy()))


def sample(n: int, rng: np.random.Generator, shifted: bool = False) -> pd.DataFrame:
    """Baseline inputs, or covariate-shifted ones (f0 and f1 squeezed towards the decision boundary:
    drift in both and an accuracy drop from ~0.87 to ~0.70, while the model stays calibrated)."""
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    if shifted:
        X["f0"] = rng.normal(0, 0.15, n)
        X["f1"] = rng.normal(0, 0.15, n)
    return X


def labels_for(X: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(len(X)) < true_proba(X)).astype(int)


def register_classifier(name: str = "churn", profile: bool = True, seed: int = 0) -> LogisticRegression:
    """Fit, log and register a calibrated classifier (alias champion); store its reference profile."""
    rng = np.random.default_rng(seed)
    X = sample(5000, rng)
    model = LogisticRegression().fit(X, labels_for(X, rng))
    with lw.start_run(name=f"train-{name}"):
        info = lw.log_model(model, "model", input_example=X.head(3))
    version = lw.register_model(info.uri, name).version
    lw.set_alias(name, "champion", version)
    if profile:
        lw.profile(X, model=f"models:/{name}/{version}")
    return model


@dataclass
class Traffic:
    """Writes requests into an endpoint's prediction log with chosen timestamps."""

    endpoint: str = "churn"
    log: PredictionLog = field(default_factory=lambda: PredictionLog(lw.get_client))
    sent: list[tuple[str, pd.DataFrame]] = field(default_factory=list)

    def send(
        self,
        X: pd.DataFrame,
        ts_ms: int,
        model: Any,
        version: int | None,
        *,
        predictions: np.ndarray | None = None,
        request_rows: int = 250,
        name: str | None = "churn",
    ) -> list[str]:
        """Log ``X`` as requests of ``request_rows`` rows at ``ts_ms`` (+1 ms each); ``model`` scores
        them (a LoadedModel), or is None with explicit ``predictions``."""
        ids = []
        for k, start in enumerate(range(0, len(X), request_rows)):
            part = X.iloc[start : start + request_rows].reset_index(drop=True)
            output = (
                predictions[start : start + len(part)] if predictions is not None else model.predict(part)
            )
            rid = uuid.uuid4().hex
            data = ModelInput(part, len(part), tuple(str(c) for c in part.columns))
            self.log.record(self.endpoint, rid, ts_ms + k, model, name, version, 1.0, data, output)
            ids.append(rid)
            self.sent.append((rid, part))
        return ids

    def flush(self) -> None:
        self.log.flush()

    def close(self) -> None:
        self.log.close()


def give_feedback(
    endpoint: str, ids: list[str], rows: dict[str, pd.DataFrame], rng: np.random.Generator
) -> int:
    """Log labels drawn from the true probabilities for the requests ``ids``; returns rows labelled."""
    n = 0
    for rid in ids:
        labels = labels_for(rows[rid], rng)
        lw.log_feedback(endpoint, rid, labels.tolist())
        n += len(labels)
    return n


@dataclass
class Receiver:
    """A webhook receiver: records every POST (path, headers, JSON body); answers ``status``."""

    status: int = 200
    delay: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.received]


@contextmanager
def webhook_receiver(status: int = 200, delay: float = 0.0) -> Iterator[Receiver]:
    receiver = Receiver(status, delay)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if receiver.delay:
                time.sleep(receiver.delay)
            receiver.received.append(
                {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
            )
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/loopwright"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
