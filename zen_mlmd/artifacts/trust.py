"""Which artifact stores a reader trusts, and reading a recorded artifact through them.

An artifact record (URI, materializer, content hash) comes from the metadata
store, which anyone who can write to it can forge. So a reader opens an
artifact only inside an artifact store it trusts: one registered on the
reading machine (`zen-mlmd artifact-store register`), or one the user names
for the read. `TrustedStores.store_for` picks the store whose root holds the
URI (normalised, symlinks followed) and refuses every other URI.

Artifacts that no zen_mlmd materializer wrote (materializer ``""``: written
by TFX or Kubeflow Pipelines) are never opened: zen_mlmd does not know their
format. A Kubeflow ``system.Metrics`` artifact holds its values in its
properties, and those are returned; anything else is refused with who wrote
it and where its files are.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from zen_mlmd.artifacts.reading import read_artifact
from zen_mlmd.artifacts.store import ArtifactStore
from zen_mlmd.errors import ArtifactTrustError, MaterializerError

#: The KFP v2 type whose properties are its metric values, and the properties
#: that are not metrics (kubeflow/pipelines frontend/src/components/viewers/
#: MetricsVisualizations.tsx shows every other custom property as a scalar).
KFP_METRICS_TYPE = "system.Metrics"
KFP_NOT_METRICS = frozenset({"display_name", "store_session_info"})


@dataclass(frozen=True)
class RecordedArtifact:
    """What a reader knows about an artifact from its record.

    Attributes:
        writer: who produced it, for messages (e.g. "step 'train' of run 'r1'"),
            or "" when unknown.
        producer_type: the producing execution's type (a TFX component's class
            path, ``system.ContainerExecution``...), or "".
        writing_tool: the tool whose convention the producing run was read
            in (`Convention.writer_label`: "TFX", "Kubeflow Pipelines"...),
            or "" when unknown (then it is guessed from the type names).
    """

    id: int
    uri: str
    type_name: str
    materializer: str
    data_type: str
    content_hash: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    writer: str = ""
    producer_type: str = ""
    writing_tool: str = ""


class TrustedStores:
    """The artifact stores artifacts may be read from, each with a label for messages.

    Args:
        stores: ``(label, store)`` pairs, e.g. ``("default", ArtifactStore(...))``.
    """

    def __init__(self, stores: Iterable[tuple[str, ArtifactStore]] = ()):
        self._stores: list[tuple[str, ArtifactStore]] = []
        for label, store in stores:
            self.add(label, store)

    def add(self, label: str, store: ArtifactStore) -> None:
        """Trust one more store (a store already there keeps its first label)."""
        if all(known.root != store.root or known.trusted != store.trusted
               for _, known in self._stores):
            self._stores.append((label, store))

    def with_store(self, label: str, store: ArtifactStore) -> "TrustedStores":
        """A copy that also trusts `store` (it wins over others with the same root)."""
        copy = TrustedStores([(label, store)])
        for known_label, known in self._stores:
            copy.add(known_label, known)
        return copy

    @property
    def stores(self) -> list[tuple[str, ArtifactStore]]:
        return list(self._stores)

    def store_for(self, uri: str) -> ArtifactStore:
        """The trusted store holding `uri` (the innermost, when roots nest).

        Raises:
            ArtifactTrustError: `uri` lies in none of them; the message names
                the URI, why, the trusted stores and the fix.
        """
        holding = [store for _, store in self._stores if store.contains(uri)]
        if holding:
            # a store marked trusted wins over an unmarked one with the same root
            return max(holding, key=lambda store: (len(store.root), store.trusted))
        reasons = [store.outside_reason(uri) or "" for _, store in self._stores]
        symlink = next((reason for reason in reasons if "symbolic link" in reason), None)
        known = ", ".join(f"{label} ({store.root})" for label, store in self._stores) or "none"
        reason = symlink or "it is outside every artifact store trusted on this machine"
        raise ArtifactTrustError(
            f"artifact URI {uri}: refused, {reason} (trusted: {known}). Nothing was read. "
            "Fix: if you trust where it lives, register that artifact store on this machine "
            "(`zen-mlmd artifact-store register NAME --path ROOT`) or name it for this read "
            "(`artifact.read(artifact_store=ROOT)`)")


def read_recorded(artifact: RecordedArtifact, stores: TrustedStores, *, trusted: bool = False) -> Any:
    """Read a recorded artifact: resolve its store, check its hash and trust, load it.

    Args:
        artifact: the record.
        stores: the stores it may be read from.
        trusted: allow formats that run code when loaded, and a missing hash.

    Raises:
        ArtifactTrustError: outside every trusted store, or a format that needs trust.
        ArtifactIntegrityError: its bytes do not match its recorded hash.
        MaterializerError: no zen_mlmd materializer wrote it (and it is not
            Kubeflow metrics), it was deleted, or it cannot be loaded.
    """
    if not artifact.materializer:
        return read_foreign(artifact)
    store = stores.store_for(artifact.uri)
    return read_artifact(artifact.uri, store, artifact.materializer, artifact.data_type,
                         content_hash=artifact.content_hash, trusted=trusted)


def read_foreign(artifact: RecordedArtifact) -> Any:
    """An artifact another tool wrote: Kubeflow metrics from its properties, else a clear refusal."""
    if artifact.type_name == KFP_METRICS_TYPE:
        return {key: value for key, value in artifact.properties.items() if key not in KFP_NOT_METRICS}
    tool = artifact.writing_tool or writing_tool(artifact)
    by = f"{tool} ({artifact.writer})" if artifact.writer else tool
    raise MaterializerError(
        f"artifact #{artifact.id} (type {artifact.type_name}) was written by {by}, not by a "
        f"zen_mlmd materializer, so zen_mlmd does not know its file format and reads nothing. "
        f"Its files are at {artifact.uri or '(no URI recorded)'}. Fix: read them with the tool "
        "that wrote them; its recorded properties are in `artifact.properties`")


def writing_tool(artifact: RecordedArtifact) -> str:
    """A guess at the tool that wrote a foreign artifact whose run's convention is unknown.

    Only a fallback: readers pass the convention's `writer_label` in
    `RecordedArtifact.writing_tool`, since a TFX component's type is any
    class path (``my_pkg.components.Trainer``).
    """
    if artifact.type_name.startswith("system.") or artifact.producer_type.startswith("system."):
        return "Kubeflow Pipelines"
    if "tfx" in artifact.producer_type.lower():
        return "TFX"
    return "another MLMD tool"
