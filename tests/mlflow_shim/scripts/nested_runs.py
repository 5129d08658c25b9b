# Hyperparameter sweep with nested runs, then search_runs in both output formats
import loopwright.mlflow as mlflow

mlflow.set_experiment("sweep")
with mlflow.start_run(run_name="parent") as parent:
    for i, lr in enumerate([0.1, 0.01, 0.001]):
        with mlflow.start_run(run_name=f"trial-{i}", nested=True):
            mlflow.log_params({"lr": lr, "epochs": 3})
            for epoch in range(3):
                mlflow.log_metric("loss", 1.0 / (epoch + 1) + lr, step=epoch)
    mlflow.log_metric("best_loss", 0.34)

frame = mlflow.search_runs(
    experiment_names=["sweep"],
    filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}' and metrics.loss < 0.4",
    order_by=["metrics.loss ASC"],
)
assert list(frame["status"]) == ["FINISHED", "FINISHED"], frame
assert {"artifact_uri", "tags.mlflow.runName", "params.lr", "start_time"} <= set(frame.columns)
runs = mlflow.search_runs(experiment_names=["sweep"], output_format="list")
assert len(runs) == 4 and runs[0].info.status == "FINISHED"
last = mlflow.last_active_run()
assert last.info.run_id == parent.info.run_id
experiment = mlflow.get_experiment_by_name("sweep")
assert mlflow.get_experiment_by_name("nope") is None
print("PARENT", parent.info.run_id, experiment.experiment_id, frame["tags.mlflow.runName"].tolist())
