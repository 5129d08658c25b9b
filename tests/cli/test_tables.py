"""CLI tables at 80 columns in a pipe (issue 11 item 8): no line past 80 characters, ids and numbers
whole on one line (ids as their shortest unique prefix), and ``--output json|csv`` exact."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from cli_process import run_cli
from loopwright.registry.client import RegistryClient

NARROW = {"COLUMNS": "80"}


def _lines(out: str) -> list[str]:
    lines = out.splitlines()
    assert lines, "no output"
    too_long = [line for line in lines if len(line) > 80]
    assert not too_long, "\n".join(too_long)
    return lines


def _cells(lines: list[str]) -> list[list[str]]:
    """The body rows' cells of a box-drawn table."""
    return [[c.strip() for c in line.strip("│ ").split("│")] for line in lines if line.startswith("│")]


def _runs(n: int) -> list[str]:
    lw.set_experiment("narrow")
    ids = []
    for k in range(n):
        with lw.start_run(name=f"a-rather-long-run-name-number-{k}-that-goes-on-and-on") as run:
            lw.log_metrics({f"metric_{m}": 1433.01e-8 * (k + 1) + m / 7 for m in range(8)})
            ids.append(run.id)
    return ids


def test_runs_list_fits_80_columns_with_short_ids_and_whole_numbers(sqlite_env: Path) -> None:
    ids = _runs(3)
    result = run_cli("runs", "list", "-e", "narrow", env=NARROW)
    assert result.returncode == 0, result.stderr
    rows = _cells(_lines(result.stdout))
    assert len(rows) == 3  # one line per run: nothing wrapped
    shown = {row[0] for row in rows}
    assert all(8 <= len(s) < 32 for s in shown)
    assert {i for i in ids for s in shown if i.startswith(s)} == set(ids)  # each prefix names one run
    for row in rows:  # every number cell is a whole number formatted to 4 significant digits
        for cell in row[4:]:
            assert re.fullmatch(r"-?\d+(\.\d+)?(e[+-]\d+)?", cell), row
            assert len(cell.replace("-", "").replace(".", "").split("e")[0].lstrip("0")) <= 4, row
        assert row[1].endswith("…")  # the long name is cut, not wrapped
    assert "not shown" in result.stdout  # the metrics that do not fit are named, not squeezed

    full = run_cli("runs", "list", "-e", "narrow", "--full-ids", env={"COLUMNS": "250"})
    assert all(i in full.stdout for i in ids)


def test_runs_list_json_and_csv_are_exact(sqlite_env: Path) -> None:
    ids = _runs(2)
    result = run_cli("runs", "list", "-e", "narrow", "--output", "json", env=NARROW)
    assert result.returncode == 0, result.stderr
    expected = [r.to_dict() for r in lw.search_runs("narrow", output="list")]
    assert json.loads(result.stdout) == expected

    result = run_cli("runs", "list", "-e", "narrow", "--output", "csv", env=NARROW)
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {row["run_id"] for row in table} == set(ids)  # full ids
    run = lw.get_run(ids[0])
    row = next(r for r in table if r["run_id"] == ids[0])
    assert float(row["metric_3"]) == run.metrics["metric_3"]  # exact, not 4 digits
    assert len(row) == 5 + 8  # every metric column, whatever the width

    show = run_cli("runs", "show", ids[0], "--output", "json", env=NARROW)
    assert json.loads(show.stdout) == run.to_dict()


def test_audit_entries_are_one_line_each_and_json_matches(sqlite_env: Path) -> None:
    x = np.random.default_rng(0).normal(size=(40, 3))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    with lw.start_run():
        info = lw.log_model(model, "model", input_example=x[:5])
    for _ in range(2):
        lw.register_model(info.uri, "narrow-model")
    lw.set_alias("narrow-model", "champion", 1)
    lw.set_alias("narrow-model", "champion", 2)
    entries = RegistryClient().list_audit_log("narrow-model")

    result = run_cli("models", "audit", "narrow-model", env=NARROW)
    assert result.returncode == 0, result.stderr
    rows = _cells(_lines(result.stdout))
    assert [int(row[0]) for row in rows] == [e.id for e in entries]  # one line per entry

    as_json = run_cli("models", "audit", "narrow-model", "--output", "json", env=NARROW)
    assert json.loads(as_json.stdout) == [e.to_dict() for e in entries]

    search = run_cli("models", "search", "name = 'narrow-model'", env=NARROW)
    assert len(_cells(_lines(search.stdout))) == 2
    shown = run_cli("models", "show", "narrow-model", "-v", "2", "--output", "json", env=NARROW)
    assert json.loads(shown.stdout) == RegistryClient().get_model_version("narrow-model", 2).to_dict()
    lineage = run_cli("models", "lineage", "models:/narrow-model@champion", "--output", "json", env=NARROW)
    assert json.loads(lineage.stdout) == json.loads(
        json.dumps(lw.get_lineage("models:/narrow-model/2").to_dict())
    )


def test_bad_output_value_is_one_line_usage_error(sqlite_env: Path) -> None:
    result = run_cli("runs", "list", "--output", "yaml", env=NARROW)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "yaml" in result.stderr
