"""Reference tools (MLflow, Evidently, Metaflow, NannyML) live in their own venvs under bench/, never in Loopwright's.

``ensure("mlflow")`` creates ``bench/.venv-mlflow`` on first use and returns its python; benchmark
scripts run reference code there as a subprocess, so both tools are measured in one run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# what each reference venv needs: each tool pinned to the release RESULTS.md was measured with (their
# dependencies resolve freely; every JSON result records the versions they resolved to). Evidently 0.7
# needs pandas<3. psycopg2 lets `mlflow server` use PostgreSQL (bench/server.py).
PACKAGES = {
    # sentence-transformers: bench/embeddings.py serves all-MiniLM-L6-v2 through its MLflow flavor
    "mlflow": [
        "mlflow==3.17.2",
        "scikit-learn",
        "pandas",
        "pyarrow",
        "psycopg2-binary",
        "sentence-transformers",
    ],
    "evidently": ["evidently==0.7.23", "pandas<3", "scikit-learn"],
    "metaflow": ["metaflow==2.19.39"],
    "nannyml": ["nannyml==0.13.1", "statsmodels", "pandas<3", "pyarrow"],  # nannyml 0.13 misses statsmodels
    # bench/spark_scale.py: mlflow.pyfunc.spark_udf on the PySpark of the spark extra (which wants pandas < 3)
    "mlflow-spark": ["mlflow==3.17.2", "pyspark>=3.5", "pandas<3", "pyarrow", "scikit-learn"],
}


def ensure(name: str) -> Path:
    """Path to the python of reference venv ``name``, creating it if needed."""
    venv = HERE / f".venv-{name}"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PACKAGES[name]], check=True)
        stamp.touch()
    return python


def distribution(spec: str) -> str:
    """The distribution name of a requirement: ``"pandas<3"`` -> ``"pandas"``."""
    return re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]


def bin_dir(name: str) -> Path:
    """The venv's bin folder (``mlflow models serve`` needs it on PATH)."""
    return ensure(name).parent
