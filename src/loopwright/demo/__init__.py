"""The end-to-end demo ``make demo`` runs: the whole loop on embedded defaults and offline data.

tracking → cached pipeline → registry (champion + reference profile) → gate a challenger →
serve the champion and send traffic → detect injected drift in the served traffic → HTML report →
the loop closing itself (:mod:`loopwright.demo.loop`): drift in live traffic starts a retrain, the
candidate is gated, canaried and promoted; a worse candidate is rejected; the loop's history.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.markup import escape
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopwright as lw
from loopwright.cli.gate import gate_rows
from loopwright.cli.monitor import windows_table
from loopwright.cli.render import table
from loopwright.demo.loop import MODEL as LOOP_MODEL
from loopwright.demo.loop import run_loop_demo
from loopwright.demo.pipeline import TARGET, cancer, cancer_data, split_data
from loopwright.demo.traffic import drifted, send, wait_for_next_window

MODEL = "cancer-classifier"
EXPERIMENT = "demo-cancer"
WINDOW_S = 3
GATE_POLICY = {
    "metric_thresholds": {"roc_auc": {"min": 0.95}, "log_loss": {"max": 0.3}},
    "versus_champion": {"roc_auc": {"min_delta": -0.01}},
}


def run_demo(
    console: Console, home: Path | None = None, keep_serving: bool = False, port: int = 5000
) -> None:
    """Run every stage of the loop once, printing what each one did; then the web UI's address (with
    ``keep_serving``, serve the UI on ``port`` until interrupted)."""
    started = time.perf_counter()
    frame = cancer_data()
    train, test = split_data(frame)
    features = [c for c in frame.columns if c != TARGET]
    X_train, y_train = train[features], train[TARGET]

    console.rule("[bold]1. tracking: three candidate models")
    lw.set_experiment(EXPERIMENT)
    for C in (0.01, 0.1, 1.0):
        with lw.start_run(name=f"logreg-C{C}", tags={"demo": "true"}) as run:
            lw.log_params({"C": C, "penalty": "l2"})
            lw.log_dataset(train, name="train", context="train")
            model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000)).fit(
                X_train, y_train
            )
            proba = model.predict_proba(test[features])[:, 1]
            for step, threshold in enumerate(np.linspace(0.3, 0.7, 5)):
                lw.log_metric("acc_at_threshold", accuracy_score(test[TARGET], proba > threshold), step=step)
            lw.log_metrics(
                {"auc": roc_auc_score(test[TARGET], proba), "acc": accuracy_score(test[TARGET], proba > 0.5)}
            )
            lw.log_model(model, "model", input_example=X_train[:5], onnx=True)
    best = lw.search_runs(
        experiment=EXPERIMENT, filter="params.penalty = 'l2'", order_by=["metrics.auc DESC"], max_results=3
    )
    console.print(best[["name", "params.C", "metrics.auc", "metrics.acc"]].to_string(index=False))

    console.rule("[bold]2. a cached pipeline")
    for attempt, C in (("run", 0.5), ("same again", 0.5), ("C changed", 0.1)):
        tick = time.perf_counter()
        result = cancer.run(C=C)
        console.print(
            f"{attempt}: {time.perf_counter() - tick:.2f} s, auc {result.output['auc']:.4f}; "
            f"executed {', '.join(result.executed) or 'nothing'}; cached {', '.join(result.cache_hits) or 'nothing'}"
        )

    console.rule("[bold]3. registry: the champion and its reference profile")
    champion = lw.register_model(f"runs:/{best['run_id'].iloc[0]}/model", MODEL, description="demo: best AUC")
    lw.set_alias(MODEL, "champion", champion.version)
    champion_model = lw.load_model(f"models:/{MODEL}@champion")
    reference = X_train.assign(prediction=champion_model.predict(X_train))
    lw.profile(reference, prediction="prediction", model=f"models:/{MODEL}/{champion.version}")
    console.print(f"models:/{MODEL}@champion → version {champion.version}, reference profile stored")

    console.rule("[bold]4. gate: a challenger against the champion")
    with lw.start_run(name="random-forest") as run:
        forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(X_train, y_train)
        lw.log_model(forest, "model", input_example=X_train[:5])
    challenger = lw.register_model(f"runs:/{run.id}/model", MODEL, description="demo: challenger")
    verdict = lw.gate(
        f"models:/{MODEL}/{challenger.version}",
        policy=GATE_POLICY,
        data=test,
        target=TARGET,
        promote="challenger",
    )
    console.print(
        table(
            f"gate models:/{MODEL}/{challenger.version} vs champion",
            ["metric", "candidate", "champion", "rule", "result", "note"],
            gate_rows(verdict),
            markup=True,
        )
    )
    outcome = (
        "[green]passed[/]: alias challenger set" if verdict.passed else "[red]failed[/]: nothing promoted"
    )
    console.print(f"gate {outcome} (the verdict is in `loopwright models audit {MODEL}`)")

    console.rule("[bold]5. serving the champion")
    from loopwright.serving import run_in_thread

    server = run_in_thread(f"models:/{MODEL}@champion", poll_interval=1.0)
    try:
        url = f"{server.url}/endpoints/{MODEL}/predict"
        sample = test.sample(n=240, replace=True, random_state=1)
        with httpx.Client(timeout=10) as client:
            send(client, url, sample[features].head(20), sample[TARGET].head(20))  # warm up
            wait_for_next_window(WINDOW_S)
            since = datetime.now(UTC)
            normal = send(client, url, sample[features], sample[TARGET])
            wait_for_next_window(WINDOW_S)
            shifted_columns = ["mean radius", "mean texture", "mean perimeter", "mean area", "worst radius"]
            shifted = send(client, url, drifted(sample[features], shifted_columns), sample[TARGET])
            for traffic in (normal, shifted):
                for request_id, label in zip(traffic.request_ids, traffic.labels, strict=True):
                    client.post(
                        f"{server.url}/endpoints/{MODEL}/feedback",
                        json={"request_id": request_id, "label": label},
                    ).raise_for_status()
            metrics = client.get(f"{server.url}/metrics").text
        console.print(
            f"{len(normal.latencies_ms) + len(shifted.latencies_ms)} single-row requests over HTTP: "
            f"p50 {normal.p50:.2f} ms, p99 {normal.p99:.2f} ms (answered by version {', '.join(sorted(normal.versions))})"
        )
        interesting = [
            line
            for line in metrics.splitlines()
            if line.startswith(("loopwright_requests_total", "loopwright_batches_total"))
        ]
        console.print("/metrics (excerpt):\n  " + "\n  ".join(escape(line) for line in interesting[:6]))
        server.app.prediction_log.flush()
    finally:
        server.stop()

    console.rule("[bold]6. monitoring: drift in the served traffic")
    report = (home or Path(lw.get_client().settings.home)) / "demo-monitor-report.html"
    windows = lw.monitor(MODEL, window=f"{WINDOW_S}s", since=since, grace="0s", report=report)
    console.print(windows_table(f"monitor {MODEL}", list(windows)))
    drifted_windows = [w for w in windows if w.drifted]
    if drifted_windows:
        features_seen = sorted({f for w in drifted_windows for f in w.drifted_features})
        console.print(
            f"[yellow]drift detected[/] in {len(drifted_windows)} window(s): {', '.join(features_seen)}"
        )
    console.print(f"HTML report: {report}")

    run_loop_demo(console, home or Path(lw.get_client().settings.home))
    console.print(
        f"[green]demo finished in {time.perf_counter() - started:.0f} s[/] — try `loopwright runs list --experiment "
        f"{EXPERIMENT}`, `loopwright models show {MODEL}`, `loopwright models audit {MODEL}`, "
        f"`loopwright monitor windows --endpoint {MODEL}`, `loopwright loop status {LOOP_MODEL}`"
    )
    show_web_ui(console, keep_serving, port)


def show_web_ui(console: Console, keep_serving: bool, port: int = 5000) -> None:
    """Print where the web UI shows what the demo recorded: serve it now, or print the command.

    >>> import io, os, tempfile
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> out = Console(file=io.StringIO(), width=400)
    >>> show_web_ui(out, keep_serving=False)
    >>> "loopwright server --store-uri" in out.file.getvalue()
    True
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client = lw.get_client()
    store_uri = client.store.uri
    if store_uri.startswith(("http://", "https://")):  # a team server already serves the UI
        console.print(f"Web UI: {store_uri.rstrip('/')}/loop")
        return
    url = f"http://127.0.0.1:{port}"
    console.rule("[bold]web UI")
    if not keep_serving:
        command = (
            f"loopwright server --store-uri '{store_uri}' --artifact-uri '{client.blobs.root}' --port {port}"
        )
        console.print(
            f"Explore it in the web UI: run [bold]{escape(command)}[/] and open {url}/", soft_wrap=True
        )
        return
    from loopwright.server.config import ServerConfig
    from loopwright.server.run import run_server

    console.print(
        f"Web UI at [bold]{url}/[/] (experiments, models, pipelines, deployments, loop); Ctrl-C stops it"
    )
    run_server(ServerConfig(store_uri, client.blobs.root), port=port)
