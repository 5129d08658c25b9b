"""Pipelines: ``@step`` functions composed by a ``@pipeline``, cached by content, tracked, run locally or on Ray.

See :mod:`loopwright.pipelines.pipeline` for an example and ``docs/DESIGN.md`` for the design.
"""

from loopwright.pipelines.kubeflow import compile_pipeline
from loopwright.pipelines.lineage import Lineage, get_pipeline_lineage
from loopwright.pipelines.materializers import Materializer, register_materializer, unregister_materializer
from loopwright.pipelines.pipeline import Pipeline, pipeline
from loopwright.pipelines.results import PipelineFailed, PipelineResult, get_pipeline_run, list_pipeline_runs
from loopwright.pipelines.runner import StepEvent
from loopwright.pipelines.steps import Step, step
from loopwright.pipelines.tuning import TuneResult, choice, loguniform, randint, tune, uniform

__all__ = [
    "Lineage",
    "Materializer",
    "Pipeline",
    "PipelineFailed",
    "PipelineResult",
    "Step",
    "StepEvent",
    "TuneResult",
    "choice",
    "compile_pipeline",
    "get_pipeline_lineage",
    "get_pipeline_run",
    "list_pipeline_runs",
    "loguniform",
    "pipeline",
    "randint",
    "register_materializer",
    "step",
    "tune",
    "uniform",
    "unregister_materializer",
]
