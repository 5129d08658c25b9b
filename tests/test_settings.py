"""One place for every setting: Settings reads each LOOPWRIGHT_* variable, the tables name them all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loopwright import config
from loopwright.config import Settings
from loopwright.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "loopwright"
VARIABLE = re.compile(r"LOOPWRIGHT_[A-Z_]+")


def _read_in_settings() -> set[str]:
    text = (SRC / "config.py").read_text()
    body = text[text.index("def from_env") :]
    return set(re.findall(r'env\.get\("(LOOPWRIGHT_[A-Z_]+)"', body))


def test_no_module_but_config_reads_a_loopwright_variable() -> None:
    reads = re.compile(r"(os\.environ\.get|os\.getenv|os\.environ\[)\(?\s*[\"']LOOPWRIGHT_")
    writes = re.compile(r"os\.environ\[\s*[\"']LOOPWRIGHT_[A-Z_]+[\"']\s*\]\s*=[^=]")  # setting one is fine
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in SRC.rglob("*.py")
        if path.name != "config.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if reads.search(line)
        and not writes.search(line)
        and ">>>" not in line  # doctests set variables, they do not read them
    ]
    assert offenders == []


def test_docstring_and_readme_tables_name_every_variable_settings_reads() -> None:
    read = _read_in_settings()
    assert {"LOOPWRIGHT_USER", "LOOPWRIGHT_ONNX_THREADS", "LOOPWRIGHT_DEBUG"} <= read
    table = (config.__doc__ or "").split("Examples")[0]
    assert set(VARIABLE.findall(table)) == read
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Configuration") :]
    section = section[: section.index("\n### ")]
    rows = set(re.findall(r"^\| `(LOOPWRIGHT_[A-Z_]+)` \|", section, re.MULTILINE))
    assert rows == read


def test_new_variables_resolve() -> None:
    s = Settings.from_env(
        {"LOOPWRIGHT_USER": " ada ", "LOOPWRIGHT_ONNX_THREADS": "3", "LOOPWRIGHT_DEBUG": "1"}
    )
    assert (s.user, s.onnx_threads, s.debug) == ("ada", 3, True)
    d = Settings.from_env({"LOOPWRIGHT_DEBUG": "0"})
    assert (d.user, d.onnx_threads, d.debug) == (None, 1, False)
    with pytest.raises(InvalidInput, match="LOOPWRIGHT_ONNX_THREADS"):
        Settings.from_env({"LOOPWRIGHT_ONNX_THREADS": "zero"})
