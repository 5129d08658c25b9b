"""Hyperparameter search over a pipeline's parameters: ``lw.tune(churn, space=..., metric="auc")``.

Why Optuna's samplers and not Ray Tune: a trial here *is* a pipeline run, so it must go through
our coordinator to get the content-addressed cache (with ``space={"C": …}`` the ``load`` and
``split`` steps run once and every later trial reuses them), our tracking (each trial a child
run) and our executors (``executor="ray"`` already spreads the steps over the cluster). Optuna's
ask-and-tell interface lets us own that loop and only ask "which parameters next?"; its TPE
sampler is strong for small budgets (tens of trials) and needs no service. Ray Tune would own the
loop itself, run each trial as an opaque function in an actor and keep its own experiment state
next to ours.

Examples
--------
>>> loguniform(1e-3, 10)
LogUniform(low=0.001, high=10)
>>> choice(["l1", "l2"])
Choice(options=('l1', 'l2'))
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from loopwright.errors import InvalidInput, InvalidParameter
from loopwright.pipelines.executors import get_executor
from loopwright.pipelines.params import check_value
from loopwright.pipelines.pipeline import Pipeline
from loopwright.pipelines.results import PipelineFailed
from loopwright.pipelines.runner import run_pipeline
from loopwright.store.entities import Run
from loopwright.tracking import fluent
from loopwright.tracking.client import get_client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float


@dataclass(frozen=True)
class LogUniform:
    low: float
    high: float


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False


@dataclass(frozen=True)
class Choice:
    options: tuple[Any, ...]


Distribution = Uniform | LogUniform | IntRange | Choice


def uniform(low: float, high: float) -> Uniform:
    """A float drawn uniformly from ``[low, high]``.

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.uniform(0.0, 0.5)
    Uniform(low=0.0, high=0.5)
    """
    _check_range(low, high)
    return Uniform(low, high)


def loguniform(low: float, high: float) -> LogUniform:
    """A float whose logarithm is uniform on ``[log low, log high]`` (``low > 0``): C, learning rates.

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.loguniform(1e-3, 10)
    LogUniform(low=0.001, high=10)
    """
    _check_range(low, high)
    if low <= 0:
        raise InvalidInput(f"loguniform needs low > 0, got {low}")
    return LogUniform(low, high)


def randint(low: int, high: int, log: bool = False) -> IntRange:
    """An integer in ``[low, high]`` (both included).

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.randint(2, 8)
    IntRange(low=2, high=8, log=False)
    """
    _check_range(low, high)
    return IntRange(int(low), int(high), log)


def choice(options: Sequence[Any]) -> Choice:
    """One of ``options`` (str, int, float, bool or None).

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.choice(["l1", "l2"])
    Choice(options=('l1', 'l2'))
    """
    if not options:
        raise InvalidInput("choice needs at least one option")
    return Choice(tuple(options))


def _check_range(low: float, high: float) -> None:
    if not (isinstance(low, (int, float)) and isinstance(high, (int, float))) or not low < high:
        raise InvalidInput(f"a range needs numbers low < high, got {low!r}, {high!r}")


@dataclass(frozen=True)
class Trial:
    """One evaluated point: its parameters, the metric value (``None`` if it failed) and its run."""

    number: int
    params: dict[str, Any]
    value: float | None
    run_id: str
    status: str


@dataclass
class TuneResult:
    """What :func:`tune` found: ``best_params``, ``best_value``, ``best_run_id`` and every trial.

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> @lw.step
    ... def score(x: int) -> int:
    ...     lw.log_metric("gain", x)
    ...     return x
    >>> @lw.pipeline
    ... def linear(x: int = 0):
    ...     return score(x)
    >>> result = lw.tune(linear, space={"x": lw.choice([1, 3])}, metric="gain", trials=3)
    >>> result.metric, result.mode, result.best_value, result.best_params
    ('gain', 'max', 3.0, {'x': 3})
    >>> result.best_run.metrics["gain"]
    3.0
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """

    run_id: str
    metric: str
    mode: str
    best_params: dict[str, Any]
    best_value: float
    best_run_id: str
    trials: list[Trial] = field(default_factory=list)

    @property
    def best_run(self) -> Run:
        """The best trial's pipeline run as a tracking :class:`Run`."""
        return get_client().get_run(self.best_run_id)


def tune(
    pipeline: Pipeline,
    space: Mapping[str, Distribution],
    metric: str,
    mode: Literal["max", "min"] = "max",
    trials: int = 20,
    executor: str = "local",
    params: Mapping[str, Any] | None = None,
    parallel: int = 1,
    seed: int | None = 0,
    experiment: str | None = None,
    address: str | None = None,
    **fixed: Any,
) -> TuneResult:
    """Search ``space`` for the pipeline parameters that optimise ``metric``.

    Each trial runs the pipeline (cached steps reused) as a child run of one ``tune`` run; the
    trial's value is ``metric`` as the pipeline's steps logged it (``lw.log_metric`` in any step
    rolls up to the pipeline run). Trials are proposed by Optuna's TPE sampler.

    Parameters
    ----------
    pipeline:
        A :func:`~loopwright.pipeline`.
    space:
        Parameter name → :func:`loguniform`, :func:`uniform`, :func:`randint` or :func:`choice`.
    metric, mode:
        What to optimise and in which direction.
    trials:
        How many pipeline runs.
    executor, address:
        Where each trial's steps run (see :meth:`Pipeline.run`).
    params, **fixed:
        Fixed pipeline parameters for every trial, as a mapping or as keywords
        (``lw.tune(churn, …, path="data.csv")``); a parameter named like one of ``tune``'s own
        options (``seed``, ``parallel``, …) goes in ``params``.
    parallel:
        Trials in flight at once (threads in this process; worthwhile with ``executor="ray"``).
    seed:
        Sampler seed, for a reproducible search; ``None`` for a random one.

    Returns
    -------
    TuneResult

    Examples
    --------
    ``lw.tune(churn, space={"C": lw.loguniform(1e-3, 10)}, metric="auc", mode="max", trials=20)``

    Examples
    --------
    >>> import loopwright as lw, tempfile, os
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> @lw.step
    ... def score(x: float) -> float:
    ...     lw.log_metric("loss", (x - 2.0) ** 2)
    ...     return x
    >>> @lw.pipeline
    ... def quadratic(x: float = 0.0):
    ...     return score(x)
    >>> best = lw.tune(quadratic, space={"x": lw.uniform(0.0, 4.0)}, metric="loss", mode="min", trials=4)
    >>> len(best.trials), best.best_value == min(t.value for t in best.trials)
    (4, True)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    import optuna

    if not isinstance(pipeline, Pipeline):
        raise InvalidInput(f"tune needs a @pipeline, got {pipeline!r}")
    if mode not in ("max", "min"):
        raise InvalidInput(f"mode must be 'max' or 'min', got {mode!r}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise InvalidInput(f"trials must be a positive integer, got {trials!r}")
    if not space:
        raise InvalidInput("tune needs a non-empty space")
    fixed = {**(params or {}), **fixed}
    unknown = [k for k in (*space, *fixed) if k not in pipeline.parameters]
    if unknown:
        raise InvalidParameter(
            f"pipeline {pipeline.name!r} has no parameters {unknown}; it has {pipeline.parameters}"
        )
    both = [k for k in space if k in fixed]
    if both:
        raise InvalidParameter(f"parameters {both} are both searched (space) and fixed; give each once")
    missing = [
        name
        for name, param in pipeline.signature.parameters.items()
        if param.default is param.empty and name not in space and name not in fixed
    ]
    if missing:
        raise InvalidParameter(
            f"pipeline {pipeline.name!r} needs parameters {missing}: pass them to tune, e.g. "
            f"lw.tune({pipeline.name}, …, {missing[0]}=…)"
        )
    for name, value in fixed.items():
        if name in pipeline.hints:
            check_value(pipeline.name, name, value, pipeline.hints[name])
    get_executor(executor, address).close()  # an unknown executor fails here, before any trial
    distributions = {name: _optuna(name, dist) for name, dist in space.items()}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if mode == "max" else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    client = get_client()
    experiment_name = experiment or fluent.chosen_experiment() or pipeline.name
    parent_id = fluent.active_run().id if fluent.active_run() is not None else None  # type: ignore[union-attr]
    parent = client.create_run(
        experiment_name,
        name=f"tune-{pipeline.name}",
        tags={
            "loopwright.tune": pipeline.name,
            "loopwright.tune.metric": metric,
            "loopwright.tune.mode": mode,
        },
        parent_id=parent_id,
    )
    client.log_params(parent.id, {"trials": trials, "space": repr(dict(space))})
    done: list[Trial] = []

    def run_trial(trial: Any) -> Trial:
        values = dict(trial.params)
        try:
            result = run_pipeline(
                pipeline,
                {**fixed, **values},
                executor=executor,
                address=address,
                experiment=experiment_name,
                parent_id=parent.id,
            )
        except PipelineFailed as exc:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return Trial(trial.number, values, None, exc.run_id, "failed")
        value = client.get_run(result.run_id).metrics.get(metric)
        if value is None or math.isnan(value):
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise InvalidInput(
                f"trial run {result.run_id} logged no metric {metric!r}: call lw.log_metric({metric!r}, …) in a step"
            )
        study.tell(trial, value)
        return Trial(trial.number, values, float(value), result.run_id, "finished")

    try:
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            remaining = trials
            while remaining:
                batch = [study.ask(distributions) for _ in range(min(parallel, remaining))]
                remaining -= len(batch)
                done.extend(pool.map(run_trial, batch))
        scored = [t for t in done if t.value is not None]
        if not scored:
            raise InvalidInput(f"every trial of pipeline {pipeline.name!r} failed; see run {parent.id}")
        best = (max if mode == "max" else min)(scored, key=lambda t: t.value)  # type: ignore[arg-type,return-value]
        client.log_metric(parent.id, f"best_{metric}", best.value)
        client.log_params(parent.id, {f"best.{k}": v for k, v in best.params.items()})
        client.set_tag(parent.id, "loopwright.tune.best_run", best.run_id)
    except BaseException as exc:
        client.end_run(parent.id, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    client.end_run(parent.id)
    return TuneResult(parent.id, metric, mode, best.params, float(best.value), best.run_id, done)  # type: ignore[arg-type]


def _optuna(name: str, dist: Distribution) -> Any:
    import optuna.distributions as d

    if isinstance(dist, LogUniform):
        return d.FloatDistribution(dist.low, dist.high, log=True)
    if isinstance(dist, Uniform):
        return d.FloatDistribution(dist.low, dist.high)
    if isinstance(dist, IntRange):
        return d.IntDistribution(dist.low, dist.high, log=dist.log)
    if isinstance(dist, Choice):
        return d.CategoricalDistribution(dist.options)
    raise InvalidInput(
        f"space[{name!r}] must be lw.loguniform/uniform/randint/choice, got {type(dist).__name__}"
    )


__all__ = ["TuneResult", "choice", "loguniform", "randint", "tune", "uniform"]
