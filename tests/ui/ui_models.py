"""The pyfunc model the UI tests log (importable by name from a server process)."""

from __future__ import annotations

from typing import Any

import loopwright as lw


class Threshold(lw.PythonModel):
    """A pyfunc model (code reference and config: packaged without importing a ML library)."""

    config = {"threshold": 0.5}

    def load(self, context: Any) -> None:
        self.threshold = context.config["threshold"]

    def predict(self, data: Any) -> list[bool]:
        return [x > self.threshold for x in data]
