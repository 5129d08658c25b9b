"""Runs record their code version: entry script and git commit (when there is a repository)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import loopwright as lw
from loopwright.tracking.source import SOURCE_GIT_COMMIT, SOURCE_NAME

TRAIN = textwrap.dedent(
    """
    import loopwright as lw
    with lw.start_run(name="train") as run:
        lw.log_param("C", 1.0)
        lw.log_text("w", "model/weights.bin")
        lw.log_dict({"flavor": "demo"}, "model/manifest.json")
    print(run.id)
    """
)


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def _train(script: Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_git_commit_reaches_the_lineage(lw_env: Path, tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    script = repo / "train.py"
    script.write_text(TRAIN)
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "train")
    head = _git(repo, "rev-parse", "HEAD")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run_id = _train(script, cwd=elsewhere)  # the script's repository counts, not the cwd
    tags = lw.get_run(run_id).system_tags
    assert tags[SOURCE_NAME] == str(script.resolve()) and tags[SOURCE_GIT_COMMIT] == head
    lw.register_model(f"runs:/{run_id}/model", "churn")
    lineage = lw.get_lineage("models:/churn/1")
    assert lineage.git_commit == head and lineage.code_version["source_name"] == str(script.resolve())
    assert head[:12] in repr(lineage)


def test_no_repository_or_no_git_never_fails_a_run(lw_env: Path, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    run_id = _train(script, cwd=tmp_path, env={"GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})
    tags = lw.get_run(run_id).system_tags
    assert tags[SOURCE_NAME] == str(script.resolve()) and SOURCE_GIT_COMMIT not in tags
    bin_dir = tmp_path / "bin"  # a PATH with python but without git
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    run_id = _train(script, cwd=tmp_path, env={"PATH": str(bin_dir)})
    assert SOURCE_GIT_COMMIT not in lw.get_run(run_id).system_tags


def test_user_tags_win_over_recorded_ones(lw_env: Path) -> None:
    with lw.start_run(tags={SOURCE_NAME: "notebook.ipynb"}) as run:
        pass
    assert lw.get_run(run.id).system_tags[SOURCE_NAME] == "notebook.ipynb"
