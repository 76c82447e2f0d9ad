"""Artifact contents: the artifact store, materializers and artifact kinds.

Step outputs go materializer -> artifact store; MLMD only records their URI,
materializer name, data type, kind and content hash (`WrittenArtifact`).
Importing this package imports neither numpy, pandas nor an fsspec backend.
"""
from zen_mlmd.artifacts.kinds import ArtifactKind, Data, Dataset, Metrics, Model, Statistics
from zen_mlmd.artifacts.materializers import Materializer, default_kind_for
from zen_mlmd.artifacts.registry import (
    MaterializerRegistry,
    data_type_of,
    get_materializer,
    materializer_for,
    register_materializer,
)
from zen_mlmd.artifacts.store import ArtifactStore
from zen_mlmd.artifacts.reading import read_artifact, verify_artifact
from zen_mlmd.artifacts.writing import WrittenArtifact, write_artifact

__all__ = [
    "ArtifactKind",
    "ArtifactStore",
    "Data",
    "Dataset",
    "Materializer",
    "MaterializerRegistry",
    "Metrics",
    "Model",
    "Statistics",
    "WrittenArtifact",
    "data_type_of",
    "default_kind_for",
    "get_materializer",
    "materializer_for",
    "read_artifact",
    "register_materializer",
    "verify_artifact",
    "write_artifact",
]
