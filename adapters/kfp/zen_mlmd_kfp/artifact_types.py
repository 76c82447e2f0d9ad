"""zen_mlmd artifact kinds <-> Kubeflow Pipelines artifact classes, both ways.

The KFP schema titles (`system.Dataset`, ...) are taken from kfp's own
artifact classes, imported on first use: reading a store never pays for
importing kfp unless a KFP artifact type has to be named.

KFP has no statistics class: STATISTICS and DATA both map to the generic
`Artifact`; zen_mlmd records the kind on the artifact so that its own
recordings read back exactly. KFP's metrics flavours (`ClassificationMetrics`,
`SlicedClassificationMetrics`) read as METRICS, `HTML` and `Markdown` as DATA.
"""
from __future__ import annotations

from functools import lru_cache

from zen_mlmd.artifacts.kinds import ArtifactKind
from zen_mlmd.errors import ConfigError

#: kind -> name of the kfp.dsl artifact class it is written as.
_CLASS_OF_KIND = {
    ArtifactKind.DATASET: "Dataset",
    ArtifactKind.MODEL: "Model",
    ArtifactKind.METRICS: "Metrics",
    ArtifactKind.STATISTICS: "Artifact",
    ArtifactKind.DATA: "Artifact",
}
#: kfp.dsl artifact class name -> the kind it reads as.
_KIND_OF_CLASS = {
    "Artifact": ArtifactKind.DATA,
    "Dataset": ArtifactKind.DATASET,
    "Model": ArtifactKind.MODEL,
    "Metrics": ArtifactKind.METRICS,
    "ClassificationMetrics": ArtifactKind.METRICS,
    "SlicedClassificationMetrics": ArtifactKind.METRICS,
    "HTML": ArtifactKind.DATA,
    "Markdown": ArtifactKind.DATA,
}


@lru_cache(maxsize=None)
def _classes() -> dict[str, type]:
    from kfp.dsl.types import artifact_types

    return {name: getattr(artifact_types, name) for name in _KIND_OF_CLASS}


@lru_cache(maxsize=None)
def _kind_by_title() -> dict[str, ArtifactKind]:
    return {cls.schema_title: _KIND_OF_CLASS[name] for name, cls in _classes().items()}


def kfp_class_for_kind(kind: object) -> type:
    """The `kfp.dsl` artifact class a zen_mlmd kind is written as.

    Args:
        kind: anything `ArtifactKind.parse` accepts; None (a kind decided by
            the value at run time) maps to the generic `kfp.dsl.Artifact`.

    Raises:
        ConfigError: `kind` names no artifact kind.
    """
    if kind is None:
        return _classes()["Artifact"]
    return _classes()[_CLASS_OF_KIND[ArtifactKind.parse(kind)]]


def schema_title_for_kind(kind: object) -> str:
    """The KFP schema title (MLMD artifact type name) of a zen_mlmd kind."""
    return kfp_class_for_kind(kind).schema_title


def kind_for_kfp_class(artifact_class: type) -> ArtifactKind:
    """The zen_mlmd kind of a `kfp.dsl` artifact class (or one derived from it).

    Raises:
        ConfigError: the class is not a KFP artifact class.
    """
    for base in getattr(artifact_class, "__mro__", ()):
        title = getattr(base, "schema_title", None)
        if title in _kind_by_title():
            return _kind_by_title()[title]
    raise ConfigError(
        "artifact class", artifact_class, "is not a kfp.dsl artifact class",
        f"use one of kfp.dsl.{', kfp.dsl.'.join(_KIND_OF_CLASS)}",
    )


def kind_for_schema_title(title: str) -> ArtifactKind:
    """The zen_mlmd kind of a KFP schema title; DATA for titles KFP does not define."""
    return _kind_by_title().get(title, ArtifactKind.DATA)


def is_kfp_schema_title(title: str) -> bool:
    """Whether `title` is one of KFP's own artifact schema titles."""
    return title in _kind_by_title()
