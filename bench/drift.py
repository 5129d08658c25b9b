"""Benchmark: data drift on N rows x 50 mixed features, Loopwright vs Evidently's DataDriftPreset.

Both tools get the same reference and current data (each N rows x 40 numeric + 10 categorical
columns, 7 of them shifted in the current data), saved once to Parquet under bench/out/. Each tool
runs in its own process (Evidently 0.7 in bench/.venv-evidently via refenv), loads the files (not
timed), then runs its drift check while the child samples its RSS: we report wall time, peak memory
above the loaded input frames, and which columns each tool flagged.

The tools run interleaved, A B A B A B (``bench/_compare.py``; B is Evidently's default preset, then
its PSI variant); each ratio (Evidently / Loopwright seconds) is per pair, reported as median and
min-max, with the versions on both sides and the load average.

    PYTHONPATH=src python bench/drift.py                        # 100k and 1M rows, Evidently default + PSI
    PYTHONPATH=src python bench/drift.py --rows 100000 --no-psi  # quicker

Prints one JSON document; the figures go into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import _compare  # noqa: E402
import refenv  # noqa: E402

N_NUMERIC, N_CATEGORICAL = 40, 10
SHIFTED = ["n0", "n7", "n13", "n21", "n34", "c2", "c6"]


def _numeric(rng: np.random.Generator, i: int, n: int, shifted: bool) -> np.ndarray:
    """Column ``n{i}``: one of five distribution families; the shifted ones move by a clear effect."""
    family = i % 5
    if family == 0:  # normal; n0 moves its mean by half a standard deviation
        x = rng.normal(10 + i, 2 + i % 3, n) + (0.5 * (2 + i % 3) if shifted else 0.0)
    elif family == 1:  # normal, its spread grows by half when shifted
        x = rng.normal(-i, 1.0, n) * (1.5 if shifted else 1.0)
    elif family == 2:
        x = rng.lognormal(0.0, 0.5, n) * (1.3 if shifted else 1.0)
    elif family == 3:
        x = rng.uniform(0, 1, n) + (0.2 if shifted else 0.0)
    else:
        x = rng.exponential(3.0, n) * (1.4 if shifted else 1.0)
    if i == 21:  # a count feature: Poisson(3) -> Poisson(4)
        x = rng.poisson(4.0 if shifted else 3.0, n).astype(np.float64)
    if i % 10 == 1:  # some columns carry 1% missing values
        x[rng.random(n) < 0.01] = np.nan
    return x


def _categorical(rng: np.random.Generator, j: int, n: int, shifted: bool) -> pd.Categorical:
    levels = 3 + (j * 7) % 18
    probs = np.random.default_rng(1000 + j).dirichlet(np.full(levels, 2.0))
    names = [f"c{j}_v{k}" for k in range(levels)]
    if shifted and j == 2:  # the category mix is reversed
        probs = probs[::-1]
    if shifted and j == 6:  # a new category takes 15% of the traffic
        probs, names = np.append(probs * 0.85, 0.15), [*names, f"c{j}_new"]
    codes = rng.choice(len(probs), size=n, p=probs / probs.sum())
    return pd.Categorical.from_codes(codes, categories=names)


def make_data(rows: int, seed: int = 42) -> tuple[Path, Path]:
    """Write (and cache) the reference and current Parquet files for ``rows`` rows."""
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    paths = out / f"drift-ref-{rows}-{seed}.parquet", out / f"drift-cur-{rows}-{seed}.parquet"
    if all(p.exists() for p in paths):
        return paths
    for path, current in zip(paths, (False, True), strict=True):
        rng = np.random.default_rng(seed + int(current))
        columns: dict[str, Any] = {}
        for i in range(N_NUMERIC):
            columns[f"n{i}"] = _numeric(rng, i, rows, current and f"n{i}" in SHIFTED)
        for j in range(N_CATEGORICAL):
            columns[f"c{j}"] = _categorical(rng, j, rows, current and f"c{j}" in SHIFTED)
        pd.DataFrame(columns).to_parquet(path, index=False)
    return paths


def run_child(python: Path, tool: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    spec_path = HERE / "out" / f"spec-{tool}-{spec['rows']}-{spec.get('method') or 'default'}.json"
    spec_path.write_text(json.dumps(spec))
    result = subprocess.run(
        [str(python), str(HERE / "_drift_child.py"), "--tool", tool, "--spec", str(spec_path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{tool} child failed:\n{result.stderr[-4000:]}")
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    out["exact"] = out["flagged"] == [c for c in spec["numeric"] + spec["categorical"] if c in SHIFTED]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--no-evidently", action="store_true", help="only time Loopwright")
    parser.add_argument("--no-psi", action="store_true", help="skip Evidently's PSI variant")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    numeric = [f"n{i}" for i in range(N_NUMERIC)]
    categorical = [f"c{j}" for j in range(N_CATEGORICAL)]
    ours_env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    # the reference venv must not see our sources or our venv's packages
    theirs_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    evidently = None if args.no_evidently else refenv.ensure("evidently")
    results: dict[str, Any] = {
        "benchmark": "drift",
        "repeats": args.repeats,
        **_compare.environment(*(() if args.no_evidently else ("evidently",))),
        "shifted": SHIFTED,
        "features": {"numeric": N_NUMERIC, "categorical": N_CATEGORICAL},
    }
    for rows in args.rows:
        ref_path, cur_path = make_data(rows)
        spec = {
            "rows": rows,
            "reference": str(ref_path),
            "current": str(cur_path),
            "numeric": numeric,
            "categorical": categorical,
            "html": str(HERE / "out" / f"drift-report-{rows}.html"),
        }

        def ours(spec: dict[str, Any] = spec) -> dict[str, Any]:
            return run_child(Path(sys.executable), "loopwright", spec, ours_env)

        def theirs(spec: dict[str, Any] = spec) -> dict[str, Any]:
            assert evidently is not None
            out = run_child(evidently, "evidently", spec, theirs_env)
            if not args.no_psi:
                psi = run_child(evidently, "evidently", {**spec, "method": "psi"}, theirs_env)
                out["psi"] = psi
                out["psi_seconds"] = psi["seconds"]
            return out

        entry: dict[str, Any] = {}
        if evidently is None:
            entry["loopwright"] = [ours() for _ in range(args.repeats)]
        else:
            pairs = _compare.interleave(ours, theirs, args.repeats)
            entry["loopwright"] = [a for a, _ in pairs]
            entry["evidently"] = [b for _, b in pairs]
            entry["speedup"] = _compare.ratios(pairs, "seconds", digits=1)
            if not args.no_psi:
                entry["speedup_vs_psi"] = _compare.ratios(pairs, "seconds", "psi_seconds", digits=1)
        results[f"rows_{rows}"] = entry
        print(json.dumps({f"rows_{rows}": entry}), file=sys.stderr, flush=True)
    print(json.dumps(_compare.finish(results), indent=2))


if __name__ == "__main__":
    main()
