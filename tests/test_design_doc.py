"""docs/DESIGN.md says true things about the package (issue 18, item 6)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_design_lists_the_extras_pyproject_defines() -> None:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    line = next(x for x in (ROOT / "docs" / "DESIGN.md").read_text().splitlines() if "with extras:" in x)
    assert set(re.findall(r"`\[([a-z0-9_-]+)\]`(?! extra)", line)) == extras
