"""The models both sides of bench/serving.py train: same data, same seeds, so the same trees.

Imported by bench/serving.py (Loopwright's venv) and bench/_mlflow_serving.py (MLflow's venv).
"""

import json

import pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

FEATURES = [f"f{i}" for i in range(20)]
X_ARRAY, Y = make_classification(n_samples=3000, n_features=20, n_informative=10, random_state=0)
X = pd.DataFrame(X_ARRAY, columns=FEATURES)


def train(kind: str):
    """A 100-tree gradient-boosting or random-forest classifier on 20 numeric features."""
    if kind == "gbc":
        return GradientBoostingClassifier(n_estimators=100, random_state=0).fit(X, Y)
    if kind == "rf":
        return RandomForestClassifier(n_estimators=100, random_state=0).fit(X, Y)
    raise ValueError(kind)


def body(rows: int) -> str:
    """An MLflow-style ``/invocations`` request both servers accept: ``dataframe_split``."""
    return json.dumps({"dataframe_split": {"columns": FEATURES, "data": X_ARRAY[:rows].tolist()}})
