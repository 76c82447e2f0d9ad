"""Stacks, pipelines and recorded runs for the post-execution tests.

`LocalTestStack` is the smallest thing the local orchestrator runs on: a
given open `MetadataStore` and an artifact directory. The steps below are
real pipeline steps; `record_training` runs the `training` pipeline.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tracking_helpers import register_artifact_root
from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step


class _OpenedMetadataStore:
    def __init__(self, store: MetadataStore):
        self._store = store

    def open(self) -> MetadataStore:
        return self._store


class _ArtifactDirectory:
    def __init__(self, root: str):
        self.root = root

    def open(self) -> ArtifactStore:
        return ArtifactStore(self.root)


class LocalTestStack:
    """A stack over an already open metadata store and an artifact directory."""

    def __init__(self, store: MetadataStore, artifact_root: str | Path, name: str = "test"):
        self.name = name
        self.metadata_store = _OpenedMetadataStore(store)
        self.artifact_store = _ArtifactDirectory(str(artifact_root))
        register_artifact_root(artifact_root)  # readers open artifacts in registered stores only

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "artifact_store": self.artifact_store.root}


@step
def load(n_samples: int = 10) -> dict:
    return {"x": list(range(n_samples))}


@step(outputs={"train": "dataset", "test": "dataset"})
def split(data: dict, test_fraction: float = 0.5):
    cut = int(len(data["x"]) * (1 - test_fraction))
    return {"x": data["x"][:cut]}, {"x": data["x"][cut:]}


@step(outputs={"model": "model"})
def train(train_set: dict, C: float = 1.0):
    return {"weight": sum(train_set["x"]) * C}


@step(outputs={"metrics": "metrics", "n_test": None})
def evaluate(model: dict, test_set: dict):
    accuracy = round(1.0 / (1.0 + abs(model["weight"]) / 100), 4)
    return {"accuracy": accuracy, "loss": 1 - accuracy}, len(test_set["x"])


@pipeline
def training(n_samples: int = 10, C: float = 1.0):
    data = load(n_samples=n_samples)
    train_set, test_set = split(data)
    evaluate(train(train_set, C=C), test_set)


def record_training(stack: LocalTestStack, run_name: str | None = None, **parameters: Any):
    """Run the training pipeline on `stack`; returns the run name."""
    return training.run(stack=stack, quiet=True, run_name=run_name, **parameters).name


@step
def identity(value: int) -> int:
    return value


def chain_pipeline(length: int):
    """A pipeline of `length` steps, each taking the previous step's output as input."""

    @pipeline(name=f"chain{length}")
    def chain(start: int = 1):
        value = first(start=start)
        for _ in range(length - 1):
            value = identity(value)

    return chain


@step
def first(start: int = 1) -> int:
    return start


def sqlite_store(path: str | Path) -> MetadataStore:
    """An opened MetadataStore on a SQLite file (created if missing)."""
    from backends import BackendSpec, connection_config

    return MetadataStore(connection_config(BackendSpec("sqlite", "sqlite", {"path": str(path)})),
                         store_name="test-sqlite")


def record_bare_runs(store: MetadataStore, count: int, pipeline_name: str = "bare") -> list[str]:
    """`count` ended runs with one completed step each, written with the Recorder (no files)."""
    from zen_mlmd.tracking.recorder import Recorder

    recorder = Recorder(store)
    names = []
    for i in range(count):
        with recorder.start_run(pipeline_name, run_name=f"{pipeline_name}-{i:04d}") as run:
            run.start_step("only", type_name="tests.only", parameters={"i": i}).publish({})
        names.append(run.name)
    return names
