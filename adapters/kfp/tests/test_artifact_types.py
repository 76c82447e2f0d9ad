"""zen_mlmd artifact kinds <-> KFP artifact classes."""
from __future__ import annotations

import pytest
from kfp import dsl

from zen_mlmd.artifacts import Dataset, Model
from zen_mlmd.artifacts.kinds import ArtifactKind
from zen_mlmd.errors import ConfigError
from zen_mlmd_kfp.artifact_types import (
    kfp_class_for_kind,
    kind_for_kfp_class,
    kind_for_schema_title,
    schema_title_for_kind,
)


@pytest.mark.parametrize("kind, cls", [
    (ArtifactKind.DATASET, dsl.Dataset), (ArtifactKind.MODEL, dsl.Model),
    (ArtifactKind.METRICS, dsl.Metrics), (ArtifactKind.STATISTICS, dsl.Artifact),
    (ArtifactKind.DATA, dsl.Artifact), ("model", dsl.Model), (Dataset, dsl.Dataset),
    (Model, dsl.Model), (None, dsl.Artifact),
])
def test_kinds_map_to_kfp_classes(kind, cls):
    assert kfp_class_for_kind(kind) is cls
    assert schema_title_for_kind(kind) == cls.schema_title


@pytest.mark.parametrize("cls, kind", [
    (dsl.Dataset, ArtifactKind.DATASET), (dsl.Model, ArtifactKind.MODEL),
    (dsl.Metrics, ArtifactKind.METRICS), (dsl.ClassificationMetrics, ArtifactKind.METRICS),
    (dsl.SlicedClassificationMetrics, ArtifactKind.METRICS), (dsl.HTML, ArtifactKind.DATA),
    (dsl.Markdown, ArtifactKind.DATA), (dsl.Artifact, ArtifactKind.DATA),
])
def test_kfp_classes_and_titles_map_to_kinds(cls, kind):
    assert kind_for_kfp_class(cls) is kind
    assert kind_for_schema_title(cls.schema_title) is kind


def test_the_round_trip_keeps_every_kind_kfp_has_a_class_for():
    for kind in (ArtifactKind.DATASET, ArtifactKind.MODEL, ArtifactKind.METRICS, ArtifactKind.DATA):
        assert kind_for_kfp_class(kfp_class_for_kind(kind)) is kind


def test_unknown_titles_read_as_data_and_bad_input_names_the_fix():
    assert kind_for_schema_title("acme.Thing") is ArtifactKind.DATA
    with pytest.raises(ConfigError, match="valid kinds are"):
        kfp_class_for_kind("tensor")
    with pytest.raises(ConfigError, match="kfp.dsl.Dataset"):
        kind_for_kfp_class(int)
