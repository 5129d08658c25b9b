"""pipeline.run(client=) records everything in the store it is given (issue 18, item 4)."""

from __future__ import annotations

from pathlib import Path

import pipeline_flows as flows

import loopwright as lw
from loopwright.tracking.client import Client


def test_pipeline_run_records_in_the_given_store_only(sqlite_env: Path, tmp_path: Path) -> None:
    csv = flows.write_digits_csv(tmp_path / "digits.csv")
    other = Client(f"sqlite:///{tmp_path / 'other.db'}", str(tmp_path / "other-artifacts"))
    try:
        result = flows.churn.run(path=str(csv), client=other)
        assert result.executed == ["load", "split", "train", "evaluate"]
        runs = other.store.list_pipeline_runs("churn", 10)
        assert [r.id for r in runs] == [result.run.id] and runs[0].status == "finished"
        evaluated = other.search_runs("churn", filter="metrics.auc > 0.5", output="list")
        # lw.log_metric inside the step went to the step's run, in `other`
        assert "evaluate" in [r.name for r in evaluated]
        assert result["evaluate"]["auc"] > 0.5 and result["train"].predict_proba is not None
        model = lw.load_model(result.model_uri("train"), client=other)
        assert model.flavor == "sklearn"
        # the environment's store saw nothing
        env = lw.get_client()
        assert env.store.list_pipeline_runs("churn", 10) == []
        assert env.list_experiments() == [] or all(e.name != "churn" for e in env.list_experiments())
        # a second run in the same store is all cache hits
        assert flows.churn.run(path=str(csv), client=other).executed == []
    finally:
        other.close()
