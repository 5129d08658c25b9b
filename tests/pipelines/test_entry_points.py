"""One pipeline, one cache: a script run as ``python wine_pipe.py`` and the same pipeline run by
``loopwright pipeline run wine_pipe:wine`` key their steps alike (issue 11 item 6)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import loopwright as lw
from cli_process import run_cli

WINE_PIPE = """
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression

from loopwright import pipeline, step


def scaled(df: pd.DataFrame) -> pd.DataFrame:
    return (df - df.mean()) / df.std()


@step
def load() -> pd.DataFrame:
    return load_wine(as_frame=True).frame


@step
def features(df: pd.DataFrame) -> pd.DataFrame:
    out = scaled(df.drop(columns="target"))
    out["target"] = df["target"]
    return out


@step
def train(df: pd.DataFrame, C: float = 1.0) -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=500).fit(df.drop(columns="target"), df["target"])


@pipeline
def wine(C: float = 1.0):
    return train(features(load()), C=C)


if __name__ == "__main__":
    wine.run(C=0.5)
"""


def test_script_and_cli_share_the_cache(sqlite_env: Path, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "wine_pipe.py").write_text(WINE_PIPE)
    env = {**os.environ, "LOOPWRIGHT_HOME": str(sqlite_env)}
    script = subprocess.run(
        [sys.executable, "wine_pipe.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=180
    )
    assert script.returncode == 0, script.stderr
    first = lw.list_pipeline_runs("wine")[0]
    assert first.ref == "wine_pipe:wine"  # the module's import name, not __main__
    assert {s.node: s.status for s in first.steps} == {"load": "done", "features": "done", "train": "done"}

    again = run_cli("pipeline", "run", "wine_pipe:wine", "--param", "C=0.5", cwd=folder, env=env)
    assert again.returncode == 0, again.stderr
    assert "0 executed, 3 cached" in again.stdout
    second = lw.get_pipeline_run(lw.list_pipeline_runs("wine")[0].id)
    assert second.run_id != first.id
    assert sorted(second.cache_hits) == ["features", "load", "train"]
    assert {s.node: s.cached_from for s in second.run.steps} == {s.node: s.id for s in first.steps}
