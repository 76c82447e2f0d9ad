"""TFX adapter for zen_mlmd.

* `zen_mlmd_tfx.configs`: drop-in replacements for TFX's
  ``sqlite_metadata_connection_config`` / ``mysql_metadata_connection_config``
  (same arguments, equal protos, clear errors), and `connection_config_for` a
  store registered in zen_mlmd.
* `zen_mlmd_tfx.convention`: the ``tfx`` (portable launcher) and
  ``tfx_legacy`` conventions, registered in the entry-point group
  ``zen_mlmd.conventions`` so that zen_mlmd's readers find TFX runs.

Importing this package imports neither TFX nor MLMD.
"""
from __future__ import annotations

__all__ = [
    "TfxConvention",
    "TfxLegacyConvention",
    "connection_config_for",
    "mysql_metadata_connection_config",
    "sqlite_metadata_connection_config",
]

_LAZY = {
    "TfxConvention": "zen_mlmd_tfx.convention",
    "TfxLegacyConvention": "zen_mlmd_tfx.convention",
    "connection_config_for": "zen_mlmd_tfx.configs",
    "mysql_metadata_connection_config": "zen_mlmd_tfx.configs",
    "sqlite_metadata_connection_config": "zen_mlmd_tfx.configs",
}


def __getattr__(name: str):
    # MLMD's protos take ~0.1 s to import: load them on first use only.
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'zen_mlmd_tfx' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
