"""What every executor offers the coordinator."""

from __future__ import annotations

from abc import ABC, abstractmethod

from loopwright.pipelines.tasks import StepOutcome, StepTask


class Executor(ABC):
    """Runs :class:`StepTask` s and reports :class:`StepOutcome` s."""

    label: str

    @abstractmethod
    def submit(self, tasks: list[StepTask]) -> None:
        """Start every task (they are independent of each other)."""

    @abstractmethod
    def wait(self) -> list[StepOutcome]:
        """Block until at least one submitted task has finished; return the finished ones."""

    @abstractmethod
    def in_flight(self) -> int:
        """Tasks submitted and not yet returned by :meth:`wait`."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release workers."""
