"""MLflow's side of bench/evaluate.py; runs inside bench/.venv-mlflow and prints JSON.

``mlflow.models.evaluate(model_type="classifier")`` with the default evaluator (metrics, ROC/PR,
calibration and confusion-matrix plots; no SHAP installed, so no explainer) on the same frame and
model. MLflow has no slices, so only the overall evaluation is compared.
"""

import json
import logging
import os
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)

import mlflow  # noqa: E402
import mlflow.sklearn  # noqa: E402
from _eval_data import FEATURES, frame, model  # noqa: E402

rows = int(sys.argv[1])
data = frame(rows)
fitted = model(data)
folder = tempfile.mkdtemp()
os.chdir(folder)  # MLflow writes ./mlruns: keep it out of the repository
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
with mlflow.start_run():
    info = mlflow.sklearn.log_model(fitted, name="model", input_example=data[FEATURES].head())
    started = time.perf_counter()
    result = mlflow.models.evaluate(
        info.model_uri, data[[*FEATURES, "y"]], targets="y", model_type="classifier", evaluators=["default"]
    )
    seconds = time.perf_counter() - started
print(
    json.dumps(
        {
            "tool": f"mlflow {mlflow.__version__}",
            "seconds": seconds,
            "metrics": {
                k: result.metrics.get(k)
                for k in (
                    "accuracy_score",
                    "roc_auc",
                    "precision_score",
                    "recall_score",
                    "f1_score",
                    "log_loss",
                )
            },
        }
    )
)
