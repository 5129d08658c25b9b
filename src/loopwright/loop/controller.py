"""``Loop``: the controller that closes the loop — trigger → retrain → gate → canary → promote or roll back.

Each registered model's loop is a persisted state machine (``store.get_loop_state``)::

    idle ─trigger─▶ retraining ─▶ gated ─pass─▶ canary ─rules hold─▶ promoted
                        │           │  └─pass, no canary section──────▶ promoted
                        ▼           └─fail──────────────────────────▶ rolled_back
                      failed                   canary ─rules fail──▶ rolled_back

``promoted``, ``rolled_back`` and ``failed`` end a cycle; from them (and ``idle``) the next trigger
starts the next one. :meth:`Loop.step` advances as far as it can in one call: a trigger runs the
pipeline, registers its model as the next version, stores its reference profile, gates it against
the champion, and either promotes it, starts its canary, or rejects it. Later calls judge the
canary on its live traffic until it is promoted or rolled back. Every transition is stored with
its reason and time (compare-and-set, so two controllers never run one cycle twice), and every
alias move goes through the registry as the actor ``loopwright-loop``, so the audit log says what
the loop did.

Examples
--------
>>> import loopwright as lw
>>> result = lw.step_loop("loop.yaml")  # doctest: +SKIP
>>> result.state, result.reason  # doctest: +SKIP
('canary', 'gate passed; challenger -> v3 takes canary traffic')
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from loopwright.errors import Conflict, LoopwrightError, NotFound
from loopwright.evaluation.gate import GateResult, gate
from loopwright.loop.canary import CanaryReport, judge_canary
from loopwright.loop.config import LoopConfig
from loopwright.loop.result import LoopResult
from loopwright.loop.retrain import retrain
from loopwright.loop.triggers import TriggerCheck, check_trigger
from loopwright.monitoring.live import monitor
from loopwright.monitoring.reference import profile
from loopwright.monitoring.spans import TimeBound, parse_duration, time_ms
from loopwright.pipelines.results import PipelineFailed
from loopwright.processes import pid_space, process_gone
from loopwright.registry.client import RegistryClient
from loopwright.store.entities import (
    LoopState,
    LoopStateName,
    LoopTransition,
    ModelVersion,
    now_ms,
)
from loopwright.store.interface import Store
from loopwright.tracking.client import get_client

log = logging.getLogger(__name__)

REJECTED_TAG = "loopwright.loop.rejected"
CYCLE_TAG = "loopwright.loop.cycle"
PIPELINE_RUN_TAG = "loopwright.loop.pipeline_run_id"
ENDING_STATES = ("promoted", "rolled_back", "failed")


def _owner() -> dict[str, Any]:
    """This controller, as a retraining cycle records its owner."""
    return {"pid": os.getpid(), "pid_space": pid_space()}


def _gone(owner: Mapping[str, Any]) -> bool:
    """The recorded owner of a retraining cycle is a process that no longer exists (on this host)."""
    return process_gone(int(owner.get("pid", 0)), str(owner.get("pid_space")))


def paused_reason(state: LoopState) -> str:
    """Why a paused loop does nothing, and how to resume it."""
    since = datetime.fromtimestamp((state.paused_ms or 0) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"the loop of {state.model!r} is paused (by {state.paused_by} since {since}; it stays {state.state}): "
        f"loopwright loop resume {state.model}"
    )


class _Step:
    """One call of :meth:`Loop.step`: its clock, the transitions it made, what it learned.

    ``clock`` is when the step started (the real time, or a replayed one); :meth:`now` advances it
    by the time the step has worked since, so each transition carries the time it happened.
    """

    def __init__(self, store: Store, model: str, clock: int, actor: str):
        self.store = store
        self.model = model
        self.clock = clock
        self.actor = actor
        self._started = time.monotonic_ns()
        self.moves = 0
        self.triggered = False
        self.reason = ""
        self.candidate: ModelVersion | None = None
        self.gate: GateResult | None = None
        self.canary: CanaryReport | None = None

    def now(self) -> int:
        """The step's clock now: its start plus the time elapsed since."""
        return self.clock + (time.monotonic_ns() - self._started) // 1_000_000

    def move(
        self,
        state: LoopState,
        to: LoopStateName,
        reason: str,
        *,
        cycle: int | None = None,
        version: int | None = -1,
        details: Mapping[str, Any] | None = None,
        expect_details: Mapping[str, Any] | None = None,
    ) -> LoopState:
        """Transition from ``state`` (compare-and-set on its name, and on ``expect_details``); a
        cycle's end sets the watermark to now."""
        stamp = self.now()
        new = self.store.transition_loop(
            self.model,
            to,
            expect=[state.state],
            cycle=state.cycle if cycle is None else cycle,
            version=state.version if version == -1 else version,
            reason=reason,
            details=state.details if details is None else details,
            watermark_ms=stamp if to in ENDING_STATES else state.watermark_ms,
            time_ms=stamp,
            actor=self.actor,
            expect_details=expect_details,
        )
        self.moves += 1
        log.info("loop %s cycle %d: %s -> %s: %s", self.model, new.cycle, state.state, to, reason)
        return new

    def result(self, state: LoopState, reason: str) -> LoopResult:
        made: list[LoopTransition] = (
            self.store.list_loop_history(self.model, max_results=self.moves) if self.moves else []
        )
        return LoopResult(
            model=self.model,
            state=state.state,
            cycle=state.cycle,
            triggered=self.triggered,
            reason=reason,
            candidate=self.candidate,
            gate=self.gate,
            canary=self.canary,
            transitions=made,
        )


class Loop:
    """The retraining loop of one registered model, driven by :meth:`step` (or :meth:`run_forever`).

    Parameters
    ----------
    config : LoopConfig, dict or path
        See :class:`~loopwright.loop.config.LoopConfig` (a YAML file path, a mapping or a config).

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> from sklearn.datasets import load_breast_cancer
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> loop = Loop({
    ...     "model": "cancer-classifier",
    ...     "pipeline": "loopwright.demo.pipeline:cancer",
    ...     "policy": {"metric_thresholds": {"roc_auc": {"min": 0.9}}},
    ...     "holdout": load_breast_cancer(as_frame=True).frame,
    ...     "target": "target",
    ...     "trigger": "never",
    ... })
    >>> result = loop.step()
    >>> result.state, result.reason
    ('idle', "trigger 'never': the loop retrains only when forced (--force)")
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """

    def __init__(self, config: LoopConfig | Mapping[str, Any] | str | os.PathLike[str]):
        self.config = LoopConfig.load(config)

    def __repr__(self) -> str:
        c = self.config
        return f"Loop({c.model!r}, endpoint={c.endpoint!r}, trigger={c.trigger!r})"

    @property
    def store(self) -> Store:
        return get_client().store

    @property
    def registry(self) -> RegistryClient:
        """The registry as the loop's actor, so the audit log names the loop for its changes."""
        return RegistryClient(actor=self.config.actor)

    # -- one step ------------------------------------------------------------------------------
    def step(self, now: TimeBound | None = None, *, force: bool = False) -> LoopResult:
        """Advance the loop as far as it can now and say what happened.

        Parameters
        ----------
        now : time bound, optional
            The clock (replays, tests); default: the current time.
        force : bool
            Start a cycle even if the trigger did not fire (what ``trigger: never`` waits for).

        Returns
        -------
        LoopResult
        """
        clock = time_ms(now) if now is not None else now_ms()
        assert clock is not None
        config = self.config
        if config.monitor is not None:
            spec = config.monitor
            monitor(config.endpoint, spec.window, now=clock, alerts=spec.alerts, grace=spec.grace)
        step = _Step(self.store, config.model, clock, config.actor)
        state = self.store.get_loop_state(config.model)
        if state.paused:
            return step.result(state, paused_reason(state))
        try:
            if state.resting:
                check = self._check_trigger(state, clock)
                if not (check.fired or force):
                    return step.result(state, check.reason)
                reason = check.reason if check.fired else f"forced ({check.reason})"
                details = {"trigger": check.evidence, "forced": not check.fired, "owner": _owner()}
                state = step.move(
                    state, "retraining", reason, cycle=state.cycle + 1, version=None, details=details
                )
                step.triggered = True
                state = self._retrain(step, state)
            elif state.state == "retraining":
                owner = state.details.get("owner")
                if isinstance(owner, dict) and _gone(owner):
                    # its controller was killed: take the cycle over (compare-and-set on the owner, so
                    # only one of several new controllers does) and run it again from the pipeline
                    reason = (
                        f"resumed: the controller retraining cycle {state.cycle} (pid {owner['pid']}) is gone"
                    )
                    details = {**state.details, "owner": _owner()}
                    state = step.move(
                        state, "retraining", reason, details=details, expect_details={"owner": owner}
                    )
                    state = self._retrain(step, state)
                else:
                    age = step.now() - state.since_ms
                    if age < config.retrain_timeout_ms:
                        return step.result(state, f"cycle {state.cycle} is retraining in another controller")
                    state = step.move(
                        state, "failed", f"retraining abandoned: no progress for {age // 1000} s"
                    )
            if state.state == "gated" and not state.paused:
                state = self._after_gate(step, state)
            if state.state == "canary" and not state.paused:
                state = self._judge_canary(step, state)
        except Conflict as error:  # another controller (or an operator) moved the loop first
            return step.result(self.store.get_loop_state(config.model), str(error))
        if state.paused:
            return step.result(state, paused_reason(state))
        return step.result(state, step.reason or state.reason)

    def _check_trigger(self, state: LoopState, clock: int) -> TriggerCheck:
        config = self.config
        width = parse_duration(config.monitor.window) if config.monitor is not None else None
        check = check_trigger(
            config.trigger, config.endpoint, state, self.store, width, schedule=config.schedule, now_ms=clock
        )
        if config.trigger == "schedule":
            self.store.mark_loop_checked(config.model, clock)
        return check

    def run_forever(
        self,
        every: str | int | timedelta = "5m",
        *,
        stop: threading.Event | None = None,
        on_step: Callable[[LoopResult], None] | None = None,
    ) -> None:
        """Call :meth:`step` every ``every`` until ``stop`` is set; a failing step is logged and the
        schedule goes on (its state is stored, so the next step resumes)."""
        interval = parse_duration(every)
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                result = self.step()
            except Exception:  # a scheduled controller outlives a bad step (store restart, …)
                log.exception("loop step for %s failed; retrying in %d ms", self.config.model, interval)
            else:
                if on_step is not None:
                    on_step(result)
            stop.wait(interval / 1000)

    # -- the stages ----------------------------------------------------------------------------
    def _retrain(self, step: _Step, state: LoopState) -> LoopState:
        config = self.config
        try:
            retrained = retrain(config, self.store)
        except PipelineFailed as error:
            return step.move(
                state, "failed", f"retraining failed: {error}", details={"pipeline_run_id": error.run_id}
            )
        except LoopwrightError as error:
            return step.move(state, "failed", f"retraining failed: {error}")
        run_id = retrained.result.run_id
        details: dict[str, Any] = {k: v for k, v in state.details.items() if k != "owner"}
        details["pipeline_run_id"] = run_id
        # a controller killed after registering left this cycle's version: gate that one, not a second
        candidate = self._cycle_version(state.cycle)
        if candidate is None:
            same = self._version_with(retrained.manifest_digest)
            if same is not None:
                reason = (
                    f"the pipeline returned the package of version {same.version} again (its steps were "
                    "cached: nothing changed); nothing new to gate"
                )
                return step.move(state, "failed", reason, details=details)
            candidate = self.registry.register_model(
                retrained.model_uri,
                config.model,
                tags={CYCLE_TAG: state.cycle, PIPELINE_RUN_TAG: run_id},
                description=f"retrained by the loop (cycle {state.cycle}): {state.reason}",
            )
        step.candidate = candidate
        log.info("loop %s cycle %d: %s registered; gating it", config.model, state.cycle, candidate.uri)
        if retrained.reference is not None:
            profile(retrained.reference, model=candidate.uri)
        else:
            log.warning(
                "loop %s: no reference_step, so %s has no reference profile", config.model, candidate.uri
            )
        try:
            verdict = gate(
                candidate.uri,
                config.policy,
                data=config.holdout,
                target=config.target,
                champion_alias=config.promote_alias,
            )
        except LoopwrightError as error:
            return step.move(
                state,
                "failed",
                f"the gate could not run: {error}",
                version=candidate.version,
                details=details,
            )
        step.gate = verdict
        failures = [
            f"{c.metric}{'' if c.scope == 'overall' else f' [{c.scope}]'}: {c.reason}"
            for c in verdict.failures
        ]
        reason = (
            f"gate passed: {len(verdict.checks)} checks held"
            if verdict.passed
            else "gate failed: " + "; ".join(failures)
        )
        details.update(
            passed=verdict.passed,
            gate_run_id=verdict.run_id,
            failures=failures,
            # what a rollback after the promotion moves the promote alias back to
            promote_alias=config.promote_alias,
            champion_version=self._alias_version(config.promote_alias),
        )
        return step.move(state, "gated", reason, version=candidate.version, details=details)

    def _after_gate(self, step: _Step, state: LoopState) -> LoopState:
        config, version = self.config, state.version
        assert version is not None
        self._note_candidate(step, version)
        if not state.details.get("passed"):
            self.registry.set_model_version_tag(config.model, version, REJECTED_TAG, state.reason)
            return step.move(state, "rolled_back", f"{state.reason}; no traffic was routed to v{version}")
        if not config.allow_unsigned and not self._signed(version):
            # without a signature the endpoint cannot validate requests: bad input becomes a 500
            reason = (
                f"gate passed, but v{version} has no signature (an endpoint serving it cannot refuse "
                "bad input with 422); not promoted: log the model with an input example, or set "
                "allow_unsigned: true in the loop config"
            )
            self.registry.set_model_version_tag(config.model, version, REJECTED_TAG, reason)
            return step.move(state, "rolled_back", reason)
        promote = config.promote_alias
        champion = state.details.get("champion_version", self._alias_version(promote))
        if config.canary is None:
            details = {**state.details, "promote_alias": promote, "previous_version": champion}
            self._set_alias(promote, version)
            return step.move(state, "promoted", f"gate passed; {promote} -> v{version}", details=details)
        alias = config.canary.alias
        self._set_alias(alias, version)
        details = {
            **state.details,
            "canary_started_ms": step.now(),
            "canary_alias": alias,
            "champion_version": champion,
        }
        return step.move(
            state, "canary", f"gate passed; {alias} -> v{version} takes canary traffic", details=details
        )

    def _judge_canary(self, step: _Step, state: LoopState) -> LoopState:
        config, version = self.config, state.version
        canary = config.canary
        assert version is not None and canary is not None
        self._note_candidate(step, version)
        alias, promote = canary.alias, config.promote_alias
        champion = self._alias_version(promote)
        current = self._alias_version(alias)
        if champion == version:
            # a controller killed mid-promotion moved the promote alias already: finish its work
            if current == version:
                self.registry.delete_alias(config.model, alias)
            details = {**state.details, "previous_version": state.details.get("champion_version")}
            reason = f"{promote} -> v{version} (an interrupted promotion, finished), {alias} removed"
            return step.move(state, "promoted", reason, details=details)
        if current != version:
            rejected = self.registry.get_model_version(config.model, version).tags.get(REJECTED_TAG)
            if rejected is not None:  # a controller killed mid-rollback removed the alias already
                return step.move(state, "rolled_back", f"{rejected}; {alias} removed")
            now = f"v{current}" if current is not None else "unset"
            reason = f"{alias} was moved outside the loop (now {now}): the canary of v{version} is over"
            return step.move(state, "rolled_back", reason)
        report = judge_canary(
            canary,
            endpoint=config.endpoint,
            model=config.model,
            version=version,
            champion=champion,
            started_ms=int(state.details.get("canary_started_ms", state.since_ms)),
            now_ms=step.now(),
            client=get_client(),
        )
        step.canary = report
        details = {**state.details, "canary": report.to_dict()}
        if report.verdict == "wait":
            step.reason = report.reason
            return state
        if report.verdict == "pass":
            self._set_alias(promote, version)
            self.registry.delete_alias(config.model, alias)
            reason = f"{report.reason}; {promote} -> v{version}, {alias} removed"
            details["previous_version"] = champion
            return step.move(state, "promoted", reason, details=details)
        # tagged before the alias goes, so a controller resuming after a kill knows it was a rollback
        self.registry.set_model_version_tag(config.model, version, REJECTED_TAG, report.reason)
        self.registry.delete_alias(config.model, alias)
        kept = f"{promote} stays on v{champion}" if champion is not None else f"{promote} is unchanged"
        return step.move(state, "rolled_back", f"{report.reason}; {alias} removed, {kept}", details=details)

    # -- registry lookups ----------------------------------------------------------------------
    def _alias_version(self, alias: str) -> int | None:
        try:
            return self.registry.get_model_version_by_alias(self.config.model, alias).version
        except NotFound:
            return None

    def _set_alias(self, alias: str, version: int) -> None:
        self.registry.set_alias(self.config.model, alias, version)
        log.info("loop %s: %s -> v%d", self.config.model, alias, version)

    def _signed(self, version: int) -> bool:
        manifest = self.registry.get_manifest(self.registry.get_model_version(self.config.model, version))
        return bool(manifest and manifest.get("signature"))

    def _versions(self) -> list[ModelVersion]:
        try:
            return self.registry.search_model_versions(f"name = '{self.config.model}'")
        except NotFound:
            return []

    def _version_with(self, manifest_digest: str) -> ModelVersion | None:
        return next((v for v in self._versions() if v.manifest_digest == manifest_digest), None)

    def _cycle_version(self, cycle: int) -> ModelVersion | None:
        return next((v for v in self._versions() if v.tags.get(CYCLE_TAG) == str(cycle)), None)

    def _note_candidate(self, step: _Step, version: int) -> None:
        if step.candidate is None:
            step.candidate = self.registry.get_model_version(self.config.model, version)


def step_loop(
    config: LoopConfig | Mapping[str, Any] | str | os.PathLike[str],
    now: TimeBound | None = None,
    *,
    force: bool = False,
) -> LoopResult:
    """Advance a model's loop once: trigger → retrain → gate → canary → promote or roll back.

    ``Loop(config).step(now, force=force)``; call it on a schedule (``loopwright loop run
    --config loop.yaml --every 5m``) to drive the canary stage to its verdict.

    Parameters
    ----------
    config : LoopConfig, dict or path
        The loop configuration (see :class:`~loopwright.loop.config.LoopConfig`).
    now : time bound, optional
        The clock (replays, tests).
    force : bool
        Start a cycle even if the trigger did not fire.

    Returns
    -------
    LoopResult
        ``.state``, ``.triggered``, ``.reason``, ``.candidate``, ``.gate``, ``.canary``,
        ``.promoted`` / ``.rolled_back``, ``.transitions``.

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.step_loop("loop.yaml").state  # doctest: +SKIP
    'idle'
    """
    return Loop(config).step(now, force=force)


def get_loop_state(model: str) -> LoopState:
    """Where a model's loop stands (``idle`` at cycle 0 if it never ran); ``loopwright loop status``.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> state = lw.get_loop_state("churn")
    >>> state.state, state.cycle
    ('idle', 0)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().store.get_loop_state(model)


def list_loop_history(
    model: str, cycle: int | None = None, max_results: int | None = None
) -> list[LoopTransition]:
    """A model's loop transitions, oldest first (one cycle's with ``cycle``).

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> lw.list_loop_history("churn")
    []
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().store.list_loop_history(model, cycle, max_results)


__all__ = ["Loop", "get_loop_state", "list_loop_history", "step_loop"]
