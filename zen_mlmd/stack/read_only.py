"""Opening a store for reading: nothing is ever created or changed.

MLMD creates its schema when it opens an empty store (and, for MySQL and
PostgreSQL, the database; for SQLite, the file and its directory). A read must
never get that far, so before MLMD sees a database store's config the flavor's
preflight, which writes nothing, must find MLMD's tables there: a missing
file or database, or one without MLMD's tables, is an error naming the place
and the fix. SQLite is then opened in MLMD's READONLY mode
(`MetadataStoreFlavor.read_only_config`), and the opened store refuses every
write call (`MetadataStore(read_only=True)`).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from zen_mlmd.errors import PreflightError, StoreNotCreatedError, StoreNotStartedError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from zen_mlmd.flavors.base import FlavorConfig
    from zen_mlmd.stack.components import MetadataStoreComponent


def require_existing_store(component: "MetadataStoreComponent", config: "FlavorConfig") -> None:
    """Check with the flavor's preflight that `config` reaches an existing MLMD store.

    Raises:
        StoreNotCreatedError: no MLMD tables there yet (nothing was recorded).
        PreflightError: the preflight failed (e.g. a file that is not an MLMD
            store, a missing SQLite file), or could not read the schema.
    """
    report = component.flavor.preflight(config)
    where = f"metadata store {component.name!r} ({report.target})"
    if report.details.get("missing") and _managed_by_zen_mlmd(report.details.get("path", "")):
        # a store whose file zen_mlmd places itself (the default store, or one
        # registered without a path) simply has no records yet
        raise StoreNotStartedError(
            f"{where} holds no records yet: nothing was recorded in it. Fix: run a pipeline "
            "on a stack that uses it (`zen-mlmd pipeline run FILE:PIPELINE`)")
    if not report.ok:
        raise PreflightError(f"{where}: {report.problem}" + (f". Fix: {report.fix}" if report.fix else ""))
    version = report.details.get("schema_version")
    if version == "new":
        raise StoreNotCreatedError(
            f"{where} holds no MLMD store yet: nothing was recorded there, and reading never "
            f"creates one. Fix: check that {component.name!r} points where your runs are recorded "
            f"(`zen-mlmd metadata-store describe {component.name}`), or record a run in it first")
    if version is None:
        raise PreflightError(
            f"{where}: could not check that it holds an MLMD store "
            f"({'; '.join(report.warnings) or 'the preflight did not read its schema'}), and MLMD "
            f"would create one on a read. Fix: resolve the preflight's warning "
            f"(`zen-mlmd metadata-store check {component.name}`)")


def _managed_by_zen_mlmd(path: str) -> bool:
    """Whether `path` is a file zen_mlmd chose under its config directory."""
    from zen_mlmd.flavors.sqlite import default_config_dir

    managed = os.path.realpath(os.path.join(default_config_dir(), "local_stores"))
    return bool(path) and os.path.realpath(path).startswith(managed + os.sep)
