"""Registered models, a model's versions and aliases, its audit timeline, gate verdicts and lineage.

Mutations (move an alias, archive or restore a version) are two steps: a GET confirmation page that
says what will change (from which version to which), then a POST form carrying the CSRF field,
checked with :func:`~loopwright.ui.session.check_mutation` (maintainer role, as the API's own
routes) and written by the store with the signed-in user as the audit actor.

Examples
--------
>>> _version_number("3"), _version_number("v3"), _version_number("x")
(3, 3, None)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from loopwright.errors import InvalidInput
from loopwright.names import validate_alias
from loopwright.store.entities import AuditEntry, ModelVersion
from loopwright.store.sql import SqlStore
from loopwright.ui.charts import graph_svg
from loopwright.ui.session import UIRoute, can, check_mutation, form_of, page

MUTATE_ROLE = "maintainer"  # the API's set_alias / set_model_version_status role
MAX_VERSIONS = 200
LINEAGE_VERSIONS = 20
GATE_ACTION = "gate_verdict"


def _version_number(raw: str | None) -> int | None:
    text = (raw or "").strip().lstrip("vV")
    return int(text) if text.isdigit() else None


def _store(request: Request) -> SqlStore:
    store: SqlStore = request.app.state.store
    return store


def _quoted(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _lineage(store: SqlStore, name: str, versions: list[ModelVersion]) -> str:
    """Sources (datasets, pipeline and training runs) → versions → what consumes them (deployments…)."""
    sources: dict[str, str] = {}
    sinks: dict[str, str] = {}
    middle: list[tuple[str, str]] = []
    edges: list[tuple[str, str]] = []
    for mv in versions[:LINEAGE_VERSIONS]:
        node = f"model_version:{mv.owner_id}"
        middle.append((node, f"{name} v{mv.version}" + (f" @{','.join(mv.aliases)}" if mv.aliases else "")))
        if mv.run_id:
            sources.setdefault(f"run:{mv.run_id}", f"run {mv.run_id[:12]}")
            edges.append((f"run:{mv.run_id}", node))
        for e in store.get_lineage_edges("model_version", mv.owner_id, "both"):
            src, dst = f"{e.src_type}:{e.src_id}", f"{e.dst_type}:{e.dst_id}"
            if dst == node and src not in dict(middle):
                sources.setdefault(src, f"{e.src_type} {e.src_id[:20]}")
            elif src == node:
                sinks.setdefault(dst, f"{e.dst_type} {e.dst_id[:20]}")
            edges.append((src, dst))
    return graph_svg([list(sources.items()), middle, list(sinks.items())], edges)


def _transition(entry: AuditEntry) -> str:
    """What an audit entry changed, in words (``alias=champion; version: 1 → 2``).

    >>> from datetime import datetime, timezone
    >>> moved = AuditEntry(1, "alias", "churn", 2, "alias_moved", "ana", datetime.now(timezone.utc),
    ...                    before={"alias": "champion", "version": 1}, after={"alias": "champion", "version": 2})
    >>> _transition(moved)
    'alias=champion; version: 1 → 2'
    """
    before, after = entry.before, entry.after
    if entry.action == GATE_ACTION and isinstance(after, dict):
        return "passed" if after.get("passed") else "failed"
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(set(before) | set(after))
        same = [f"{k}={after[k]}" for k in keys if k in before and k in after and before[k] == after[k]]
        changed = [
            f"{k}: {before.get(k, '—')} → {after.get(k, '—')}" for k in keys if before.get(k) != after.get(k)
        ]
        return "; ".join(same + changed)
    if before is None and isinstance(after, dict):  # created: its short fields
        return "; ".join(f"{k}={v}" for k, v in after.items() if v is not None and len(str(v)) <= 48)
    if before is None and after is None:
        return ""
    return f"{'—' if before is None else before} → {'—' if after is None else after}"


def registry_router() -> APIRouter:
    """``/models``, ``/models/{name}``, ``/models/{name}/confirm`` and the POST forms it leads to."""
    router = APIRouter(route_class=UIRoute, include_in_schema=False)

    @router.get("/models")
    def models(request: Request) -> Response:
        return page(request, "models.html", models=_store(request).search_registered_models(max_results=1000))

    @router.get("/models/{name}")
    def model(request: Request, name: str) -> Response:
        store = _store(request)
        registered = store.get_registered_model(name)
        versions = store.search_model_versions(
            filter=f"name = {_quoted(name)}", order_by=["version DESC"], max_results=MAX_VERSIONS
        )
        audit = store.list_audit_log(name)
        gates: list[dict[str, Any]] = []
        for entry in audit:
            if entry.action == GATE_ACTION and isinstance(entry.after, dict):
                checks = entry.after.get("checks") or []
                gates.append({"entry": entry, "checks": checks if isinstance(checks, list) else []})
        timeline = [{"entry": e, "change": _transition(e)} for e in reversed(audit)]
        return page(
            request,
            "model.html",
            model=registered,
            versions=versions,
            timeline=timeline,
            gates=list(reversed(gates)),
            lineage=_lineage(store, name, versions),
            can_mutate=can(request, MUTATE_ROLE),
        )

    @router.get("/models/{name}/confirm")
    def confirm(request: Request, name: str, action: str, alias: str = "", version: str = "") -> Response:
        store = _store(request)
        number = _version_number(version)
        if number is None:
            raise InvalidInput(f"pick a version number, got {version!r}")
        target = store.get_model_version(name, number)
        registered = store.get_registered_model(name)
        if action == "set_alias":
            validate_alias(alias)
            current = registered.aliases.get(alias)
            summary = (
                f"Move alias {alias!r} of {name!r} from "
                + (f"version {current}" if current is not None else "nowhere (new alias)")
                + f" to version {number}?"
            )
        elif action in ("archive", "restore"):
            summary = f"{action.capitalize()} version {number} of {name!r} (now {target.status})?"
        else:
            raise InvalidInput(f"unknown action {action!r}: use set_alias, archive or restore")
        return page(
            request,
            "confirm.html",
            model=registered,
            action=action,
            alias=alias,
            version=number,
            summary=summary,
            can_mutate=can(request, MUTATE_ROLE),
        )

    @router.post("/models/{name}/aliases")
    async def move_alias(request: Request, name: str) -> Response:
        form = await form_of(request)
        who = check_mutation(request, form, MUTATE_ROLE, f"ui set_alias {name}")
        number = _version_number(form.get("version"))
        if number is None:
            raise InvalidInput("pick a version number")
        _store(request).set_alias(name, form.get("alias", ""), number, actor=who.user)
        return RedirectResponse(f"/models/{quote(name)}", status_code=303)

    @router.post("/models/{name}/versions/{version}/status")
    async def version_status(request: Request, name: str, version: int) -> Response:
        form = await form_of(request)
        who = check_mutation(request, form, MUTATE_ROLE, f"ui set_model_version_status {name}")
        status = {"archive": "archived", "restore": "ready"}.get(form.get("action", ""))
        if status is None:
            raise InvalidInput("action must be archive or restore")
        _store(request).set_model_version_status(name, version, status, actor=who.user)  # type: ignore[arg-type]
        return RedirectResponse(f"/models/{quote(name)}", status_code=303)

    return router
