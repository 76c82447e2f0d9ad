"""The steps, pipeline and fixtures that test_recording.py and test_caching.py share.

Which step functions actually ran is seen through `EXECUTED`, the list of
messages every step logs on the `RAN` logger (cleared around each test by the
autouse fixture). The steps log rather than append to the list themselves:
a list the step reads is part of its fingerprint, and one that grows as
steps run would change their cache keys, while a logger only carries output
and is left out of fingerprints. Test
modules import `executed_cleared` and `stack_fixture` for their side effect:
pytest finds the fixtures (`stack` and the autouse one) in the importing module.
"""
from __future__ import annotations

import logging

import pytest

from tracking_helpers import LocalTestStack
from zen_mlmd.artifacts import Dataset, Model
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step

EXECUTED: list[str] = []


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        EXECUTED.append(record.getMessage())


RAN = logging.getLogger("zen_mlmd_tests.executed")
RAN.setLevel(logging.INFO)
RAN.propagate = False
if not RAN.handlers:
    RAN.addHandler(_Collect())


# -- steps and pipelines -----------------------------------------------------------------
@step(outputs={"train": Dataset, "test": Dataset})
def load(n: int = 4):
    RAN.info("load")
    return list(range(n)), [n, n + 1]


@step(outputs={"model": Model})
def fit(train: list, lr: float = 0.1):
    RAN.info("fit")
    return {"w": sum(train) * lr}


@step
def score(model: dict, test: list):
    RAN.info("score")
    return {"score": model["w"] + sum(test)}


@step
def describe(train: list, label: str = "rows"):
    RAN.info("describe")
    return {label: len(train)}


@pipeline
def training(n: int = 4, lr: float = 0.1, label: str = "rows"):
    train, test = load(n=n)
    model = fit(train, lr=lr)
    score(model, test)
    describe(train, label=label)


# -- fixtures and helpers -------------------------------------------------------------------
@pytest.fixture(autouse=True)
def executed_cleared():
    EXECUTED.clear()
    yield
    EXECUTED.clear()


@pytest.fixture(name="stack")
def stack_fixture(metadata_store, tmp_path) -> LocalTestStack:
    return LocalTestStack(metadata_store, tmp_path / "artifacts")


def run_data(store, run_name):
    reader = StoreReader(store)
    run = reader.get_run(run_name)
    assert run is not None, f"run {run_name!r} was not recorded"
    return reader.read_run(run)


def steps_by_name(data):
    return {s.name: s for s in data.steps}
