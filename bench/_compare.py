"""What every reference comparison in bench/ shares: interleaved repeats, per-pair ratios, versions.

``interleave(a, b, repeats)`` runs ``a()`` and ``b()`` in turns (A B A B A B) so that a change in the
machine's load hits both sides alike; each call returns a dict of figures (seconds, rates …).
``ratios(pairs, key)`` gives the per-pair ratio of one figure with its median and spread (min-max):
on a loaded 2-core machine the absolute numbers move, the ratio of two neighbouring runs much less.
``environment(*tools)`` records what was measured: Python, numpy and Loopwright here, the reference
venvs' exact package versions, the CPU count and the load average.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import refenv

Figures = dict[str, Any]


def interleave(
    a: Callable[[], Figures], b: Callable[[], Figures], repeats: int
) -> list[tuple[Figures, Figures]]:
    """``repeats`` pairs ``(a(), b())``, called A B A B …; the load average is added to each side."""
    pairs = []
    for _ in range(repeats):
        first = {**a(), "load_average": round(os.getloadavg()[0], 2)}
        second = {**b(), "load_average": round(os.getloadavg()[0], 2)}
        pairs.append((first, second))
        print(json.dumps({"pair": len(pairs), "a": first, "b": second}), file=sys.stderr, flush=True)
    return pairs


def summary(values: list[float], digits: int = 3) -> dict[str, Any]:
    """Median and spread (min-max) of some per-pair values."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "per_pair": [round(v, digits) for v in values],
    }


def ratios(
    pairs: list[tuple[Figures, Figures]],
    key: str,
    other: str | None = None,
    *,
    b_over_a: bool = True,
    digits: int = 3,
) -> dict[str, Any]:
    """Per-pair ratio of figure ``key`` (of B's ``other`` if given): B/A by default, else A/B."""
    values = []
    for a, b in pairs:
        x, y = float(a[key]), float(b[other or key])
        values.append(y / x if b_over_a else x / y)
    return summary(values, digits)


def medians(samples: list[Figures], digits: int = 4) -> Figures:
    """Median of every numeric figure across one side's samples."""
    out: Figures = {}
    for key, value in samples[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = round(statistics.median(float(s[key]) for s in samples), digits)
    return out


def side_by_side(pairs: list[tuple[Figures, Figures]], names: tuple[str, str]) -> Figures:
    """Both sides' median figures, labelled."""
    return {names[0]: medians([a for a, _ in pairs]), names[1]: medians([b for _, b in pairs])}


def reference_versions(tool: str) -> dict[str, str]:
    """Exact versions of what ``refenv.PACKAGES[tool]`` installed, read from that venv."""
    python = refenv.ensure(tool)
    names = [refenv.distribution(spec) for spec in refenv.PACKAGES[tool]]
    code = (
        "import json, sys, platform; from importlib import metadata as m; "
        "print(json.dumps({'python': platform.python_version(), "
        "**{n: m.version(n) for n in sys.argv[1:]}}))"
    )
    out = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def environment(*tools: str) -> Figures:
    """Versions on both sides plus the machine and its load, for the JSON result."""
    here = {"python": platform.python_version()}
    for name in ("loopwright", "numpy", "pandas", "scikit-learn", "sqlalchemy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            here[name] = metadata.version(name)
    return {
        "loopwright_side": here,
        "loopwright_source": source(),
        "reference_side": {tool: reference_versions(tool) for tool in tools},
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "machine": platform.platform(),
    }


def source() -> str:
    """Which Loopwright was measured: the snapshot's commit, or this tree's HEAD (``+dirty`` if edited)."""
    import loopwright

    root = Path(loopwright.__file__).resolve().parents[2]
    if (root / "COMMIT").exists():  # a ``git archive`` snapshot, as bench runs use beside other work
        return f"{(root / 'COMMIT').read_text().strip()} (snapshot {root})"
    git = ["git", "-C", str(root)]
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True, text=True).stdout
    return head + ("+dirty" if dirty.strip() else "")


def finish(result: Figures) -> Figures:
    """Add the load average at the end of the run."""
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def child_json(command: list[str | Path], **kwargs: Any) -> Figures:
    """Run a fresh process and parse the JSON object on its last stdout line."""
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{command[1]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
