# Autologging: sklearn pipeline, GridSearchCV, xgboost native training
import numpy as np
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import loopwright.mlflow as mlflow

mlflow.autolog()
rng = np.random.default_rng(1)
X = rng.normal(size=(80, 3))
y = (X[:, 0] + X[:, 1] > 0).astype(int)

mlflow.set_experiment("autolog")
pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(X, y)
dtrain = xgb.DMatrix(X, label=y)
booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, dtrain, 4, evals=[(dtrain, "train")])
mlflow.autolog(disable=True)
LogisticRegression().fit(X, y)  # not logged any more
print("RUNS", len(mlflow.search_runs(experiment_names=["autolog"])))
