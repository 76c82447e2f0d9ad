"""The pipeline the played-cluster tests submit: numbers -> metrics -> report, and a step that lingers.

Shipped to the task venv as the distribution `zen-mlmd-played-pipeline`,
as a user ships a pipeline's code to the pods.
"""
from __future__ import annotations

import time

from zen_mlmd import Dataset, Metrics, pipeline, step


@step(outputs={"numbers": Dataset})
def make_numbers(count: int = 4) -> list:
    return list(range(1, count + 1))


@step(outputs={"summary": Metrics})
def summarize(numbers) -> dict:
    return {"total": float(sum(numbers)), "count": float(len(numbers))}


@step
def report(numbers, summary) -> str:
    return f"{len(numbers)} numbers, total {summary['total']:g}"


@pipeline
def played(count: int = 4):
    numbers = make_numbers(count=count)
    report(numbers, summarize(numbers))


@step(enable_cache=False)
def linger(numbers, seconds: float = 600.0) -> int:
    """Runs for `seconds` (the tests kill its task long before)."""
    time.sleep(seconds)
    return len(numbers)


@pipeline
def lingering(count: int = 3):
    linger(make_numbers(count=count))


@step
def explode(numbers) -> int:
    raise ValueError(f"cannot count {len(numbers)} numbers")


@step
def halve(value) -> float:
    return value / 2


@pipeline
def exploding(count: int = 2):
    halve(explode(make_numbers(count=count)))
