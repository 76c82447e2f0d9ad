"""A pipeline whose metrics output feeds a downstream step (run through kfp.local in the tests)."""
from __future__ import annotations

from zen_mlmd import Metrics, pipeline, step


@step(outputs={"scores": Metrics})
def score(base: float = 0.5):
    return {"accuracy": base + 0.4, "loss": 0.1}


@step
def report(scores) -> str:
    return f"accuracy {scores['accuracy']:.2f}"


@pipeline
def scored(base: float = 0.5):
    report(score(base=base))
