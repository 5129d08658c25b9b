# Register, alias, search versions, load by alias with the client API
import numpy as np
from sklearn.ensemble import RandomForestClassifier

import loopwright.mlflow as mlflow
from loopwright.mlflow import MlflowClient

X = np.random.default_rng(0).normal(size=(60, 3))
y = (X[:, 0] > 0).astype(int)
mlflow.set_experiment("registry-demo")
with mlflow.start_run() as run:
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    info = mlflow.sklearn.log_model(model, artifact_path="rf", input_example=X[:2])

client = MlflowClient()
client.create_registered_model("churn-rf", tags={"owner": "ana"}, description="first model")
version = client.create_model_version("churn-rf", f"{run.info.artifact_uri}/rf", run.info.run_id)
client.set_registered_model_alias("churn-rf", "champion", version.version)
second = mlflow.register_model(info.model_uri, "churn-rf")
assert second.version == "2"
by_alias = client.get_model_version_by_alias("churn-rf", "champion")
assert by_alias.version == "1" and by_alias.run_id == run.info.run_id
versions = client.search_model_versions(filter_string="name = 'churn-rf'")
assert sorted(v.version for v in versions) == ["1", "2"]
champion = mlflow.pyfunc.load_model("models:/churn-rf@champion")
native = mlflow.sklearn.load_model("models:/churn-rf/1")
assert (champion.predict(X[:5]) == native.predict(X[:5])).all()
try:
    client.transition_model_version_stage("churn-rf", "1", "Production")
except mlflow.Unsupported as error:
    print("UNSUPPORTED", error)
print("VERSIONS", [v.version for v in versions], client.get_registered_model("churn-rf").tags)
