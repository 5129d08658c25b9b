"""The demo's last act: the loop closes itself on live traffic.

A churn model serves an endpoint (``examples/deployment.yaml``: champion and a dormant canary
route). Traffic like its training data leaves the loop idle; shifted traffic is drift, which
starts a retrain (``examples/churn_pipeline.py``), the candidate is gated (``examples/gate.yaml``),
takes canary traffic and, judged on its own labelled requests, is promoted (``examples/loop.yaml``).
A second round forces a deliberately worse candidate (trained on shuffled labels), which the gate
rejects. The history of both cycles ends the act.

The example files ship in this package (``loopwright/demo/examples``, the one source of truth;
the repository's ``examples/`` holds the same files) and are copied into ``LOOPWRIGHT_HOME/examples``,
where the demo writes their data and runs them, as a user would after copying them.
"""

from __future__ import annotations

import importlib
import time
from collections import Counter
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import yaml
from rich.console import Console
from rich.markup import escape

import loopwright as lw
from loopwright.cli.gate import gate_rows
from loopwright.cli.render import table
from loopwright.demo.traffic import wait_for_next_window
from loopwright.loop import LoopConfig, LoopResult
from loopwright.pipelines.pipeline import load_pipeline
from loopwright.serving import ServerHandle, run_in_thread
from loopwright.serving.deployment import Deployment
from loopwright.store.entities import LoopTransition

MODEL = "churn"
EXAMPLE_FILES = ("README.md", "churn_pipeline.py", "deployment.yaml", "gate.yaml", "loop.yaml")
ROWS_PER_REQUEST = 10
STYLE = {"retraining": "yellow", "gated": "yellow", "canary": "cyan", "promoted": "bold green"}
STYLE |= {"rolled_back": "bold red", "failed": "red", "idle": "dim"}


def copy_examples(folder: Path) -> Path:
    """Copy the example files (pipeline, gate policy, loop config, deployment) into ``folder``.

    Examples
    --------
    >>> import tempfile
    >>> sorted(p.name for p in copy_examples(Path(tempfile.mkdtemp())).iterdir())
    ['README.md', 'churn_pipeline.py', 'deployment.yaml', 'gate.yaml', 'loop.yaml']
    """
    folder.mkdir(parents=True, exist_ok=True)
    source = files("loopwright.demo") / "examples"
    for name in EXAMPLE_FILES:
        (folder / name).write_bytes((source / name).read_bytes())
    return folder


def run_loop_demo(console: Console, home: Path, window_s: int = 3) -> list[LoopTransition]:
    """Serve the churn champion, let drift in its traffic start a cycle that ends promoted, force a
    worse candidate that the gate rejects, and print the loop's history (which it returns)."""
    folder = copy_examples(home / "examples")
    pipeline_file = folder / "churn_pipeline.py"
    load_pipeline(f"{pipeline_file}:churn_training")  # imports it from the copied folder, as the loop does
    example: Any = importlib.import_module(pipeline_file.stem)
    data = example.write_data(folder / "data")  # before the config: it checks that the holdout exists
    config = LoopConfig.load(folder / "loop.yaml")
    console.print(
        f"example files copied to {escape(str(folder))} (pipeline, gate policy, loop config, deployment)"
    )

    console.rule("[bold]7. the loop: drift in live traffic → retrain → gate → canary → promote")
    trained = example.churn_training.run(data=str(data["baseline"]))
    champion = lw.register_model(trained.model_uri("train"), MODEL, description="demo: the first churn model")
    lw.set_alias(MODEL, "champion", champion.version)
    baseline = pd.read_parquet(data["baseline"])
    lw.profile(baseline[example.FEATURES], model=champion.uri)
    console.print(
        f"models:/{MODEL}@champion → version {champion.version} (pipeline churn_training), reference profile stored"
    )

    loop = lw.Loop(config)
    server = run_in_thread(Deployment.load(folder / "deployment.yaml"), poll_interval=0.2)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            _wait_serving(http, champion=champion.version, challenger=None)
            wait_for_next_window(window_s)
            served = _send(http, server, example.churn_sample(400, seed=2), example)
            console.print(f"traffic like the training data: {_requests(served)}")
            wait_for_next_window(window_s)
            _narrate(console, loop.step())

            served = _send(http, server, example.churn_sample(400, seed=3, shifted=True), example)
            console.print(f"traffic after a price change (charges up, tenures bunched): {_requests(served)}")
            wait_for_next_window(window_s)
            result = loop.step()
            _narrate(console, result)
            if result.state != "canary" or result.candidate is None:
                raise RuntimeError(
                    f"the loop should have started a canary, it is {result.state}: {result.reason}"
                )
            _wait_serving(http, champion=champion.version, challenger=result.candidate.version)
            for seed in range(10, 20):  # labelled canary traffic until the canary has its verdict
                served = _send(http, server, example.churn_sample(1000, seed=seed, shifted=True), example)
                console.print(f"live traffic with labels fed back: {_requests(served)}")
                result = loop.step()
                _narrate(console, result)
                if result.state != "canary":
                    break
            if result.promoted and result.candidate is not None:
                _wait_serving(http, champion=result.candidate.version, challenger=None)
                console.print(
                    f"the server hot-swapped: {MODEL}@champion answers with version {result.candidate.version}"
                )

        console.rule("[bold]8. the loop again: a deliberately worse candidate")
        doc = yaml.safe_load((folder / "loop.yaml").read_text())
        doc["params"] = {**doc["params"], "shuffle_labels": True}
        worse = LoopConfig.from_dict(doc, base=folder, source=str(folder / "loop.yaml"))
        console.print("forced with params.shuffle_labels: true (a model that learned from shuffled labels)")
        _narrate(console, lw.Loop(worse).step(force=True))
    finally:
        server.stop()

    console.rule("[bold]9. the loop's history")
    history = lw.list_loop_history(MODEL)
    console.print(
        table(
            f"loopwright loop status {MODEL}",
            ["cycle", "from", "to", "version", "in state", "reason"],
            [
                (
                    t.cycle,
                    _state(t.from_state),
                    _state(t.to_state),
                    t.version,
                    "" if t.duration_ms is None else f"{t.duration_ms / 1000:.1f} s",
                    escape(t.reason),
                )
                for t in history
            ],
            markup=True,
        )
    )
    ends = Counter(t.to_state for t in history)
    console.print(
        f"loop summary: {ends['promoted']} promoted, {ends['rolled_back']} rolled back, "
        f"{ends['failed']} failed; {MODEL}@champion is version "
        f"{lw.get_model_version_by_alias(MODEL, 'champion').version}"
    )
    return history


def _state(name: str) -> str:
    return f"[{STYLE.get(name, '')}]{name}[/]"


def _narrate(console: Console, result: LoopResult) -> None:
    """One line per transition the step made (or why it made none), then the gate's checks."""
    if not result.transitions:
        console.print(f"  loop step: stays {_state(result.state)}: {escape(result.reason)}")
    for t in result.transitions:
        version = f" v{t.version}" if t.version is not None else ""
        console.print(
            f"  cycle {t.cycle}: {_state(t.from_state)} → {_state(t.to_state)}{version}: {escape(t.reason)}"
        )
    if result.gate is not None:
        console.print(
            table(
                f"gate {result.gate.model_uri} vs {result.gate.champion_uri or 'no champion'}",
                ["metric", "candidate", "champion", "rule", "result", "note"],
                gate_rows(result.gate),
                markup=True,
            )
        )


def _send(http: httpx.Client, server: ServerHandle, frame: pd.DataFrame, example: Any) -> Counter[str]:
    """POST ``frame`` in requests of 10 rows, send each request's true labels back
    (``/endpoints/churn/feedback``), flush the prediction log; count the versions that answered."""
    answered: Counter[str] = Counter()
    for start in range(0, len(frame), ROWS_PER_REQUEST):
        part = frame.iloc[start : start + ROWS_PER_REQUEST]
        response = http.post(
            f"/endpoints/{MODEL}/predict", json={"instances": part[example.FEATURES].to_dict("records")}
        )
        response.raise_for_status()
        answered[response.headers["x-model-version"]] += 1
        feedback = {"request_id": response.json()["request_id"], "label": part[example.TARGET].tolist()}
        http.post(f"/endpoints/{MODEL}/feedback", json=feedback).raise_for_status()
    server.app.prediction_log.flush()  # what monitoring and the canary read
    return answered


def _requests(answered: Counter[str]) -> str:
    by = ", ".join(f"{n} by version {v}" for v, n in sorted(answered.items()))
    return f"{sum(answered.values())} requests of {ROWS_PER_REQUEST} rows ({by})"


def _wait_serving(http: httpx.Client, timeout: float = 30.0, **expected: int | None) -> None:
    """Wait until the endpoint's routes serve the ``expected`` versions by alias (hot swap polls)."""
    deadline = time.monotonic() + timeout
    while True:
        routes = http.get(f"/endpoints/{MODEL}").json()["routes"]
        found = {r["model"].split("@")[1]: r["model_version"] for r in routes}
        if found == expected:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server serves {found}, not {expected}")
        time.sleep(0.1)
