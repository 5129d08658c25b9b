"""Pipeline runs, step runs and step inputs/outputs in SQL.

Step runs are tracking runs too (nested under the pipeline's run), so a step's metrics, params and
output artifacts show up in ``loopwright runs show``. Each state change of a step is one
transaction, which keeps the per-step overhead of the embedded SQLite store to a few milliseconds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopwright.errors import Conflict, NotFound
from loopwright.store.entities import (
    CacheHit,
    DatasetInput,
    PipelineRun,
    PipelineStatus,
    StepIO,
    StepRun,
    ms_to_datetime,
    now_ms,
)
from loopwright.store.sql.base import SqlBase, unique_prefix_row
from loopwright.store.sql.tables import (
    artifacts,
    dataset_inputs,
    experiments,
    latest_metrics,
    lineage_edges,
    metrics,
    pipeline_runs,
    run_tags,
    runs,
    step_io,
    step_runs,
)
from loopwright.store.sql.tables import params as params_table
from loopwright.store.sql.tracking import dataset_input_rows

_STEP_COLUMNS = [c for c in step_runs.c]


def _new_id() -> str:
    return uuid.uuid4().hex


class PipelinesSql(SqlBase):
    """Pipeline half of :class:`~loopwright.store.sql.SqlStore`."""

    def start_pipeline_run(
        self,
        experiment_id: str,
        pipeline: str,
        nodes: Sequence[tuple[str, str, Sequence[str]]],
        params: Mapping[str, Any],
        executor: str,
        cache: bool = True,
        ref: str | None = None,
        parent_id: str | None = None,
        resumed_from: str | None = None,
    ) -> PipelineRun:
        run_id = _new_id()
        start = now_ms()
        tags = {"loopwright.pipeline": pipeline, "loopwright.executor": executor}
        if resumed_from:
            tags["loopwright.resumed_from"] = resumed_from
        with self._write() as conn:
            lifecycle = conn.execute(
                sa.select(experiments.c.lifecycle).where(experiments.c.id == experiment_id)
            ).scalar()
            if lifecycle != "active":
                raise NotFound(f"experiment {experiment_id!r} not found or deleted")
            self._insert_run(conn, run_id, experiment_id, pipeline, parent_id, start, tags)
            logged = {k: _param_text(v) for k, v in params.items()}
            if logged:
                conn.execute(
                    params_table.insert(),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in logged.items()],
                )
            conn.execute(
                pipeline_runs.insert().values(
                    id=run_id,
                    pipeline=pipeline,
                    ref=ref,
                    status="running",
                    executor=executor,
                    params_json=json.dumps(dict(params), default=_json_fallback, sort_keys=True),
                    cache=cache,
                    resumed_from=resumed_from,
                    start_ms=start,
                )
            )
            conn.execute(
                step_runs.insert(),
                [
                    {
                        "id": _new_id(),
                        "pipeline_run_id": run_id,
                        "node": node,
                        "step": step,
                        "position": position,
                        "upstream_json": json.dumps(list(upstream)),
                        "status": "pending",
                        "cache_hit": False,
                        "attempts": 0,
                    }
                    for position, (node, step, upstream) in enumerate(nodes)
                ],
            )
        return self.get_pipeline_run(run_id)

    def _insert_run(
        self,
        conn: Connection,
        run_id: str,
        experiment_id: str,
        name: str,
        parent_id: str | None,
        start_ms: int,
        tags: Mapping[str, str],
        end_ms: int | None = None,
    ) -> None:
        conn.execute(
            runs.insert().values(
                id=run_id,
                experiment_id=experiment_id,
                name=name[:256],
                status="running" if end_ms is None else "finished",
                start_ms=start_ms,
                end_ms=end_ms,
                parent_id=parent_id,
            )
        )
        if tags:
            conn.execute(
                run_tags.insert(), [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
            )

    def start_step_run(
        self, step_run_id: str, cache_key: str, inputs: Sequence[StepIO], start_ms: int | None = None
    ) -> None:
        with self._write() as conn:
            result = conn.execute(
                step_runs.update()
                .where(step_runs.c.id == step_run_id, step_runs.c.status == "pending")
                .values(status="running", cache_key=cache_key, start_ms=start_ms or now_ms())
            )
            if result.rowcount == 0:
                raise Conflict(f"step run {step_run_id!r} does not exist or is not pending")
            self._insert_io(conn, step_run_id, inputs)

    def finish_step_run(
        self,
        step_run_id: str,
        status: Literal["done", "failed"],
        attempts: int,
        run_id: str | None = None,
        params: Mapping[str, str] | None = None,
        outputs: Sequence[StepIO] = (),
        datasets: Sequence[DatasetInput] = (),
        error: str | None = None,
        logs_tail: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> None:
        end = end_ms or now_ms()
        values: dict[str, Any] = {
            "status": status,
            "attempts": attempts,
            "end_ms": end,
            "error": error,
            "logs_tail": logs_tail,
            "run_id": run_id,
        }
        if start_ms is not None:
            values["start_ms"] = start_ms
        with self._write() as conn:
            pipeline_run_id = conn.execute(
                sa.select(step_runs.c.pipeline_run_id).where(step_runs.c.id == step_run_id)
            ).scalar()
            if pipeline_run_id is None:
                raise NotFound(f"step run {step_run_id!r} not found")
            conn.execute(step_runs.update().where(step_runs.c.id == step_run_id).values(**values))
            self._insert_io(conn, step_run_id, outputs)
            if run_id is None:
                return
            inputs = conn.execute(
                sa.select(step_io.c.kind, step_io.c.digest).where(
                    step_io.c.step_run_id == step_run_id, step_io.c.direction == "in"
                )
            ).all()
            edges = _step_edges(pipeline_run_id, run_id, inputs)
            edges += [
                ("run", run_id, "artifact", o.digest, "produced") for o in outputs if o.kind == "artifact"
            ]
            self._add_edges(conn, edges, end)
            if params:
                conn.execute(
                    params_table.insert(),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in params.items()],
                )
            self._record_outputs(conn, run_id, outputs, end)
            self._insert_datasets(conn, run_id, datasets)
            # the worker ends its run; close it here if the worker died first
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id, runs.c.status == "running")
                .values(status="finished" if status == "done" else "failed", end_ms=end, error=error)
            )

    def record_cache_hits(self, hits: Sequence[CacheHit]) -> None:
        if not hits:
            return
        now = now_ms()
        with self._write() as conn:
            contexts = {
                row.id: row
                for row in conn.execute(
                    sa.select(
                        step_runs.c.id,
                        step_runs.c.node,
                        step_runs.c.step,
                        step_runs.c.pipeline_run_id,
                        runs.c.experiment_id,
                    )
                    .join(runs, runs.c.id == step_runs.c.pipeline_run_id)
                    .where(step_runs.c.id.in_([h.step_run_id for h in hits]))
                )
            }
            run_rows, tag_rows, param_rows, step_rows, io_rows, artifact_rows, dataset_rows = (
                [],
                [],
                [],
                [],
                [],
                [],
                [],
            )
            copies: list[tuple[str, str]] = []
            edges: list[tuple[str, str, str, str, str]] = []
            packages: list[tuple[str, str, str]] = []
            for hit in hits:
                ctx = contexts.get(hit.step_run_id)
                if ctx is None:
                    raise NotFound(f"step run {hit.step_run_id!r} not found")
                run_id = _new_id()
                run_rows.append(
                    {
                        "id": run_id,
                        "experiment_id": ctx.experiment_id,
                        "name": ctx.node[:256],
                        "status": "finished",
                        "start_ms": now,
                        "end_ms": now,
                        "parent_id": ctx.pipeline_run_id,
                    }
                )
                tags = {
                    "loopwright.pipeline_run": ctx.pipeline_run_id,
                    "loopwright.step": ctx.step,
                    "loopwright.step_run": hit.step_run_id,
                    "loopwright.cached_from": hit.source.id,
                }
                tag_rows += [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
                param_rows += [{"run_id": run_id, "key": k, "value": v} for k, v in hit.params.items()]
                step_rows.append(
                    {
                        "b_id": hit.step_run_id,
                        "b_run_id": run_id,
                        "b_key": hit.cache_key,
                        "b_source": hit.source.id,
                        "b_now": now,
                    }
                )
                io_rows += _io_rows(hit.step_run_id, [*hit.inputs, *hit.source.outputs])
                artifact_rows += _artifact_rows(run_id, hit.source.outputs, now)
                dataset_rows += dataset_input_rows(run_id, hit.datasets)
                edges += _step_edges(ctx.pipeline_run_id, run_id, [(i.kind, i.digest) for i in hit.inputs])
                if hit.source.run_id is not None:
                    copies.append((hit.source.run_id, run_id))
                    packages += [
                        (hit.source.run_id, run_id, o.path)
                        for o in hit.source.outputs
                        if o.materializer == "model" and o.path
                    ]
                    edges.append(("run", hit.source.run_id, "run", run_id, "reused_by"))
            conn.execute(runs.insert(), run_rows)
            conn.execute(run_tags.insert(), tag_rows)
            if param_rows:
                conn.execute(params_table.insert(), param_rows)
            conn.execute(_CACHE_HIT_UPDATE, step_rows)
            for rows, table in (
                (io_rows, step_io),
                (artifact_rows, artifacts),
                (dataset_rows, dataset_inputs),
            ):
                if rows:
                    conn.execute(table.insert(), rows)
            self._copy_latest(conn, copies)
            self._copy_packages(conn, packages, now)
            self._add_edges(conn, edges, now)

    def _add_edges(
        self, conn: Connection, edges: Sequence[tuple[str, str, str, str, str]], when: int
    ) -> None:
        """Provenance for ``lw.get_lineage``, in the registry's ``lineage_edges`` (duplicates ignored)."""
        if edges:
            rows = [
                {"src_type": a, "src_id": b, "dst_type": c, "dst_id": d, "relation": r, "created_ms": when}
                for a, b, c, d, r in dict.fromkeys(edges)
            ]
            conn.execute(self._insert(lineage_edges).on_conflict_do_nothing(), rows)

    def _copy_packages(self, conn: Connection, packages: Sequence[tuple[str, str, str]], when: int) -> None:
        """A cache hit's run gets the artifact rows of the model packages it reuses (same blobs), so
        ``runs:/<its run>/outputs/<node>`` loads and registers like the original."""
        for source, target, prefix in packages:
            rows = conn.execute(
                sa.select(artifacts.c.path, artifacts.c.digest, artifacts.c.size).where(
                    artifacts.c.owner_type == "run",
                    artifacts.c.owner_id == source,
                    artifacts.c.path.startswith(prefix + "/", autoescape=True),
                )
            ).all()
            if rows:
                conn.execute(
                    artifacts.insert(),
                    [
                        {
                            "owner_type": "run",
                            "owner_id": target,
                            "path": p,
                            "digest": d,
                            "size": z,
                            "created_ms": when,
                        }
                        for p, d, z in rows
                    ],
                )

    def _copy_latest(self, conn: Connection, copies: Sequence[tuple[str, str]]) -> None:
        """Each ``(source run, target run)``: the source's latest metrics become the target's."""
        if not copies:
            return
        by_source: dict[str, list[str]] = {}
        for source, target in copies:
            by_source.setdefault(source, []).append(target)
        values = [
            {"run_id": target, "key": r.key, "value": r.value, "step": r.step, "timestamp_ms": r.timestamp_ms}
            for r in conn.execute(
                sa.select(latest_metrics).where(latest_metrics.c.run_id.in_(list(by_source)))
            )
            for target in by_source[r.run_id]
        ]
        if values:
            conn.execute(metrics.insert(), values)
            conn.execute(latest_metrics.insert(), values)

    def skip_step_runs(self, step_run_ids: Sequence[str], reason: str) -> None:
        if not step_run_ids:
            return
        with self._write() as conn:
            conn.execute(
                step_runs.update()
                .where(step_runs.c.id.in_(list(step_run_ids)), step_runs.c.status == "pending")
                .values(status="skipped", error=reason)
            )

    def finish_pipeline_run(
        self, pipeline_run_id: str, status: PipelineStatus, error: str | None = None
    ) -> None:
        end = now_ms()
        with self._write() as conn:
            result = conn.execute(
                pipeline_runs.update()
                .where(pipeline_runs.c.id == pipeline_run_id)
                .values(status=status, end_ms=end, error=error)
            )
            if result.rowcount == 0:
                raise NotFound(f"pipeline run {pipeline_run_id!r} not found")
            step_run_ids = [
                r[0]
                for r in conn.execute(
                    sa.select(step_runs.c.run_id)
                    .where(step_runs.c.pipeline_run_id == pipeline_run_id, step_runs.c.run_id.is_not(None))
                    .order_by(step_runs.c.position)
                )
            ]
            self._copy_metrics(conn, step_run_ids, pipeline_run_id)
            conn.execute(
                runs.update()
                .where(runs.c.id == pipeline_run_id)
                .values(status="finished" if status == "finished" else "failed", end_ms=end, error=error)
            )

    def _copy_metrics(self, conn: Connection, source_run_ids: Sequence[str], target_run_id: str) -> None:
        """Latest metrics of ``source_run_ids`` (in order: later wins) become metrics of the target."""
        if not source_run_ids:
            return
        order = {run_id: i for i, run_id in enumerate(source_run_ids)}
        latest: dict[str, Any] = {}
        rows = conn.execute(
            sa.select(latest_metrics).where(latest_metrics.c.run_id.in_(list(source_run_ids)))
        ).all()
        for row in sorted(rows, key=lambda r: order[r.run_id]):
            latest[row.key] = row
        if not latest:
            return
        conn.execute(latest_metrics.delete().where(latest_metrics.c.run_id == target_run_id))
        values = [
            {
                "run_id": target_run_id,
                "key": r.key,
                "value": r.value,
                "step": r.step,
                "timestamp_ms": r.timestamp_ms,
            }
            for r in latest.values()
        ]
        conn.execute(metrics.insert(), values)
        conn.execute(latest_metrics.insert(), values)

    def _insert_io(self, conn: Connection, step_run_id: str, items: Sequence[StepIO]) -> None:
        if items:
            conn.execute(step_io.insert(), _io_rows(step_run_id, items))

    def _record_outputs(self, conn: Connection, run_id: str, outputs: Sequence[StepIO], when: int) -> None:
        rows = _artifact_rows(run_id, outputs, when)
        if rows:
            conn.execute(artifacts.insert(), rows)

    def _insert_datasets(self, conn: Connection, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        if datasets:
            conn.execute(dataset_inputs.insert(), dataset_input_rows(run_id, datasets))

    # -- reads ---------------------------------------------------------------------------------
    def get_pipeline_run(self, pipeline_run_id: str) -> PipelineRun:
        with self._read() as conn:
            row = conn.execute(sa.select(pipeline_runs).where(pipeline_runs.c.id == pipeline_run_id)).first()
            if row is None:
                row = unique_prefix_row(conn, pipeline_runs, pipeline_run_id, "pipeline run")
            steps = self._steps(conn, step_runs.c.pipeline_run_id == row.id, with_io=True)
        return _pipeline_run(row, steps)

    def list_pipeline_runs(
        self, pipeline: str | None = None, max_results: int = 50, offset: int = 0
    ) -> list[PipelineRun]:
        query = sa.select(pipeline_runs).order_by(pipeline_runs.c.start_ms.desc(), pipeline_runs.c.id)
        if pipeline is not None:
            query = query.where(pipeline_runs.c.pipeline == pipeline)
        with self._read() as conn:
            rows = conn.execute(query.limit(max_results).offset(offset)).all()
            ids = [r.id for r in rows]
            steps = self._steps(conn, step_runs.c.pipeline_run_id.in_(ids), with_io=False) if ids else []
        by_run: dict[str, list[StepRun]] = {}
        for s in steps:
            by_run.setdefault(s.pipeline_run_id, []).append(s)
        return [_pipeline_run(r, by_run.get(r.id, [])) for r in rows]

    def get_step_run(self, step_run_id: str) -> StepRun:
        with self._read() as conn:
            found = self._steps(conn, step_runs.c.id == step_run_id, with_io=True)
        if not found:
            raise NotFound(f"step run {step_run_id!r} not found")
        return found[0]

    def find_cached_step(self, cache_key: str) -> StepRun | None:
        with self._read() as conn:
            row = conn.execute(_CACHE_LOOKUP, {"b_key": cache_key}).first()
            if row is None:
                return None
            return self._hydrate_steps(conn, [row], with_io=True)[0]

    def find_step_runs_by_output(self, digest: str) -> list[StepRun]:
        with self._read() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    sa.select(step_io.c.step_run_id)
                    .where(step_io.c.digest == digest, step_io.c.direction == "out")
                    .distinct()
                )
            ]
            return self._steps(conn, step_runs.c.id.in_(ids), with_io=True) if ids else []

    def _steps(self, conn: Connection, where: Any, with_io: bool) -> list[StepRun]:
        rows = conn.execute(
            sa.select(*_STEP_COLUMNS).where(where).order_by(step_runs.c.pipeline_run_id, step_runs.c.position)
        ).all()
        return self._hydrate_steps(conn, rows, with_io)

    def _hydrate_steps(self, conn: Connection, rows: Sequence[Any], with_io: bool) -> list[StepRun]:
        io: dict[str, list[StepIO]] = {}
        if with_io and rows:
            for r in conn.execute(_IO_OF_STEPS, {"b_ids": [row.id for row in rows]}):
                io.setdefault(r.step_run_id, []).append(
                    StepIO(
                        direction=r.direction,
                        name=r.name,
                        kind=r.kind,
                        digest=r.digest,
                        size=r.size,
                        materializer=r.materializer,
                        type_name=r.type_name,
                        path=r.path,
                        dataset_digest=r.dataset_digest,
                        n_rows=r.num_rows,
                    )
                )
        out = []
        for row in rows:
            items = io.get(row.id, [])
            out.append(
                StepRun(
                    id=row.id,
                    pipeline_run_id=row.pipeline_run_id,
                    node=row.node,
                    step=row.step,
                    position=row.position,
                    upstream=json.loads(row.upstream_json),
                    status=row.status,
                    run_id=row.run_id,
                    cache_key=row.cache_key,
                    cache_hit=bool(row.cache_hit),
                    cached_from=row.cached_from,
                    attempts=row.attempts,
                    start_time=ms_to_datetime(row.start_ms),
                    end_time=ms_to_datetime(row.end_ms),
                    error=row.error,
                    logs_tail=row.logs_tail,
                    inputs=[i for i in items if i.direction == "in"],
                    outputs=[i for i in items if i.direction == "out"],
                )
            )
        return out


# built once: constructing SQLAlchemy statements costs more than running them on SQLite
_CACHE_LOOKUP = (
    sa.select(*_STEP_COLUMNS)
    .where(step_runs.c.cache_key == sa.bindparam("b_key"), step_runs.c.status.in_(("done", "cached")))
    .order_by(step_runs.c.end_ms.desc())
    .limit(1)
)
_IO_OF_STEPS = (
    sa.select(step_io)
    .where(step_io.c.step_run_id.in_(sa.bindparam("b_ids", expanding=True)))
    .order_by(step_io.c.id)
)

_CACHE_HIT_UPDATE = (
    step_runs.update()
    .where(step_runs.c.id == sa.bindparam("b_id"))
    .values(
        status="cached",
        run_id=sa.bindparam("b_run_id"),
        cache_key=sa.bindparam("b_key"),
        cache_hit=True,
        cached_from=sa.bindparam("b_source"),
        start_ms=sa.bindparam("b_now"),
        end_ms=sa.bindparam("b_now"),
    )
)


def _step_edges(
    pipeline_run_id: str, run_id: str, inputs: Sequence[tuple[str, str]]
) -> list[tuple[str, str, str, str, str]]:
    """pipeline_run ─contains→ run (the step's), and each input artifact or file ─input_of→ run."""
    edges = [("pipeline_run", pipeline_run_id, "run", run_id, "contains")]
    edges += [
        (kind, digest, "run", run_id, "input_of") for kind, digest in inputs if kind in ("artifact", "file")
    ]
    return edges


def _io_rows(step_run_id: str, items: Sequence[StepIO]) -> list[dict[str, Any]]:
    return [
        {
            "step_run_id": step_run_id,
            "direction": i.direction,
            "name": i.name,
            "kind": i.kind,
            "digest": i.digest,
            "size": i.size,
            "materializer": i.materializer,
            "type_name": i.type_name,
            "path": i.path,
            "dataset_digest": i.dataset_digest,
            "num_rows": i.n_rows,
        }
        for i in items
    ]


def _artifact_rows(run_id: str, outputs: Sequence[StepIO], when: int) -> list[dict[str, Any]]:
    # a model package's files are recorded by log_model itself (path is the package prefix)
    return [
        {
            "owner_type": "run",
            "owner_id": run_id,
            "path": o.path,
            "digest": o.digest,
            "size": o.size or 0,
            "created_ms": when,
        }
        for o in outputs
        if o.kind == "artifact" and o.path and o.materializer != "model"
    ]


def _pipeline_run(row: Any, steps: list[StepRun]) -> PipelineRun:
    return PipelineRun(
        id=row.id,
        pipeline=row.pipeline,
        status=row.status,
        executor=row.executor,
        params=json.loads(row.params_json),
        start_time=ms_to_datetime(row.start_ms),  # type: ignore[arg-type]
        cache=bool(row.cache),
        ref=row.ref,
        end_time=ms_to_datetime(row.end_ms),
        error=row.error,
        resumed_from=row.resumed_from,
        steps=steps,
    )


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=_json_fallback)
    return text[:6000]


def _json_fallback(value: Any) -> str:
    return f"<{type(value).__name__}>"


__all__ = ["PipelinesSql"]
