"""Experiments, runs, one run, and a comparison of runs.

Each page is a bounded number of store queries whatever the store holds: the runs table is one
``search_runs`` (page size + 1 rows, so "next" needs no count; pages by keyset, ``?after=`` the last
run of the previous page, so page 2,000 costs what page 1 does), a run page one query per metric key
(curves capped to :data:`~loopwright.ui.charts.MAX_POINTS` on the server), a comparison one
``search_runs`` for the runs and one history query per run for the chosen metric.

Examples
--------
>>> column_key("metrics.auc"), column_key("params.`learning rate`"), column_key("bogus")
(('metrics', 'auc'), ('params', 'learning rate'), None)
>>> order_term("metrics", "f1 score")
'metrics.`f1 score`'
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from loopwright.artifacts import BlobStore
from loopwright.errors import InvalidInput, LoopwrightError
from loopwright.models.manifest import MANIFEST_NAME, parse_manifest
from loopwright.store.entities import Run
from loopwright.store.sql import SqlStore
from loopwright.ui.charts import downsample, parallel_svg, smooth, steps_svg
from loopwright.ui.session import UIRoute, page

PAGE_SIZE = 50
MAX_COMPARE = 20
COMPARE_POINTS = 400  # per overlaid curve: 20 curves stay a small SVG
INLINE_BYTES = 256 * 1024
INLINE_COUNT = 12
DEFAULT_ORDER = "attributes.start_time DESC"
_PREFIXES = ("metrics", "params", "tags")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")
_TEXT_TYPES = (".txt", ".log", ".md", ".py", ".yaml", ".yml", ".csv", ".toml", ".cfg", ".ini", ".sql", ".sh")
_IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")


def column_key(column: str) -> tuple[str, str] | None:
    """``("metrics", "auc")`` for ``metrics.auc`` (backticked keys allowed), ``None`` if not a column."""
    prefix, _, key = column.partition(".")
    if prefix not in _PREFIXES or not key:
        return None
    if len(key) > 1 and key[0] == key[-1] and key[0] in '`"':
        key = key[1:-1]
    return prefix, key


def order_term(prefix: str, key: str) -> str:
    """The ``order_by``/filter spelling of a column (backticks when the key needs them)."""
    return f"{prefix}.{key}" if _PLAIN_KEY.match(key) else f"{prefix}.`{key}`"


def _values(request: Request, name: str) -> list[str]:
    """A query parameter given as ``?x=a,b`` or ``?x=a&x=b`` (or both)."""
    return [v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()]


def _store(request: Request) -> SqlStore:
    store: SqlStore = request.app.state.store
    return store


def _blobs(request: Request) -> BlobStore:
    blobs: BlobStore = request.app.state.blobs
    return blobs


def _cell(run: Run, prefix: str, key: str) -> Any:
    values: dict[str, dict[str, Any]] = {"metrics": run.metrics, "params": run.params, "tags": run.tags}
    return values[prefix].get(key)


def _chart_options(request: Request) -> tuple[bool, float]:
    log_scale = request.query_params.get("log") == "1"
    try:
        weight = min(max(float(request.query_params.get("smooth", "0")), 0.0), 0.99)
    except ValueError:
        weight = 0.0
    return log_scale, weight


def _artifact_view(blobs: BlobStore, run_id: str, path: str, digest: str, size: int) -> dict[str, Any]:
    lower = path.lower()
    view: dict[str, Any] = {"path": path, "size": size, "digest": digest, "kind": "file", "body": None}
    if lower.endswith(_IMAGE_TYPES):
        view["kind"] = "image"
    elif lower.endswith((".html", ".htm")):
        view["kind"] = "html"
    elif lower.endswith(".json") and size <= INLINE_BYTES:
        view["kind"] = "json"
        text = blobs.get_bytes(digest).decode("utf-8", "replace")
        try:
            view["body"] = json.dumps(json.loads(text), indent=2, sort_keys=True)[:INLINE_BYTES]
        except ValueError:
            view["body"] = text
    elif lower.endswith(_TEXT_TYPES) and size <= INLINE_BYTES:
        view["kind"] = "text"
        view["body"] = blobs.get_bytes(digest).decode("utf-8", "replace")
    return view


def _model_packages(
    store: SqlStore, blobs: BlobStore, run_id: str, paths: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each model package the run logged, from its manifest (flavor, signature, files, digests)."""
    packages: list[dict[str, Any]] = []
    for path, ref in paths.items():
        if path == MANIFEST_NAME or path.endswith(f"/{MANIFEST_NAME}"):
            try:
                manifest = parse_manifest(blobs.get_bytes(ref.digest), f"{path} of run {run_id}")
            except LoopwrightError as error:
                packages.append({"path": path, "error": str(error)})
                continue
            packages.append(
                {
                    "path": path.rpartition("/")[0] or ".",
                    "digest": ref.digest,
                    "flavor": manifest.get("flavor"),
                    "signature": json.dumps(manifest.get("signature"), indent=2),
                    "files": manifest.get("files", []),
                    "python": manifest.get("python_version"),
                    "requirements": manifest.get("requirements", []),
                    "error": None,
                }
            )
    return packages


def _href_for(node_type: str, node_id: str) -> str | None:
    if node_type == "run":
        return f"/runs/{node_id}"
    if node_type == "model_version":
        return f"/models/{node_id.rpartition('/')[0]}"
    return None


def _history(store: SqlStore, run_id: str, key: str) -> list[tuple[int, float]]:
    """One metric's ``(step, value)`` points, read as two arrays: 10,000 steps cost a third of what
    10,000 ``MetricPoint`` rows do (most of a run page's time at that length)."""
    arrays = store.get_metric_history_arrays(run_id, key)
    return list(zip(arrays.steps.tolist(), arrays.values.tolist(), strict=True))


def _runs_by_id(store: SqlStore, ids: Sequence[str]) -> list[Run]:
    """The runs named (one query), in the order asked; unknown ids are an InvalidInput."""
    quoted = ", ".join("'" + i.replace("'", "") + "'" for i in ids)
    found = {
        r.id: r for r in store.search_runs(filter=f"attributes.run_id IN ({quoted})", include_deleted=True)
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInput(f"no run {missing[0]!r}")
    return [found[i] for i in ids]


def tracking_router() -> APIRouter:
    """``/experiments``, ``/experiments/{id}`` (runs), ``/runs/{id}``, ``/runs/{id}/raw/{path}``, ``/compare``."""
    router = APIRouter(route_class=UIRoute, include_in_schema=False)

    @router.get("/experiments")
    def experiments(request: Request, deleted: int = 0) -> Response:
        found = _store(request).list_experiments(include_deleted=bool(deleted))
        return page(request, "experiments.html", experiments=found, deleted=bool(deleted))

    @router.get("/experiments/{experiment_id}")
    def runs(request: Request, experiment_id: str) -> Response:
        store = _store(request)
        experiment = store.get_experiment(experiment_id)
        q = request.query_params
        filter_text = q.get("filter", "").strip()
        order = q.get("order_by", "").strip() or DEFAULT_ORDER
        include_deleted = q.get("deleted") == "1"
        after = q.get("after") or None
        number = int(q["page"]) if q.get("page", "").isdigit() else 1
        error = None
        try:
            found = store.search_runs(
                [experiment_id],
                filter=filter_text or None,
                order_by=[order],
                max_results=PAGE_SIZE + 1,
                include_deleted=include_deleted,
                after_run_id=after,
            )
        except InvalidInput as invalid:
            error, found = str(invalid), []
        has_next = len(found) > PAGE_SIZE
        found = found[:PAGE_SIZE]
        picked = [c for c in (column_key(v) for v in _values(request, "columns")) if c is not None]
        available = sorted(
            {("metrics", k) for r in found for k in r.metrics}
            | {("params", k) for r in found for k in r.params}
            | {("tags", k) for r in found for k in r.tags}
        )
        if not picked:
            picked = [c for c in available if c[0] == "metrics"][:6] + [
                c for c in available if c[0] == "params"
            ][:4]
        state = {
            "filter": filter_text,
            "order_by": order,
            "columns": ",".join(order_term(p, k) for p, k in picked),
            **({"deleted": "1"} if include_deleted else {}),
        }

        def link(**changes: Any) -> str:
            merged = {**state, **changes}
            return f"/experiments/{experiment_id}?" + urlencode(
                {k: v for k, v in merged.items() if v not in ("", None)}
            )

        def sort_link(term: str) -> str:
            return link(order_by=f"{term} ASC" if order == f"{term} DESC" else f"{term} DESC")

        context: dict[str, Any] = {
            "experiment": experiment,
            "runs": found,
            "columns": [(p, k, order_term(p, k)) for p, k in picked],
            "available": [(p, k, order_term(p, k)) for p, k in available],
            "cell": _cell,
            "error": error,
            "state": state,
            "order": order,
            "page_number": number,
            "next_link": link(after=found[-1].id, page=number + 1) if has_next else None,
            "first_link": link() if after else None,
            "sort_link": sort_link,
            "include_deleted": include_deleted,
        }
        partial = request.headers.get("hx-target") == "runs-table"
        return page(request, "_runs_table.html" if partial else "runs.html", **context)

    @router.get("/runs/{run_id}")
    def run(request: Request, run_id: str) -> Response:
        store, blobs = _store(request), _blobs(request)
        found = store.get_run(run_id)
        log_scale, weight = _chart_options(request)
        charts = []
        for key in sorted(found.metrics):
            history = _history(store, run_id, key)
            capped = downsample(smooth(history, weight))
            charts.append(
                {
                    "key": key,
                    "steps": len(history),
                    "drawn": len(capped),
                    "csv": f"/runs/{quote(run_id)}/metric.csv?" + urlencode({"key": key}),
                    "svg": steps_svg({key: capped}, log_scale=log_scale, label=key),
                }
            )
        if request.headers.get("hx-target") == "charts":
            return page(request, "_charts.html", run=found, charts=charts, log_scale=log_scale, weight=weight)
        refs = store.list_artifacts("run", run_id)
        by_path = {r.path: r for r in refs}
        artifacts = []
        for i, ref in enumerate(refs):
            if i < INLINE_COUNT:
                artifacts.append(_artifact_view(blobs, run_id, ref.path, ref.digest, ref.size))
            else:
                artifacts.append({"path": ref.path, "size": ref.size, "digest": ref.digest, "kind": "file"})
        edges = store.get_lineage_edges("run", run_id, "both")
        lineage = [
            {
                "edge": e,
                "src_href": _href_for(e.src_type, e.src_id),
                "dst_href": _href_for(e.dst_type, e.dst_id),
            }
            for e in edges
        ]
        return page(
            request,
            "run.html",
            run=found,
            experiment=store.get_experiment(found.experiment_id),
            charts=charts,
            log_scale=log_scale,
            weight=weight,
            datasets=store.get_dataset_inputs(run_id),
            artifacts=artifacts,
            packages=_model_packages(store, blobs, run_id, by_path),
            lineage=lineage,
        )

    @router.get("/runs/{run_id}/raw/{path:path}")
    def raw(request: Request, run_id: str, path: str, download: int = 0) -> Response:
        """An artifact's bytes in an opaque origin: ``Content-Security-Policy: sandbox`` means user HTML
        shown in the run page's ``<iframe sandbox="">`` (or opened directly) never runs as the UI."""
        ref = _store(request).get_artifact("run", run_id, path)
        media = mimetypes.guess_type(path)[0] or "application/octet-stream"
        headers = {
            "Content-Security-Policy": "sandbox",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        }
        if download:
            filename = path.rpartition("/")[2].replace('"', "")
            headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return Response(_blobs(request).get_bytes(ref.digest), media_type=media, headers=headers)

    @router.get("/runs/{run_id}/metric.csv")
    def metric_csv(request: Request, run_id: str, key: str) -> Response:
        """Every point of one metric (the chart draws at most MAX_POINTS of them), as CSV."""
        history = _store(request).list_metric_history(run_id, key)
        lines = ["step,value,timestamp_ms", *(f"{p.step},{p.value!r},{p.timestamp}" for p in history)]
        filename = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
        headers = {"Content-Disposition": f'attachment; filename="{run_id}-{filename}.csv"'}
        return Response("\n".join(lines) + "\n", media_type="text/csv", headers=headers)

    @router.get("/compare")
    def compare(request: Request) -> Response:
        ids = list(dict.fromkeys(_values(request, "runs")))
        if not 2 <= len(ids) <= MAX_COMPARE:
            raise InvalidInput(f"pick 2 to {MAX_COMPARE} runs to compare, got {len(ids)}")
        store = _store(request)
        chosen = _runs_by_id(store, ids)
        metric_keys = sorted({k for r in chosen for k in r.metrics})
        metric = request.query_params.get("metric") or (metric_keys[0] if metric_keys else "")
        log_scale, weight = _chart_options(request)
        series: dict[str, list[tuple[int, float]]] = {}
        legend: list[dict[str, Any]] = []
        for r in chosen:
            if metric in r.metrics:
                history = _history(store, r.id, metric)
                label = f"{r.name} ({r.id[:8]})"
                series[label] = downsample(smooth(history, weight), COMPARE_POINTS)
                csv = f"/runs/{quote(r.id)}/metric.csv?" + urlencode({"key": metric})
                legend.append({"name": label, "steps": len(history), "drawn": len(series[label]), "csv": csv})
        param_keys = sorted({k for r in chosen for k in r.params})
        differing = [k for k in param_keys if len({r.params.get(k) for r in chosen}) > 1]
        rows: dict[str, list[float | str | None]] = {}
        for r in chosen:
            row: list[float | str | None] = [_number_or_text(r.params.get(k)) for k in differing]
            rows[f"{r.name} ({r.id[:8]})"] = [*row, r.metrics.get(metric)]
        return page(
            request,
            "compare.html",
            runs=chosen,
            ids=",".join(ids),
            metric=metric,
            metric_keys=metric_keys,
            log_scale=log_scale,
            weight=weight,
            curves=steps_svg(series, log_scale=log_scale, label=metric, width=760, height=280)
            if series
            else None,
            legend=legend,
            thinned=any(item["drawn"] < item["steps"] for item in legend),
            compare_points=COMPARE_POINTS,
            parallel=parallel_svg([*differing, metric], rows) if metric else None,
            differing=differing,
        )

    return router


def _number_or_text(value: str | None) -> float | str | None:
    """A param value as a number when it reads as one (axes place numbers by value).

    >>> _number_or_text("0.5"), _number_or_text("l2"), _number_or_text(None)
    (0.5, 'l2', None)
    """
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value
