"""A chat model for the OpenAI-route tests (importable by name, as the package loader needs)."""

from __future__ import annotations

from typing import Any

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
