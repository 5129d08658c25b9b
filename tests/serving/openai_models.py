"""A chat model for the OpenAI-route tests (importable by name, as the package loader needs)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopwright.models import PythonModel


class ShoutChat(PythonModel):
    """Answers each request with its last user message in capitals; a message 'fail' makes it raise."""

    def predict(self, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answers = []
        for request in data:
            last = request["messages"][-1]["content"]
            if last == "fail":
                raise RuntimeError("the chat model was asked to fail")
            usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
            answers.append({"content": last.upper(), "finish_reason": "stop", "usage": usage})
        return answers


class CharEmbeddings(PythonModel):
    """Embeds a text as three numbers from its characters (cheap and deterministic); records sent to
    ``/predict`` give their one column of texts, as the bundled model takes them."""

    def predict(self, data: Any) -> np.ndarray:
        texts = list(data.iloc[:, 0]) if isinstance(data, pd.DataFrame) else list(data)
        return np.array([[len(t), t.count(" "), sum(map(ord, t)) % 97] for t in texts], dtype=np.float32)
