"""The wheel carries migrations and package data, and works from a fresh venv."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_migrates(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("loopwright-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "loopwright/store/migrations/env.py" in names
    assert any(n.startswith("loopwright/store/migrations/versions/0001") for n in names)
    assert "loopwright/py.typed" in names

    venv = tmp_path / "venv"
    # without PYTHONPATH: a src/ on it (with the egg-info the build leaves) makes pip skip the install
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=clean)
    py = venv / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True, env=clean
    )
    # dependencies come from this test environment; loopwright itself from the fresh venv
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {**os.environ, "LOOPWRIGHT_HOME": str(tmp_path / "home")}
    env.pop("PYTHONPATH", None)
    where = subprocess.run(
        [str(py), "-c", "import loopwright; print(loopwright.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert str(venv) in where
    result = subprocess.run(
        [str(venv / "bin" / "loopwright"), "db", "upgrade"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "upgraded store" in result.stdout
