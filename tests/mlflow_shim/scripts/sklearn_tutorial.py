# MLflow's sklearn tutorial shape; only the import line differs from the original
import numpy as np
import pandas as pd
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

import loopwright.mlflow as mlflow
from loopwright.mlflow.models import infer_signature

rng = np.random.default_rng(40)
data = pd.DataFrame(rng.normal(size=(200, 4)), columns=["fixed_acidity", "density", "ph", "alcohol"])
data["quality"] = data @ np.array([0.5, -1.0, 0.3, 2.0]) + rng.normal(scale=0.1, size=200)
train, test = train_test_split(data, random_state=42)
train_x, test_x = train.drop(["quality"], axis=1), test.drop(["quality"], axis=1)
train_y, test_y = train[["quality"]], test[["quality"]]

mlflow.set_experiment("wine-quality")
with mlflow.start_run(run_name="elasticnet") as run:
    lr = ElasticNet(alpha=0.05, l1_ratio=0.5, random_state=42)
    lr.fit(train_x, train_y)
    predicted = lr.predict(test_x)
    rmse = np.sqrt(mean_squared_error(test_y, predicted))
    assert mlflow.log_param("alpha", 0.05) == 0.05
    mlflow.log_param("l1_ratio", 0.5)
    mlflow.log_metric("rmse", rmse)
    mlflow.log_metric("r2", r2_score(test_y, predicted))
    mlflow.log_metric("mae", mean_absolute_error(test_y, predicted), synchronous=True)
    mlflow.set_tag("team", "wine")
    mlflow.log_input(mlflow.data.from_pandas(train, source="wine.csv", targets="quality"), context="training")
    signature = infer_signature(train_x, lr.predict(train_x))
    info = mlflow.sklearn.log_model(lr, name="model", signature=signature, input_example=train_x.head(3))

loaded = mlflow.pyfunc.load_model(info.model_uri)
assert loaded.metadata.signature is not None
print("RUN", run.info.run_id, info.model_uri, len(loaded.predict(test_x)))
