"""``LoopResult``: what one step of the loop did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from loopwright.evaluation.gate import GateResult
from loopwright.loop.canary import CanaryReport
from loopwright.store.entities import LoopTransition, ModelVersion


@dataclass
class LoopResult:
    """The outcome of :meth:`Loop.step` / :func:`step_loop`.

    Attributes
    ----------
    model : str
        The registered model.
    state : str
        Where the loop stands after the step (``idle``, ``canary``, ``promoted`` …).
    cycle : int
        The current (or last) cycle number.
    triggered : bool
        This step started a new cycle.
    reason : str
        Why the step ended where it did (the trigger's verdict, the gate's, the canary's …).
    candidate : ModelVersion or None
        The cycle's candidate version, once registered.
    gate : GateResult or None
        The gate's verdict when this step ran the gate.
    canary : CanaryReport or None
        The canary's evidence when this step judged it.
    transitions : list of LoopTransition
        The transitions this step made, in order.

    Examples
    --------
    >>> import loopwright as lw
    >>> result = lw.LoopResult("churn", state="idle", cycle=0, triggered=False, reason="no drift")
    >>> result
    LoopResult('churn', state='idle', cycle=0, reason='no drift')
    >>> result.promoted, result.rolled_back, len(result.to_frame())
    (False, False, 0)
    """

    model: str
    state: str
    cycle: int
    triggered: bool
    reason: str
    candidate: ModelVersion | None = None
    gate: GateResult | None = None
    canary: CanaryReport | None = None
    transitions: list[LoopTransition] = field(default_factory=list)

    def __repr__(self) -> str:
        version = f", candidate=v{self.candidate.version}" if self.candidate else ""
        return f"LoopResult({self.model!r}, state={self.state!r}, cycle={self.cycle}{version}, reason={self.reason!r})"

    @property
    def promoted(self) -> bool:
        """This step moved the promote alias to the candidate."""
        return any(t.to_state == "promoted" for t in self.transitions)

    @property
    def rolled_back(self) -> bool:
        """This step rejected the candidate (gate or canary failed)."""
        return any(t.to_state == "rolled_back" for t in self.transitions)

    def to_frame(self) -> pd.DataFrame:
        """One row per transition made: cycle, from, to, version, reason, time (UTC)."""
        return pd.DataFrame(
            [
                {
                    "cycle": t.cycle,
                    "from": t.from_state,
                    "to": t.to_state,
                    "version": t.version,
                    "reason": t.reason,
                    "time": pd.Timestamp(t.time_ms, unit="ms", tz="UTC"),
                }
                for t in self.transitions
            ],
            columns=["cycle", "from", "to", "version", "reason", "time"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "state": self.state,
            "cycle": self.cycle,
            "triggered": self.triggered,
            "reason": self.reason,
            "candidate": self.candidate.uri if self.candidate else None,
            "gate": self.gate.to_dict() if self.gate else None,
            "canary": self.canary.to_dict() if self.canary else None,
            "promoted": self.promoted,
            "rolled_back": self.rolled_back,
        }
