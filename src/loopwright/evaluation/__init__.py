"""Evaluation: task metrics overall and per slice, prediction latency, HTML reports, and gates as code.

Examples
--------
>>> from loopwright.evaluation import GatePolicy
>>> GatePolicy.from_dict({"versus_champion": {"latency_p99_ms": {"max_ratio": 1.2}}}).to_dict()
{'versus_champion': {'latency_p99_ms': {'max_ratio': 1.2}}}
"""

from loopwright.evaluation.evaluate import evaluate
from loopwright.evaluation.gate import GateCheck, GateResult, gate
from loopwright.evaluation.latency import Latency, measure_latency
from loopwright.evaluation.policy import GatePolicy, Rule
from loopwright.evaluation.result import EvaluationResult

__all__ = [
    "EvaluationResult",
    "GateCheck",
    "GatePolicy",
    "GateResult",
    "Latency",
    "Rule",
    "evaluate",
    "gate",
    "measure_latency",
]
