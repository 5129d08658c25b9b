"""Every public name has a docstring with an example the suite runs (docs/DESIGN.md, Conventions).

The examples themselves run under ``--doctest-modules``; this test makes sure none is missing.
"""

from __future__ import annotations

import inspect

import loopwright


def test_every_public_function_and_class_has_an_example() -> None:
    lacking = []
    for name in loopwright.__all__:
        obj = getattr(loopwright, name)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        doc = obj.__doc__ or ""  # its own, not one inherited from a base class
        if ">>>" not in doc:
            lacking.append(f"{name} ({obj.__module__})")
    assert lacking == []
