"""One side of bench/drift.py, run in its own process: Loopwright in our venv, Evidently in its own.

It loads the two Parquet files (not timed), then runs the tool's data-drift check while a thread
samples the resident set size every 2 ms; it prints one JSON line: wall time, peak RSS above the
RSS right after loading (memory "beyond the input frames"), and the columns the tool flagged.
Only the standard library is imported at module level, so both venvs can run it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import threading
import time
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1 << 20


def rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


class PeakRss:
    """Highest RSS seen while the block runs (sampled every 2 ms in a thread)."""

    def __enter__(self) -> PeakRss:
        self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def run_loopwright(ref: Any, cur: Any, spec: dict[str, Any]) -> dict[str, Any]:
    import loopwright as lw

    # imports outside the clock, as on Evidently's side: a first call on 200 rows resolves them
    lw.drift(ref.head(200), cur.head(200), categorical=spec["categorical"])
    out: dict[str, Any] = {}
    start = time.perf_counter()
    report = lw.drift(ref, cur, categorical=spec["categorical"])
    out["seconds"] = time.perf_counter() - start
    out["flagged"] = report.drifted_features
    # profile-then-compare: the reference profile is built once (at registration), each window
    # then costs one profile of the current data plus a comparison of two profiles
    start = time.perf_counter()
    ref_profile = lw.profile(ref, categorical=spec["categorical"])
    out["profile_reference_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    cur_profile = lw.profile(cur, categorical=spec["categorical"])
    out["profile_current_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    again = lw.drift(ref_profile, cur_profile)
    out["compare_profiles_seconds"] = time.perf_counter() - start
    out["profile_json_bytes"] = len(json.dumps(ref_profile.to_dict()))
    assert again.drifted_features == report.drifted_features
    start = time.perf_counter()
    html = report.to_html(spec["html"])
    out["html_seconds"] = time.perf_counter() - start
    out["html_bytes"] = html.stat().st_size
    return out


def run_evidently(ref: Any, cur: Any, spec: dict[str, Any]) -> dict[str, Any]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=spec["numeric"], categorical_columns=spec["categorical"])
    preset = DataDriftPreset(method=spec["method"]) if spec.get("method") else DataDriftPreset()
    # the same warm-up as Loopwright's side: a first run on 200 rows resolves lazy imports
    Report([preset]).run(
        reference_data=Dataset.from_pandas(ref.head(200), data_definition=definition),
        current_data=Dataset.from_pandas(cur.head(200), data_definition=definition),
    ).dict()
    start = time.perf_counter()
    snapshot = Report([preset]).run(
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
        current_data=Dataset.from_pandas(cur, data_definition=definition),
    )
    result = snapshot.dict()
    seconds = time.perf_counter() - start
    flagged = []
    for metric in result["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        value, threshold, method = (
            float(metric["value"]),
            float(config["threshold"]),
            config["method"].lower(),
        )
        # p-value methods drift below the threshold, distances at or above it
        drifted = value < threshold if "p_value" in method or "test" in method else value >= threshold
        if drifted:
            flagged.append(config["column"])
    order = spec["numeric"] + spec["categorical"]
    return {"seconds": seconds, "flagged": sorted(flagged, key=order.index)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", choices=["loopwright", "evidently"], required=True)
    parser.add_argument("--spec", required=True, help="JSON: paths, column lists, options")
    args = parser.parse_args()
    with open(args.spec) as handle:
        spec = json.load(handle)
    import pandas as pd

    ref = pd.read_parquet(spec["reference"])
    cur = pd.read_parquet(spec["current"])
    gc.collect()
    baseline = rss()
    runner = run_loopwright if args.tool == "loopwright" else run_evidently
    with PeakRss() as peak:
        out = runner(ref, cur, spec)
    out.update(
        baseline_rss_mib=baseline / MIB,
        peak_rss_above_inputs_mib=(peak.peak - baseline) / MIB,
        max_rss_lifetime_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        input_frames_mib=(ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum()) / MIB,
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
