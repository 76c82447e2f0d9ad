"""What an artifact is: the kinds users declare and the MLMD types they map to.

The kind decides the MLMD artifact type name and its `base_type`. Base types
are plain strings here (protos stop at the `zen_mlmd.mlmd` boundary, which
maps them to MLMD's `ArtifactType.SystemDefinedBaseType`).
"""
from __future__ import annotations

import enum
from typing import Optional

from zen_mlmd.errors import ConfigError


class ArtifactKind(str, enum.Enum):
    """The kind of an artifact; its value is its name."""

    DATASET = "DATASET"
    MODEL = "MODEL"
    METRICS = "METRICS"
    STATISTICS = "STATISTICS"
    DATA = "DATA"

    @property
    def mlmd_type_name(self) -> str:
        """The MLMD artifact type name, e.g. ``"zen_mlmd.Dataset"``."""
        return "zen_mlmd." + self.value.capitalize()

    @property
    def base_type(self) -> Optional[str]:
        """The MLMD system base type name, or None for generic data."""
        return None if self is ArtifactKind.DATA else self.value

    @classmethod
    def parse(cls, value: object) -> "ArtifactKind":
        """Turns a user's declaration into a kind.

        Args:
            value: an `ArtifactKind`, a kind name in any case (``"model"``),
                or a marker class such as `Model` (or an instance of one).

        Raises:
            ConfigError: the value names no kind; the message lists the valid ones.
        """
        if isinstance(value, cls):
            return value
        marker_kind = getattr(value, "kind", None)
        if isinstance(marker_kind, cls):
            return marker_kind
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                pass
        valid = ", ".join(kind.name for kind in cls)
        raise ConfigError(
            "artifact kind",
            value,
            f"not a known artifact kind; valid kinds are {valid}",
            "use one of those names or the marker classes "
            "zen_mlmd.artifacts.Dataset, Model, Metrics, Statistics, Data",
        )

    def __str__(self) -> str:  # str-mixin enums print the member, not the value
        return self.value


class _KindMarker:
    """Base of the marker classes used in step output declarations."""

    kind: ArtifactKind = ArtifactKind.DATA


class Dataset(_KindMarker):
    """Declares a step output as a dataset: ``outputs={"train": Dataset}``."""

    kind = ArtifactKind.DATASET


class Model(_KindMarker):
    """Declares a step output as a trained model."""

    kind = ArtifactKind.MODEL


class Metrics(_KindMarker):
    """Declares a step output as evaluation metrics."""

    kind = ArtifactKind.METRICS


class Statistics(_KindMarker):
    """Declares a step output as data statistics."""

    kind = ArtifactKind.STATISTICS


class Data(_KindMarker):
    """Declares a step output as generic data (no MLMD base type)."""

    kind = ArtifactKind.DATA
