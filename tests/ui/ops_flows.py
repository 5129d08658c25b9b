"""A small fan-in pipeline for the operations pages: a DAG with five edges whose steps are ready one at a
time, so the local executor runs them in-process (parallel branches would start a worker pool: seconds)."""

from __future__ import annotations

import loopwright as lw
from loopwright import pipeline, step


@step
def load(n: int) -> list[int]:
    return list(range(n))


@step
def double(xs: list[int]) -> list[int]:
    return [2 * x for x in xs]


@step
def square(xs: list[int], doubled: list[int]) -> list[int]:
    return [x * d for x, d in zip(xs, doubled, strict=True)]


@step
def combine(xs: list[int], squared: list[int], scale: float = 1.0) -> float:
    total = scale * (sum(xs) + sum(squared))
    lw.log_metric("total", total)
    return total


@pipeline
def fan_in(n: int = 5, scale: float = 1.0):
    xs = load(n)
    return combine(xs, square(xs, double(xs)), scale=scale)
