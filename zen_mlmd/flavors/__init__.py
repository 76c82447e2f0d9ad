"""Metadata-store flavors: validated configs that build exact MLMD connection protos.

Built-ins: `sqlite`, `mysql`, `postgresql`, `kubeflow`; more come from the
entry-point group ``zen_mlmd.flavors`` (see `registry`). Importing this
package imports neither MLMD nor any database client.
"""
from zen_mlmd.flavors.base import (
    SECRET_MASK,
    FlavorConfig,
    MetadataStoreFlavor,
    PreflightReport,
    config_error_from_validation,
)
from zen_mlmd.flavors.registry import ENTRY_POINT_GROUP, FlavorPluginWarning, get_flavor, list_flavors

__all__ = [
    "ENTRY_POINT_GROUP",
    "SECRET_MASK",
    "FlavorConfig",
    "FlavorPluginWarning",
    "MetadataStoreFlavor",
    "PreflightReport",
    "config_error_from_validation",
    "get_flavor",
    "list_flavors",
]
