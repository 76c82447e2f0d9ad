"""The store's whole life: delete runs, retention (gc), copies, archives, OpenLineage.

Built on `zen_mlmd.mlmd` (which alone speaks MLMD's protos and SQL) and the
reader layer; the CLI nouns `run delete`, `gc`, `metadata-store copy`,
`export` and `import` call into here.
"""
from zen_mlmd.lifecycle.deletion import DeletionReport, delete_runs

__all__ = ["DeletionReport", "delete_runs"]
