"""A small pipeline whose steps leave a trace in a file each time their function runs.

The file is named by the environment variable ZEN_MLMD_KFP_TEST_TRACE, which
kfp.local's task subprocesses inherit. `guarded` reads a lock, which cannot
be fingerprinted: it is never served from the cache.
"""
from __future__ import annotations

import os
import threading

from zen_mlmd import Dataset, Metrics, pipeline, step


def _trace(name: str) -> None:
    with open(os.environ["ZEN_MLMD_KFP_TEST_TRACE"], "a", encoding="utf-8") as trace:
        trace.write(name + "\n")


@step(outputs={"numbers": Dataset})
def make_numbers(count: int = 5):
    _trace("make_numbers")
    return list(range(count))


@step(outputs={"total": Metrics})
def summarize(numbers, parts):
    _trace("summarize")
    return {"total": float(sum(numbers)), "parts": float(len(parts))}


@pipeline
def traced(count: int = 5):
    numbers = make_numbers(count=count)
    summarize(numbers, [make_numbers(count=2), make_numbers(count=3)])


_LOCK = threading.Lock()


@step(outputs={"numbers": Dataset})
def guarded(count: int = 2):
    _trace("guarded")
    with _LOCK:
        return list(range(count))


@pipeline
def guarded_pipeline():
    summarize(make_numbers(count=1), [guarded()])
