"""Operators steer a model's loop: pause it, resume it, roll its last move back.

Each control is recorded twice with the operator as the actor (``LOOPWRIGHT_USER``, else the OS user;
the platform server's UI passes the signed-in user and its own ``client``):
as a loop transition (``loopwright loop status``) and in the registry's audit log
(``loop_paused`` / ``loop_resumed`` / ``loop_rollback``; alias moves audit themselves).

- :func:`pause_loop`: the loop triggers nothing and leaves its state as it is (a canary keeps its
  alias and traffic; its timeout still runs); a controller mid-cycle stops at its next transition.
- :func:`resume_loop`: the next step goes on from where the loop stands.
- :func:`rollback_loop`: a cycle in ``gated`` or ``canary`` ends now (``rolled_back``: the canary alias
  is removed, the candidate tagged ``loopwright.loop.rejected``); between cycles, the promote alias
  goes back to the version it held before the loop's last promotion.

Examples
--------
>>> import os, tempfile, loopwright as lw
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> lw.pause_loop("churn", "holiday freeze", actor="ada").paused_by
'ada'
>>> lw.list_loop_history("churn")[-1].reason
'paused by ada: holiday freeze'
>>> lw.resume_loop("churn", actor="ada").paused
False
>>> lw.rollback_loop("churn", actor="ada")
Traceback (most recent call last):
...
loopwright.errors.NotFound: the loop of 'churn' has promoted nothing yet: nothing to roll back
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

import contextlib
from typing import Any

from loopwright.errors import Conflict, NotFound
from loopwright.loop.controller import REJECTED_TAG
from loopwright.registry.actor import current_actor
from loopwright.registry.client import RegistryClient
from loopwright.store.entities import LoopState, LoopTransition, now_ms
from loopwright.store.interface import Store
from loopwright.tracking.client import Client, get_client

DEFAULT_CANARY_ALIAS = "challenger"
DEFAULT_PROMOTE_ALIAS = "champion"


def pause_loop(
    model: str, reason: str | None = None, *, actor: str | None = None, client: Client | None = None
) -> LoopState:
    """Pause a model's loop: no trigger starts a cycle, a canary stays where it is.

    ``loopwright loop pause MODEL [--reason TEXT]``; ``Conflict`` if it is paused already.

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.pause_loop("churn", "investigating drift").paused  # doctest: +SKIP
    True
    """
    who = actor or current_actor()
    store = (client or get_client()).store
    state = store.set_loop_paused(model, True, actor=who, reason=_said(f"paused by {who}", reason))
    _audit(store, model, "loop_paused", who, state, reason)
    return state


def resume_loop(
    model: str, reason: str | None = None, *, actor: str | None = None, client: Client | None = None
) -> LoopState:
    """Resume a paused loop: its next step goes on from the state it was paused in.

    ``loopwright loop resume MODEL``; ``Conflict`` if it is not paused.

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.resume_loop("churn").paused  # doctest: +SKIP
    False
    """
    who = actor or current_actor()
    store = (client or get_client()).store
    state = store.set_loop_paused(model, False, actor=who, reason=_said(f"resumed by {who}", reason))
    _audit(store, model, "loop_resumed", who, state, reason)
    return state


def rollback_loop(
    model: str, reason: str | None = None, *, actor: str | None = None, client: Client | None = None
) -> LoopState:
    """End a model's canary now, or move its promote alias back to where it was before the loop's
    last promotion; returns the loop's new state (``rolled_back``).

    ``loopwright loop rollback MODEL [--reason TEXT]``. A cycle still retraining cannot be rolled back
    (``Conflict``: pause the loop, or roll back once the gate has judged); nothing promoted yet is
    ``NotFound``; a promote alias moved since that promotion is ``Conflict`` (nothing is changed).

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.rollback_loop("churn", "complaints from support").reason  # doctest: +SKIP
    'rolled back by ada: champion v3 -> v2 (complaints from support)'
    """
    who = actor or current_actor()
    client = client or get_client()
    store = client.store
    registry = RegistryClient(client, actor=who)
    state = store.get_loop_state(model)
    if state.state == "retraining":
        raise Conflict(
            f"the loop of {model!r} is retraining (cycle {state.cycle}): nothing to roll back yet; "
            f"pause it (loopwright loop pause {model}) or roll back once the gate has judged"
        )
    if state.state in ("gated", "canary"):
        moved, version, details = _end_cycle(registry, model, state)
    else:
        moved, version, details = _undo_promotion(registry, model, state, store.list_loop_history(model))
    said = f"rolled back by {who}: {moved}" + (f" ({reason})" if reason else "")
    registry.set_model_version_tag(model, version, REJECTED_TAG, said)
    stamp = now_ms()
    new = store.transition_loop(
        model,
        "rolled_back",
        expect=[state.state],
        cycle=state.cycle,
        version=version,
        reason=said,
        details=details,
        watermark_ms=stamp,
        time_ms=stamp,
        actor=who,
    )
    _audit(store, model, "loop_rollback", who, new, reason, before=state)
    return new


def _end_cycle(registry: RegistryClient, model: str, state: LoopState) -> tuple[str, int, dict[str, Any]]:
    """Stop the cycle in flight: its canary alias goes; a promotion a killed controller half-made is undone."""
    version = state.version
    assert version is not None
    details = state.details
    canary = str(details.get("canary_alias", DEFAULT_CANARY_ALIAS))
    promote = str(details.get("promote_alias", DEFAULT_PROMOTE_ALIAS))
    said = [f"the cycle {state.cycle} of v{version} ended in {state.state}"]
    if _alias_version(registry, model, canary) == version:
        registry.delete_alias(model, canary)
        said.append(f"{canary} removed")
    previous = details.get("champion_version")
    if _alias_version(registry, model, promote) == version and previous is not None:
        registry.set_alias(model, promote, int(previous))
        said.append(f"{promote} v{version} -> v{previous}")
    return ", ".join(said), version, dict(details)


def _undo_promotion(
    registry: RegistryClient, model: str, state: LoopState, history: list[LoopTransition]
) -> tuple[str, int, dict[str, Any]]:
    """Move the promote alias back to the version it held before the loop's last promotion."""
    promotion = next((t for t in reversed(history) if t.to_state == "promoted"), None)
    if promotion is None or promotion.version is None:
        raise NotFound(f"the loop of {model!r} has promoted nothing yet: nothing to roll back")
    version = promotion.version
    promote = str(promotion.details.get("promote_alias", DEFAULT_PROMOTE_ALIAS))
    previous = promotion.details.get("previous_version")
    current = _alias_version(registry, model, promote)
    if current != version:
        now = f"v{current}" if current is not None else "unset"
        raise Conflict(
            f"{promote} of {model!r} is {now}, not v{version} (promoted by the loop in cycle "
            f"{promotion.cycle}): nothing to roll back; move it with loopwright models alias"
        )
    if previous is None:
        raise Conflict(
            f"v{version} of {model!r} was the first {promote} (cycle {promotion.cycle}): there is no "
            "earlier version to move it back to"
        )
    registry.set_alias(model, promote, int(previous))
    moved = f"{promote} v{version} -> v{previous} (promoted in cycle {promotion.cycle})"
    return moved, version, {**promotion.details, "rolled_back_from": state.state}


def _alias_version(registry: RegistryClient, model: str, alias: str) -> int | None:
    try:
        return registry.get_model_version_by_alias(model, alias).version
    except NotFound:
        return None


def _said(what: str, reason: str | None) -> str:
    return f"{what}: {reason}" if reason else what


def _audit(
    store: Store,
    model: str,
    action: str,
    actor: str,
    state: LoopState,
    reason: str | None,
    before: LoopState | None = None,
) -> None:
    """An entry in the registry's audit log, when the model is registered (a loop may be paused first)."""
    after = {"state": state.state, "cycle": state.cycle, "version": state.version, "reason": reason}
    previous = {"state": before.state, "version": before.version} if before is not None else None
    with contextlib.suppress(NotFound):
        store.append_audit("registered_model", model, action, actor=actor, before=previous, after=after)
