"""Monitoring: reference profiles, drift tests and HTML reports (live windows build on these).

Examples
--------
>>> import pandas as pd
>>> from loopwright.monitoring import drift, profile
>>> ref = profile(pd.DataFrame({"x": [1.0, 2.0, 3.0] * 100}))
>>> drift(ref, pd.DataFrame({"x": [1.0, 2.0, 3.0] * 100})).drifted
False
"""

from loopwright.monitoring.drift import DriftReport, FeatureDrift, drift
from loopwright.monitoring.profile import CategoricalProfile, NumericProfile, Profile
from loopwright.monitoring.reference import load_profile, profile, save_profile
from loopwright.monitoring.report import render_report, write_report
from loopwright.monitoring.window import WindowSummary

__all__ = [
    "CategoricalProfile",
    "DriftReport",
    "FeatureDrift",
    "NumericProfile",
    "Profile",
    "WindowSummary",
    "drift",
    "load_profile",
    "profile",
    "render_report",
    "save_profile",
    "write_report",
]
