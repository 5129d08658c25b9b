"""Loop configs from YAML and dicts: relative paths, defaults, and errors that name the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from loopwright.errors import InvalidInput
from loopwright.loop import LoopConfig

POLICY = {"metric_thresholds": {"accuracy": {"min": 0.8}}}


def _doc(**overrides: Any) -> dict[str, Any]:
    return {
        "model": "churn",
        "pipeline": "training:train",
        "policy": POLICY,
        "holdout": "holdout.parquet",
        "target": "churned",
        **overrides,
    }


def test_yaml_with_relative_paths(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "holdout.parquet").write_bytes(b"")
    (project / "gate.yaml").write_text(yaml.safe_dump({"versus_champion": {"roc_auc": {"min_delta": 0}}}))
    (project / "alerts.yaml").write_text(yaml.safe_dump({"drift": True, "estimated": False}))
    path = project / "loop.yaml"
    path.write_text(
        yaml.safe_dump(
            _doc(
                pipeline="pipelines/train.py:churn",
                policy="gate.yaml",
                holdout="data/holdout.parquet",
                endpoint="churn-api",
                trigger="alerts",
                params={"data": "data/latest.parquet", "C": 0.5},
                monitor={"window": "5m", "alerts": "alerts.yaml"},
                canary={"min_requests": 20, "metrics": {"roc_auc": {"min_delta": -0.01}}, "timeout": "2h"},
                promote_alias="prod",
            )
        )
    )
    config = LoopConfig.load(path)
    assert config.pipeline == f"{project}/pipelines/train.py:churn"
    assert config.holdout == project / "data" / "holdout.parquet"
    assert config.params == {"data": "data/latest.parquet", "C": 0.5}  # the pipeline's business
    assert [str(r) for r in config.policy.versus_champion["roc_auc"]] == ["delta >= 0"]
    assert (config.endpoint, config.trigger, config.promote_alias) == ("churn-api", "alerts", "prod")
    assert config.monitor is not None and config.monitor.window == "5m"
    assert config.monitor.alerts is not None and [r.name for r in config.monitor.alerts.rules] == ["drift"]
    canary = config.canary
    assert canary is not None and (canary.alias, canary.min_requests, canary.timeout_ms) == (
        "challenger",
        20,
        7_200_000,
    )
    assert canary.min_labels == 30  # a metric rule needs labels
    assert [str(r) for r in canary.rules] == ["roc_auc delta >= -0.01"]
    assert LoopConfig.load(config) is config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model": None}, "missing required setting(s) model"),
        ({"triggers": "drift"}, "unknown setting(s) triggers"),
        ({"model": "churn model"}, "model name"),
        ({"trigger": "hourly"}, "trigger must be one of drift, alerts, always, never"),
        ({"policy": {"metric_thresholds": {"auc": {"min": 0.8}}}}, "unknown metric 'auc'"),
        ({"pipeline": "training"}, "must look like module:attr"),
        ({"canary": {"alias": "champion"}}, "canary.alias and promote_alias are both 'champion'"),
        ({"canary": {"metrics": {"latency": {"max": 1}}}}, "unknown metric 'latency'; live metrics"),
        ({"canary": {"metrics": {"accuracy": {"above": 1}}}}, "unknown bound 'above'"),
        ({"canary": {"max_error_rate": 2}}, "max_error_rate is a share between 0 and 1"),
        ({"canary": {"min_requests": -1}}, "canary.min_requests must be a whole number"),
        ({"canary": {"timeout": "soon"}}, "canary.timeout: not a duration"),
        ({"monitor": {"window": "1h", "every": "5m"}}, "monitor: unknown setting(s) every"),
        (
            {"promote_alias": "7"},
            "promote_alias: invalid alias '7': an alias names a role (champion, challenger), not a version number",
        ),
        ({"canary": {"alias": "../x"}}, "canary.alias: invalid alias '../x': use 1-128 characters"),
        ({"cache": "yes"}, "cache must be true or false"),
    ],
)
def test_bad_configs_name_the_problem(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=r"^loop config: ") as error:
        LoopConfig.from_dict(_doc(**overrides), check_files=False)
    assert message in str(error.value)


def test_missing_files_and_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump(_doc()))
    with pytest.raises(
        InvalidInput, match=f"loop config {path}: holdout: no such file {tmp_path}/holdout.parquet"
    ):
        LoopConfig.load(path)
    path.write_text("model: [churn")
    with pytest.raises(InvalidInput, match="is not valid YAML"):
        LoopConfig.load(path)
    with pytest.raises(InvalidInput, match="no such loop config file"):
        LoopConfig.load(tmp_path / "missing.yaml")
