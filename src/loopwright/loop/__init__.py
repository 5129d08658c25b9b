"""The loop: trigger → retrain pipeline → gate → canary → promote or roll back, as a persisted
state machine per registered model.

Examples
--------
>>> from loopwright.loop import LoopConfig
>>> LoopConfig.from_dict({"model": "churn", "pipeline": "training:train", "target": "y",
...                       "policy": {"metric_thresholds": {"accuracy": {"min": 0.8}}},
...                       "holdout": "holdout.parquet"}, check_files=False).trigger
'drift'
"""

from loopwright.loop.canary import CanaryCheck, CanaryReport
from loopwright.loop.config import CanaryConfig, CanaryRule, LoopConfig, MonitorSpec
from loopwright.loop.controller import Loop, get_loop_state, list_loop_history, step_loop
from loopwright.loop.controls import pause_loop, resume_loop, rollback_loop
from loopwright.loop.result import LoopResult
from loopwright.loop.schedule import CronSchedule
from loopwright.loop.triggers import TriggerCheck, check_trigger

__all__ = [
    "CanaryCheck",
    "CanaryConfig",
    "CanaryReport",
    "CanaryRule",
    "CronSchedule",
    "Loop",
    "LoopConfig",
    "LoopResult",
    "MonitorSpec",
    "TriggerCheck",
    "check_trigger",
    "get_loop_state",
    "list_loop_history",
    "pause_loop",
    "resume_loop",
    "rollback_loop",
    "step_loop",
]
