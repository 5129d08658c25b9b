"""Gate policies: the documented format parses; every mistake is an error naming the key or rule."""

from __future__ import annotations

from pathlib import Path

import pytest

import loopwright as lw
from loopwright.evaluation import GatePolicy, Rule
from loopwright.evaluation.policy import KNOWN_METRICS

EXAMPLE = """\
metric_thresholds: {roc_auc: {min: 0.80}, log_loss: {max: 0.45}}
versus_champion: {roc_auc: {min_delta: -0.005}, latency_p99_ms: {max_ratio: 1.2}}
slices: {region: {roc_auc: {min: 0.75}}}
"""


def test_the_documented_policy_parses(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(EXAMPLE)
    policy = GatePolicy.load(path)
    assert policy.metric_thresholds == {"roc_auc": [Rule("min", 0.8)], "log_loss": [Rule("max", 0.45)]}
    assert policy.versus_champion == {
        "roc_auc": [Rule("min_delta", -0.005)],
        "latency_p99_ms": [Rule("max_ratio", 1.2)],
    }
    assert policy.slices == {"region": {"roc_auc": [Rule("min", 0.75)]}}
    assert [str(r) for r in (Rule("min", 0.8), Rule("min_delta", -0.005), Rule("max_ratio", 1.2))] == [
        ">= 0.8",
        "delta >= -0.005",
        "ratio <= 1.2",
    ]
    assert GatePolicy.load(policy.to_dict()) == policy == GatePolicy.load(policy)
    as_json = tmp_path / "gate.json"
    as_json.write_text('{"metric_thresholds": {"roc_auc": {"min": 0.8, "max": 0.99}}}')
    assert GatePolicy.load(str(as_json)).metric_thresholds["roc_auc"] == [Rule("min", 0.8), Rule("max", 0.99)]
    assert GatePolicy.load(EXAMPLE) == policy  # YAML text works too
    with pytest.raises(lw.InvalidInput, match="unknown"):
        GatePolicy.load("metric_thresholds: {roc_auc: {above: 0.8}}")


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            {"thresholds": {"roc_auc": {"min": 0.8}}},
            "unknown section 'thresholds'; use metric_thresholds, versus_champion, slices",
        ),
        (
            {"metric_thresholds": {"auc": {"min": 0.8}}},
            "metric_thresholds: unknown metric 'auc'; known metrics: accuracy, brier_score",
        ),
        (
            {"metric_thresholds": {"roc_auc": {"minimum": 0.8}}},
            "metric_thresholds.roc_auc: unknown rule 'minimum'; use min or max",
        ),
        ({"metric_thresholds": {"roc_auc": {"min_delta": 0.1}}}, "unknown rule 'min_delta'; use min or max"),
        (
            {"versus_champion": {"roc_auc": {"min": 0.8}}},
            "versus_champion.roc_auc: unknown rule 'min'; use min_delta or max_delta or min_ratio or max_ratio",
        ),
        (
            {"metric_thresholds": {"roc_auc": {"min": "high"}}},
            "metric_thresholds.roc_auc.min must be a finite number, got 'high'",
        ),
        (
            {"metric_thresholds": {"roc_auc": {"min": True}}},
            "metric_thresholds.roc_auc.min must be a finite number",
        ),
        ({"metric_thresholds": {"roc_auc": {"min": float("nan")}}}, "must be a finite number, got nan"),
        (
            {"metric_thresholds": {"roc_auc": 0.8}},
            "metric_thresholds.roc_auc: expected a mapping like {min: 0.8}, got 0.8",
        ),
        (
            {"metric_thresholds": [0.8]},
            "metric_thresholds: expected a mapping like {roc_auc: {min: 0.8}}, got list",
        ),
        (
            {"versus_champion": {"latency_p99_ms": {"max_ratio": 0}}},
            "versus_champion.latency_p99_ms.max_ratio must be positive",
        ),
        (
            {"slices": {"region": {"latency_p99_ms": {"max": 5}}}},
            "slices.region: latency_p99_ms is measured on the whole data, not per slice",
        ),
        ({"slices": {"region": {"rocauc": {"min": 0.7}}}}, "slices.region: unknown metric 'rocauc'"),
        (
            {"slices": ["region"]},
            "slices: expected a mapping like {region: {roc_auc: {min: 0.75}}}, got list",
        ),
        ({"slices": {"region": {}}}, "slices.region: no rules"),
        ({}, "policy has no rules"),
        (["roc_auc"], "policy must be a mapping with metric_thresholds, versus_champion, slices, got list"),
    ],
)
def test_policy_errors_name_the_bad_key(policy: object, message: str) -> None:
    with pytest.raises(lw.InvalidInput) as caught:
        GatePolicy.from_dict(policy)
    assert message in str(caught.value)


def test_unknown_metric_error_lists_every_known_metric() -> None:
    with pytest.raises(lw.InvalidInput) as caught:
        GatePolicy.from_dict({"versus_champion": {"speed": {"max_ratio": 1.2}}})
    assert str(caught.value).endswith("known metrics: " + ", ".join(KNOWN_METRICS))
    assert {"roc_auc", "latency_p99_ms", "rmse", "pr_auc", "brier_score"} <= set(KNOWN_METRICS)


def test_policy_file_errors(tmp_path: Path) -> None:
    with pytest.raises(lw.InvalidInput, match="no such policy file"):
        GatePolicy.load(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("metric_thresholds: {roc_auc: {min: 0.8}\n")
    with pytest.raises(lw.InvalidInput, match=r"policy file .*broken.yaml is not valid YAML/JSON"):
        GatePolicy.load(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    with pytest.raises(lw.InvalidInput, match=r"empty\.yaml is empty"):
        GatePolicy.load(empty)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("metric_thresholds: {roc_auc: {min: 0.8}}\nversus: {}\n")
    with pytest.raises(lw.InvalidInput, match=r"policy file .*wrong.yaml: unknown section 'versus'"):
        GatePolicy.load(wrong)
    with pytest.raises(lw.InvalidInput, match="policy must be a dict or a YAML/JSON file path"):
        GatePolicy.load(42)  # type: ignore[arg-type]
