"""Monitoring: reference profiles, drift tests, live windows over the serving log, alerts, HTML reports.

Examples
--------
>>> import pandas as pd
>>> from loopwright.monitoring import drift, profile
>>> ref = profile(pd.DataFrame({"x": [1.0, 2.0, 3.0] * 100}))
>>> drift(ref, pd.DataFrame({"x": [1.0, 2.0, 3.0] * 100})).drifted
False
"""

from loopwright.monitoring.alerts import AlertConfig, AlertRule, Webhook
from loopwright.monitoring.drift import DriftReport, FeatureDrift, drift
from loopwright.monitoring.estimation import expected_accuracy, expected_roc_auc
from loopwright.monitoring.live import Monitor, MonitorWindows, list_monitor_windows, monitor, monitor_report
from loopwright.monitoring.profile import CategoricalProfile, NumericProfile, Profile
from loopwright.monitoring.reference import load_profile, profile, save_profile
from loopwright.monitoring.report import render_report, write_report
from loopwright.monitoring.text import text_drift
from loopwright.monitoring.traces import monitor_traces, trace_windows
from loopwright.monitoring.window import WindowSummary

__all__ = [
    "AlertConfig",
    "AlertRule",
    "CategoricalProfile",
    "DriftReport",
    "FeatureDrift",
    "Monitor",
    "MonitorWindows",
    "NumericProfile",
    "Profile",
    "Webhook",
    "WindowSummary",
    "drift",
    "expected_accuracy",
    "expected_roc_auc",
    "list_monitor_windows",
    "load_profile",
    "monitor",
    "monitor_report",
    "monitor_traces",
    "profile",
    "render_report",
    "save_profile",
    "text_drift",
    "trace_windows",
    "write_report",
]
