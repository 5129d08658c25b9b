"""Pipelines the Kubeflow export tests compile and run step by step as KFP pods would."""

from __future__ import annotations

from pathlib import Path

from loopwright import pipeline, step


@step
def count_lines(path: str) -> int:
    return len(Path(path).read_text().splitlines())


@step(retries=2, retry_delay=3, backoff=3.0, resources={"num_cpus": 2, "memory": 2**30, "num_gpus": 1})
def double(n: int) -> int:
    return 2 * n


@step(retries=1, retry_delay=0)
def check(n: int, limit: int) -> int:
    if n > limit:
        raise ValueError(f"{n} lines is over {limit}")
    return n


@pipeline
def lines(path: str):
    return double(count_lines(path))


@pipeline
def guarded(path: str, limit: int = 10):
    return double(check(count_lines(path), limit))


@step
def square(x: int) -> int:
    return x * x


@step
def total(a: int, b: int) -> int:
    return a + b


@pipeline
def squares(a: int = 2, b: int = 3):
    return total(square(a), square(b))
