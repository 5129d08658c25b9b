"""Retraining: run the loop's pipeline and pick out the new model package and its training frame."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from loopwright.errors import InvalidInput, NotFound
from loopwright.loop.config import LoopConfig
from loopwright.pipelines.pipeline import Pipeline, load_pipeline
from loopwright.pipelines.results import PipelineResult
from loopwright.pipelines.values import MODEL
from loopwright.store.interface import Store
from loopwright.uris import parse_run_uri


@dataclass
class Retrained:
    """A finished retraining run: where its model package is, and the reference frame if asked for."""

    result: PipelineResult
    model_step: str
    model_uri: str
    manifest_digest: str
    reference: pd.DataFrame | None


def retrain(config: LoopConfig, store: Store) -> Retrained:
    """Run the pipeline with the config's params; raises ``PipelineFailed`` or ``InvalidInput``."""
    pipeline = config.pipeline if isinstance(config.pipeline, Pipeline) else load_pipeline(config.pipeline)
    result = pipeline.run(cache=config.cache, **config.params)
    step = config.model_step or _model_step(result)
    uri = result.model_uri(step)
    target = parse_run_uri(uri)
    assert target.run_id is not None and target.path is not None
    manifest = store.get_artifact("run", target.run_id, f"{target.path}/manifest.json")
    reference = None
    if config.reference_step is not None:
        if config.reference_step not in result.steps:
            raise NotFound(
                f"reference_step {config.reference_step!r} is not a step of pipeline "
                f"{result.run.pipeline!r} (steps: {', '.join(result.steps)})"
            )
        frame = result[config.reference_step]
        if not isinstance(frame, pd.DataFrame):
            raise InvalidInput(
                f"reference_step {config.reference_step!r} returned {type(frame).__name__}, not a DataFrame"
            )
        # the label is not a model input: the serving log never has it, so it cannot drift there
        reference = frame.drop(columns=[config.target], errors="ignore")
    return Retrained(result, step, uri, manifest.digest, reference)


def _model_step(result: PipelineResult) -> str:
    steps = [node for node, run in result.steps.items() if any(o.materializer == MODEL for o in run.outputs)]
    if len(steps) == 1:
        return steps[0]
    if not steps:
        raise InvalidInput(f"pipeline {result.run.pipeline!r} returned no model package from any step")
    raise InvalidInput(
        f"pipeline {result.run.pipeline!r} has several model steps ({', '.join(steps)}); "
        "say which one with model_step"
    )
