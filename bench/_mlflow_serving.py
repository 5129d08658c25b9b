"""MLflow side of bench/serving.py (runs in bench/.venv-mlflow): save the models for `mlflow models serve`.

python _mlflow_serving.py OUT_DIR   ->  OUT_DIR/gbc, OUT_DIR/rf (MLflow sklearn models)
"""

import sys
from pathlib import Path

import mlflow.sklearn
from _serving_models import X, train
from mlflow.models import infer_signature

out = Path(sys.argv[1])
for kind in ("gbc", "rf"):
    model = train(kind)
    example = X.head(3)
    mlflow.sklearn.save_model(
        model,
        str(out / kind),
        input_example=example,
        signature=infer_signature(example, model.predict(example)),
        skops_trusted_types=["sklearn.tree._tree.Tree"],  # MLflow 3.17 saves with skops by default
    )
print("saved")
