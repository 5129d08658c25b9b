"""Operations pages: pipeline runs with their DAG, and each model's loop with its controls.

Deployments and monitoring live in :mod:`loopwright.ui.monitoring_pages`; :func:`operations_router`
serves both. The loop's controls (pause, resume, roll back) are POST forms: CSRF-checked, confirmed
(a required checkbox, checked again here), maintainer role through the server's Guard, and audited
with the signed-in user by :mod:`loopwright.loop.controls` itself; a viewer is shown no form.

Examples
--------
>>> _transition_links(LoopTransition(1, "churn", 1, "canary", "gated", "", 3, 0, {"gate_run_id": "ab12"}), "churn")
[('candidate v3', '/models/churn'), ('gate run', '/runs/ab12')]
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from loopwright.artifacts import BlobStore
from loopwright.errors import InvalidInput
from loopwright.reports.charts import dag_svg
from loopwright.store.entities import LoopTransition, PipelineRun, StepRun
from loopwright.store.sql import SqlStore
from loopwright.ui.monitoring_pages import monitoring_router, seconds, when
from loopwright.ui.session import UIRoute, can, check_mutation, form_of, page

if TYPE_CHECKING:
    from loopwright.tracking.client import Client

PAGE_SIZE = 50
HISTORY_LIMIT = 500
CONTROLS = ("pause", "resume", "rollback")
CONTROL_ROLE = "maintainer"


def _store(request: Request) -> SqlStore:
    store: SqlStore = request.app.state.store
    return store


def _client(request: Request) -> Client:
    from loopwright.tracking.client import Client  # pandas: imported when a control is used, not at start

    blobs: BlobStore = request.app.state.blobs
    return Client(store=_store(request), blobs=blobs)


def _step_caption(step: StepRun) -> str:
    said = "cache hit" if step.cache_hit else step.status
    took = seconds(step.duration)
    return f"{said} · {took}" if took else said


def _dag(run: PipelineRun) -> Markup:
    # trusted markup: dag_svg escapes every name, caption and link it draws
    return Markup(
        dag_svg(
            [(s.node, s.upstream) for s in sorted(run.steps, key=lambda s: s.position)],
            status={s.node: s.status for s in run.steps},
            captions={s.node: _step_caption(s) for s in run.steps},
            links={s.node: f"/runs/{quote(s.run_id, safe='')}" for s in run.steps if s.run_id},
        )
    )


def _transition_links(t: LoopTransition, model: str) -> list[tuple[str, str]]:
    """What a transition points at: its trigger window, candidate, gate run and canary report."""
    links: list[tuple[str, str]] = []
    trigger = t.details.get("trigger") if t.to_state == "retraining" else None
    if isinstance(trigger, dict) and isinstance(trigger.get("endpoint"), str):
        window = trigger.get("window") or [None, trigger.get("window_end")]
        anchor = f"#w{window[-1]}" if window[-1] is not None else ""
        links.append(("trigger window", f"/deployments/{quote(trigger['endpoint'], safe='')}{anchor}"))
    if t.to_state == "gated" and t.version is not None:
        links.append((f"candidate v{t.version}", f"/models/{quote(model, safe='')}"))
    if t.to_state == "gated" and isinstance(t.details.get("gate_run_id"), str):
        links.append(("gate run", f"/runs/{quote(t.details['gate_run_id'], safe='')}"))
    if t.to_state == "retraining" or "pipeline_run_id" not in t.details:
        return links
    if t.to_state in ("gated", "failed"):
        links.append(("retrain pipeline", f"/pipelines/{quote(str(t.details['pipeline_run_id']), safe='')}"))
    return links


def operations_router() -> APIRouter:
    """``/pipelines``, ``/pipelines/{id}``, ``/loop``, ``/loop/{model}`` (+ its POST controls), and
    the deployments pages of :func:`~loopwright.ui.monitoring_pages.monitoring_router`."""
    router = APIRouter(route_class=UIRoute, include_in_schema=False)
    router.include_router(monitoring_router())

    @router.get("/pipelines")
    def pipelines(request: Request, pipeline: str | None = None, offset: int = 0) -> Response:
        offset = max(offset, 0)
        found = _store(request).list_pipeline_runs(pipeline or None, max_results=PAGE_SIZE + 1, offset=offset)
        rows = [
            {
                "run": r,
                "duration": seconds(r.duration),
                "start": when(r.start_time.timestamp() * 1000),
                "counts": {s: sum(1 for x in r.steps if x.status == s) for s in ("done", "cached", "failed")},
            }
            for r in found[:PAGE_SIZE]
        ]
        return page(
            request,
            "pipelines.html",
            rows=rows,
            pipeline=pipeline or "",
            offset=offset,
            more=len(found) > PAGE_SIZE,
            page_size=PAGE_SIZE,
        )

    @router.get("/pipelines/{pipeline_run_id}")
    def pipeline_run(request: Request, pipeline_run_id: str) -> Response:
        run = _store(request).get_pipeline_run(pipeline_run_id)
        steps = [
            {"step": s, "duration": seconds(s.duration), "start": when(_ms(s.start_time))}
            for s in sorted(run.steps, key=lambda s: s.position)
        ]
        return page(
            request,
            "pipeline.html",
            run=run,
            steps=steps,
            dag=_dag(run),
            start=when(run.start_time.timestamp() * 1000),
            duration=seconds(run.duration),
        )

    @router.get("/loop")
    def loops(request: Request) -> Response:
        states = _store(request).list_loop_states()
        return page(request, "loop.html", states=states, when=when)

    @router.get("/loop/{model}")
    def loop_model(request: Request, model: str, done: str | None = None) -> Response:
        store = _store(request)
        state = store.get_loop_state(model)
        history = store.list_loop_history(model, max_results=HISTORY_LIMIT)
        rows: list[dict[str, Any]] = [
            {
                "t": t,
                "links": _transition_links(t, model),
                "canary": t.details.get("canary") if t.to_state in ("promoted", "rolled_back") else None,
                "duration": seconds(t.duration_ms / 1000) if t.duration_ms is not None else "",
            }
            for t in reversed(history)
        ]
        return page(
            request,
            "loop_model.html",
            state=state,
            rows=rows,
            when=when,
            controls=can(request, CONTROL_ROLE),
            done=done if done in CONTROLS else None,
            limit=HISTORY_LIMIT,
        )

    @router.post("/loop/{model}/{action}")
    async def loop_control(request: Request, model: str, action: str) -> Response:
        form = await form_of(request)
        who = check_mutation(request, form, CONTROL_ROLE, f"loop {action}")
        if action not in CONTROLS:
            raise InvalidInput(f"unknown loop control {action!r}: use one of {list(CONTROLS)}")
        if form.get("confirm") != "yes":
            raise InvalidInput(f"tick the confirmation box to {action} the loop of {model!r}")
        reason = form.get("reason", "").strip()[:500] or None
        # imported here: loopwright.loop pulls in pandas and monitoring, seconds off every server start
        from loopwright.loop import controls

        control = {
            "pause": controls.pause_loop,
            "resume": controls.resume_loop,
            "rollback": controls.rollback_loop,
        }
        control[action](model, reason, actor=who.user, client=_client(request))
        return RedirectResponse(f"/loop/{quote(model, safe='')}?done={action}", status_code=303)

    return router


def _ms(stamp: datetime | None) -> int | None:
    return None if stamp is None else int(stamp.timestamp() * 1000)
