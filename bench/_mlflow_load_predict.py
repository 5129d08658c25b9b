"""MLflow's side of bench/load_predict.py; runs inside bench/.venv-mlflow and prints JSON.

``mlflow.sklearn.log_model`` with its default serialisation (skops in MLflow 3), which refuses trees
unless ``skops_trusted_types=["sklearn.tree._tree.Tree"]``; then ``mlflow.pyfunc.load_model``.
"""

import json
import logging
import os
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)

import mlflow  # noqa: E402
import mlflow.pyfunc  # noqa: E402
import mlflow.sklearn  # noqa: E402
from _forest import BATCH, CHECKSUM, ROW, X, forest, median_ms, timed  # noqa: E402

folder = tempfile.mkdtemp()
os.chdir(folder)  # MLflow puts artifacts under ./mlruns: keep them out of the repository
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
with mlflow.start_run():
    info = mlflow.sklearn.log_model(
        forest, name="model", input_example=X[:5], skops_trusted_types=["sklearn.tree._tree.Tree"]
    )
repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 9
load_ms = median_ms(lambda: mlflow.pyfunc.load_model(info.model_uri), repeat)
model = mlflow.pyfunc.load_model(info.model_uri)
print(
    json.dumps(
        {
            "tool": f"mlflow {mlflow.__version__}",
            "serialization": "skops (mlflow.sklearn.log_model default) + skops_trusted_types=['sklearn.tree._tree.Tree']",
            "load_ms": load_ms,
            "predict_1_row": timed(lambda: model.predict(ROW), 500),
            "predict_1000_rows": timed(lambda: model.predict(BATCH), 30),
            "checksum": CHECKSUM,
            "predictions_match_sklearn": bool((model.predict(X[:200]) == forest.predict(X[:200])).all()),
        }
    )
)
