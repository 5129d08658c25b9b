"""Start-up cost: ``import loopwright``, ``loopwright --version`` and ``loopwright --help`` in fresh processes.

Compares the working tree with a git revision (default ``83961f8``, before the lazy imports) in the same
run: the old source is exported into a temporary folder and put first on ``PYTHONPATH``, both use this
venv's libraries, and the two are timed in turns (A B A B …) so machine load hits both alike. Prints JSON.

    python bench/startup.py [--baseline REV] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "import loopwright": ["-c", "import loopwright"],
    "loopwright --version": ["-m", "loopwright.cli", "--version"],
    "loopwright --help": ["-m", "loopwright.cli", "--help"],
}


def _export(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def _wall(args: list[str], src: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "100"}
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, capture_output=True, check=True, timeout=300)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", default="83961f8")  # the last commit with eager imports
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sources = {"before": _export(options.baseline, Path(tmp)), "after": ROOT / "src"}
        results: dict[str, dict[str, list[float]]] = {name: {s: [] for s in sources} for name in COMMANDS}
        for name, args in COMMANDS.items():
            for repeat in range(options.repeats):
                order = list(sources.items()) if repeat % 2 == 0 else list(sources.items())[::-1]
                for side, src in order:
                    results[name][side].append(_wall(args, src))
    load = os.getloadavg()[0]
    out = {
        "baseline": options.baseline,
        "repeats": options.repeats,
        "load_average_1m": round(load, 2),
        "python": sys.version.split()[0],
        "seconds": {
            name: {
                side: {
                    "median": round(statistics.median(v), 3),
                    "min": round(min(v), 3),
                    "max": round(max(v), 3),
                }
                for side, v in sides.items()
            }
            for name, sides in results.items()
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
