"""What a pipeline run gives back: :class:`PipelineResult` (outputs by step name) and :class:`PipelineFailed`."""

from __future__ import annotations

from typing import Any

from loopwright.errors import Conflict, InvalidInput, LoopwrightError
from loopwright.pipelines.tasks import Spec, decode
from loopwright.pipelines.values import MODEL, load_value
from loopwright.store.entities import PipelineRun, StepRun
from loopwright.tracking.client import Client, get_client


class PipelineResult:
    """A finished (or failed) pipeline run; ``result["train"]`` loads that step's output.

    Attributes
    ----------
    run_id:
        The pipeline run (also a tracking run: ``lw.get_run(result.run_id)``).
    run:
        The :class:`~loopwright.store.entities.PipelineRun` record with every step run.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> @lw.step
    ... def inc(x: int) -> int:
    ...     return x + 1
    >>> @lw.pipeline
    ... def count(x: int = 0):
    ...     return inc(inc(x))
    >>> result = count.run(x=1)
    >>> result.status, result.output, result["inc"], list(result.steps)
    ('finished', 3, 2, ['inc', 'inc_2'])
    >>> count.run(x=1).cache_hits  # nothing changed: every step is a cache hit
    ['inc', 'inc_2']
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """

    def __init__(self, run: PipelineRun, client: Client | None = None, output_spec: Spec | None = None):
        self.run = run
        self._client = client
        self._output_spec = output_spec
        self._values: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (
            f"PipelineResult(run_id={self.run_id!r}, pipeline={self.run.pipeline!r}, status={self.status!r})"
        )

    @property
    def run_id(self) -> str:
        return self.run.id

    @property
    def status(self) -> str:
        return self.run.status

    @property
    def steps(self) -> dict[str, StepRun]:
        """Step runs by node name, in DAG order."""
        return {s.node: s for s in self.run.steps}

    @property
    def cache_hits(self) -> list[str]:
        """Nodes whose outputs came from the cache (or, on resume, from the resumed run)."""
        return [s.node for s in self.run.steps if s.cache_hit]

    @property
    def executed(self) -> list[str]:
        """Nodes whose function actually ran in this run."""
        return [s.node for s in self.run.steps if s.status in ("done", "failed")]

    def digests(self, node: str) -> list[str]:
        """Blob digests of a node's outputs (one per tuple part)."""
        return [o.digest for o in self.run.step(node).outputs]

    def __getitem__(self, node: str) -> Any:
        if node not in self._values:
            step_run = self.run.step(node)
            if not step_run.outputs:
                raise Conflict(f"step {node!r} is {step_run.status}; it has no output")
            values = [self._load(o.digest, o.materializer or "json") for o in step_run.outputs]
            self._values[node] = (
                values[0] if len(values) == 1 and step_run.outputs[0].name == "output" else tuple(values)
            )
        return self._values[node]

    @property
    def output(self) -> Any:
        """What the pipeline function returned, with step outputs loaded (``None`` if nothing)."""
        if self._output_spec is None:
            return None
        return decode(self._output_spec, self._load)

    def model_uri(self, node: str) -> str:
        """``runs:/STEP_RUN/outputs/<node>``: the model package a step returned, for ``lw.register_model``."""
        step_run = self.run.step(node)
        packages = [o for o in step_run.outputs if o.materializer == MODEL]
        if not packages or step_run.run_id is None:
            kinds = (
                ", ".join(f"{o.name}: {o.type_name or o.materializer}" for o in step_run.outputs) or "none"
            )
            raise InvalidInput(f"step {node!r} did not return a model (its outputs: {kinds})")
        return f"runs:/{step_run.run_id}/{packages[0].path}"

    def _load(self, digest: str, materializer: str) -> Any:
        client = self._client or get_client()
        return load_value(digest, materializer, client.blobs, client)


class PipelineFailed(LoopwrightError):
    """A step failed after its retries; downstream steps were skipped.

    ``run_id`` is the failed pipeline run: pass it as ``resume=`` to rerun from the failure.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> @lw.step
    ... def fail(x: int) -> int:
    ...     raise ValueError("bad input")
    >>> @lw.pipeline
    ... def broken(x: int = 0):
    ...     return fail(x)
    >>> try:
    ...     broken.run()
    ... except lw.PipelineFailed as error:
    ...     error.step, error.result.status
    ('fail', 'failed')
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """

    def __init__(self, message: str, result: PipelineResult, step: str):
        super().__init__(message)
        self.result = result
        self.run_id = result.run_id
        self.step = step


def get_pipeline_run(run_id: str) -> PipelineResult:
    """A pipeline run by id, with its step runs; ``lw.get_pipeline_run(id)["train"]`` loads an output.

    Mirrors ``loopwright pipeline show RUN_ID``.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> @lw.step
    ... def inc(x: int) -> int:
    ...     return x + 1
    >>> @lw.pipeline
    ... def count(x: int = 0):
    ...     return inc(inc(x))
    >>> run_id = count.run(x=1).run_id
    >>> again = lw.get_pipeline_run(run_id[:8])  # a unique prefix will do
    >>> again.run_id == run_id, again.status, again["inc_2"]  # outputs load from the store
    (True, 'finished', 3)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    client = get_client()
    return PipelineResult(client.store.get_pipeline_run(run_id), client)


def list_pipeline_runs(pipeline: str | None = None, max_results: int = 50) -> list[PipelineRun]:
    """Pipeline runs, newest first (optionally of one pipeline); mirrors ``loopwright pipeline runs``.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> @lw.step
    ... def inc(x: int) -> int:
    ...     return x + 1
    >>> @lw.pipeline
    ... def count(x: int = 0):
    ...     return inc(inc(x))
    >>> _ = count.run(x=1); _ = count.run(x=2)
    >>> [r.status for r in lw.list_pipeline_runs("count")]
    ['finished', 'finished']
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    return get_client().store.list_pipeline_runs(pipeline, max_results)


__all__ = ["PipelineFailed", "PipelineResult", "get_pipeline_run", "list_pipeline_runs"]
