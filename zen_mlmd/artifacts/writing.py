"""Writing whole artifacts: materializer + store + content hash (reading is in `reading`)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Union

from zen_mlmd.artifacts import hashing
from zen_mlmd.artifacts.kinds import ArtifactKind
from zen_mlmd.artifacts.materializers import Materializer
from zen_mlmd.artifacts.registry import data_type_of, get_materializer, materializer_for
from zen_mlmd.artifacts.store import ArtifactStore
from zen_mlmd.errors import MaterializerError

MaterializerSpec = Union[Materializer, type, str, None]


@dataclass(frozen=True)
class WrittenArtifact:
    """What was written for one output: everything MLMD records about its contents.

    Attributes:
        uri: the artifact directory in the artifact store.
        materializer: the materializer's stable name (needed to read it back).
        data_type: ``module.QualName`` of the written object.
        kind: the artifact kind (declared, or the materializer's default).
        content_hash: ``"sha256:<hex>"`` of the written bytes (see `hashing`).
        size_bytes: the total number of bytes written.
    """

    uri: str
    materializer: str
    data_type: str
    kind: ArtifactKind
    content_hash: str
    size_bytes: int


def write_artifact(
    obj: Any,
    uri: str,
    store: ArtifactStore,
    materializer: MaterializerSpec = None,
    *,
    kind: Any = None,
    overwrite: bool = False,
) -> WrittenArtifact:
    """Writes `obj` as an artifact directory at `uri`, hashing the bytes as they go.

    Args:
        obj: the step output.
        uri: the artifact directory, usually from `ArtifactStore.uri_for`.
        store: the artifact store holding `uri`.
        materializer: a `Materializer` instance or class, a registered
            materializer name, or None to pick one by the type of `obj`.
        kind: the declared kind (anything `ArtifactKind.parse` accepts);
            None uses the materializer's default for `obj`.
        overwrite: replace an existing artifact at `uri`. Artifacts are
            immutable once recorded, so this is off by default.

    Raises:
        MaterializerError: something already exists at `uri` (without
            `overwrite`), or the materializer failed; then nothing is left at `uri`.
        ConfigError: `kind` is not a valid kind.
        UnknownNameError: `materializer` is an unknown name.
    """
    data_type = data_type_of(obj)
    chosen = _resolve(materializer) if materializer is not None else materializer_for(obj)
    declared_kind = ArtifactKind.parse(kind) if kind is not None else None
    view = hashing.HashingStore(store, uri)  # refuses a uri outside the store
    if not view.create_directory(uri):  # something is there already
        if not overwrite:
            raise MaterializerError(
                f"an artifact already exists at {uri}; artifacts are immutable. Fix: use a "
                "new run name, or pass overwrite=True to replace it"
            )
        view.delete(uri)
        view.makedirs(uri)
    try:
        chosen.save(obj, uri, view)
        view.close_all()
    except BaseException as error:
        with contextlib.suppress(Exception):
            view.close_all()
        view.delete(uri)
        if not isinstance(error, Exception):
            raise  # KeyboardInterrupt and friends: cleaned up, not translated
        raise MaterializerError(
            f"materializer {chosen.name!r} could not write an output of type "
            f"{data_type} to {uri}: {type(error).__name__}: {error}. Nothing was kept "
            "at that uri. Fix: register a materializer for this type "
            "(`zen_mlmd.artifacts.register_materializer`), or make it picklable"
        ) from error
    file_hashes, size = _hash_written(view, uri, store, listed=not chosen.writes_through_store)
    return WrittenArtifact(
        uri=uri,
        materializer=chosen.name,
        data_type=data_type,
        kind=declared_kind or chosen.kind_for(obj),
        content_hash=hashing.combine(file_hashes),
        size_bytes=size,
    )


def _resolve(spec: MaterializerSpec) -> Materializer:
    if isinstance(spec, Materializer):
        return spec
    if isinstance(spec, str):
        return get_materializer(spec)
    if isinstance(spec, type) and issubclass(spec, Materializer):
        return spec()
    raise MaterializerError(
        f"materializer={spec!r} is neither a Materializer, a Materializer class nor "
        "a registered materializer name. Fix: pass a Materializer instance or subclass, or "
        "a name listed by `zen_mlmd.artifacts.registry.default_registry.names()`"
    )


def _hash_written(view: hashing.HashingStore, uri: str, store: ArtifactStore, listed: bool = True):
    """``(path, sha256)`` pairs and total size of the files now in the artifact directory.

    Files written through the store were hashed while being written; a file
    that appeared some other way (a library writing by path) is read once.
    With `listed=False` (a materializer that writes only through the store)
    the directory is not listed: the files written are all there is.
    """
    pairs, total = [], 0
    names = store.list_files(uri) if listed else sorted(view.writers)
    for name in names:
        writer = view.writers.get(name)
        if writer is not None and name not in view.rehash:
            digest, size = writer.sha256.hexdigest(), writer.size
        else:
            digest, size = hashing.hash_file(store, f"{uri}/{name}")
        pairs.append((name, digest))
        total += size
    return pairs, total
