"""Artifact files of deleted records: measured, journalled, removed, swept.

Records go first, files after: a deletion writes a journal of the URIs it
will remove into each artifact store (``<root>/.zen-mlmd/deletions/``)
before its database transaction commits, removes the files, then the
journal. A crash in between leaves orphan files named by a journal, never a
record whose files are gone; `sweep_orphans` (run by `zen-mlmd gc`) finishes
such journals and removes the step outputs of this store's ended runs that
no record names. Nothing outside the store's own run folders
(``<root>/<pipeline>/<run>/<step>/<output>``) and journals is touched.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    from zen_mlmd.artifacts import ArtifactStore
    from zen_mlmd.mlmd.store import MetadataStore

JOURNAL_DIR = ".zen-mlmd/deletions"


@dataclass(frozen=True)
class ArtifactFile:
    """One artifact's place in an artifact store; `size_bytes` None when unknown."""

    id: int
    uri: str
    size_bytes: int | None = None
    #: Why it is listed: "deleted", or why it stays ("used by run X", ...).
    note: str = ""


@dataclass
class FileRemoval:
    """What removing files did: removed URIs, and URIs left with the reason."""

    removed: list[str] = field(default_factory=list)
    left: dict[str, str] = field(default_factory=dict)


class ArtifactFiles:
    """The artifact stores whose files zen_mlmd may remove.

    Args:
        stores: the registered artifact stores; a URI under none of their
            roots is never touched.
    """

    def __init__(self, stores: Iterable["ArtifactStore"]):
        self.stores = list(dict.fromkeys(stores))

    def store_for(self, uri: str) -> "ArtifactStore | None":
        """The store `uri` lies in once normalised, symlinks followed (`ArtifactStore.contains`)."""
        for store in self.stores:
            root = store.root.rstrip("/")
            # a quick prefix test first; `contains` then refuses `..` and symlinks leading out
            if (uri == root or uri.startswith(root + "/")) and store.contains(uri):
                return store
        return None

    def size(self, uri: str) -> int | None:
        store = self.store_for(uri)
        if store is None:
            return None
        try:
            return store.size(uri) if store.exists(uri) else 0
        except Exception:  # a backend that cannot say: unknown, not fatal
            return None

    def measured(self, artifacts: Mapping[int, str], note: str = "") -> tuple[ArtifactFile, ...]:
        return tuple(ArtifactFile(i, uri, self.size(uri) if uri else None, note)
                     for i, uri in sorted(artifacts.items()))

    def write_journal(self, identity: str, uris: Sequence[str], runs: Sequence[str]) -> list[tuple["ArtifactStore", str]]:
        """Record, in each artifact store concerned, the URIs about to be removed."""
        by_store: dict[ArtifactStore, list[str]] = {}
        for uri in uris:
            store = self.store_for(uri)
            if store is not None:
                by_store.setdefault(store, []).append(uri)
        written = []
        for store, store_uris in by_store.items():
            name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}.json"
            path = f"{store.root}/{JOURNAL_DIR}/{name}"
            with store.open(path, "w") as handle:
                json.dump({"store": identity, "runs": list(runs), "uris": sorted(store_uris),
                           "written": time.time()}, handle)
            written.append((store, path))
        return written

    def remove(self, uris: Iterable[str]) -> FileRemoval:
        """Remove each URI's file or directory tree; URIs outside the stores are left."""
        result = FileRemoval()
        for uri in sorted(set(u for u in uris if u)):
            store = self.store_for(uri)
            if store is None:
                result.left[uri] = "outside the registered artifact stores"
                continue
            try:
                store.delete(uri)
                result.removed.append(uri)
            except Exception as exc:  # keep going: gc retries from the journal
                result.left[uri] = f"{type(exc).__name__}: {exc}"
        return result

    @staticmethod
    def clear_journals(journals: Iterable[tuple["ArtifactStore", str]]) -> None:
        for store, path in journals:
            store.delete(path)


# -- the sweep ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepReport:
    """Orphan files found (and removed unless a dry run), with their sizes."""

    files: tuple[ArtifactFile, ...]
    journals: int
    dry_run: bool

    @property
    def bytes(self) -> int:
        return sum(f.size_bytes or 0 for f in self.files)


def sweep_orphans(store: "MetadataStore", artifact_store: "ArtifactStore", ended_runs: Mapping[str, set[str]],
                  dry_run: bool = False) -> SweepReport:
    """Remove what no record of `store` names, in this store's journals and run folders.

    Args:
        ended_runs: pipeline name -> names of its runs that have ended, in
            this store; only their folders are swept (a running run's files
            exist before its records do).
    """
    from zen_mlmd.mlmd.deletion import uris_named, uris_under

    root = artifact_store.root.rstrip("/")
    journals = _journals(artifact_store, store.identity)
    candidates: set[str] = {uri for _, entry in journals for uri in entry.get("uris", ())}
    named_under_root = None
    for pipeline in artifact_store.list_dirs(root):
        runs = ended_runs.get(pipeline)
        if not runs or pipeline.startswith("."):
            continue
        for run in artifact_store.list_dirs(f"{root}/{pipeline}"):
            if run not in runs:
                continue
            if named_under_root is None:  # one listing of every URI under the root
                exact = uris_under(store, root + "/")
                named_under_root = (exact, _with_ancestors(exact))
            for step in artifact_store.list_dirs(f"{root}/{pipeline}/{run}"):
                base = f"{root}/{pipeline}/{run}/{step}"
                for output in _entries(artifact_store, base):
                    uri = f"{base}/{output}"
                    if not _named(uri, named_under_root):
                        candidates.add(uri)
    named = uris_named(store, sorted(candidates)) if candidates else set()
    orphans = sorted(u for u in candidates if u not in named and artifact_store.exists(u))
    files = tuple(ArtifactFile(0, uri, _size(artifact_store, uri), "no record names it")
                  for uri in orphans)
    if not dry_run:
        for uri in orphans:
            artifact_store.delete(uri)
        for path, entry in journals:
            if not set(entry.get("uris", ())) & named:
                artifact_store.delete(path)
    return SweepReport(files, len(journals), dry_run)


def _journals(artifact_store: "ArtifactStore", identity: str) -> list[tuple[str, dict]]:
    base = f"{artifact_store.root.rstrip('/')}/{JOURNAL_DIR}"
    if not artifact_store.exists(base):
        return []
    found = []
    for name in artifact_store.list_files(base):
        path = f"{base}/{name}"
        try:
            with artifact_store.open(path, "r") as handle:
                entry = json.load(handle)
        except (OSError, ValueError):
            continue  # half-written by a crash before its transaction: nothing was deleted
        if entry.get("store") == identity:
            found.append((path, entry))
    return found


def _entries(artifact_store: "ArtifactStore", uri: str) -> list[str]:
    """Names directly under `uri`: files and directories."""
    return sorted({rel.split("/", 1)[0] for rel in artifact_store.list_files(uri)} |
                  set(artifact_store.list_dirs(uri)))


def _with_ancestors(uris: set[str]) -> set[str]:
    """The URIs and every folder above them: a folder holding a named file is named too."""
    out = set(uris)
    for uri in uris:
        parts = uri.split("/")
        out.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return out


def _named(uri: str, named: tuple[set[str], set[str]]) -> bool:
    """Whether a record names `uri`, a folder above it, or something inside it.

    `named` holds the exact URIs and the same with their folders (`_with_ancestors`).
    """
    exact, with_folders = named
    if uri in with_folders:
        return True
    parts = uri.split("/")
    return any("/".join(parts[:i]) in exact for i in range(len(parts) - 1, 0, -1))


def _size(artifact_store: "ArtifactStore", uri: str) -> int | None:
    try:
        return artifact_store.size(uri)
    except Exception:
        return None
