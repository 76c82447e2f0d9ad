"""Stack components: a metadata store, an artifact store, an orchestrator.

Components are plain immutable records of what is registered. Using one
(validating its config, opening MLMD, touching the artifact store) imports
the heavy parts only then, so listing components stays cheap. What may be
registered (names, paths, options) is checked in `zen_mlmd.stack.validation`.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from zen_mlmd.errors import StoreUnavailableError, ZenMLMDError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from zen_mlmd.artifacts import ArtifactStore
    from zen_mlmd.flavors.base import FlavorConfig, MetadataStoreFlavor, PreflightReport
    from zen_mlmd.mlmd.store import MetadataStore
    from zen_mlmd.stack.port_forward import PortForward

#: Field names that, across flavors, say where a store is (never a secret).
_LOCATION_FIELDS = ("path", "socket", "host", "hostaddr")


@dataclass(frozen=True)
class MetadataStoreComponent:
    """A registered metadata store.

    Attributes:
        name: the registered name (also the store name in MLMD error messages).
        flavor_name: the flavor it was registered with.
        options: the options as given at registration; may hold a secret or a
            `${ENV_VAR}` / `file:/path` reference, so it is kept out of repr().
    """

    name: str
    flavor_name: str
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def flavor(self) -> "MetadataStoreFlavor":
        """The flavor object (imported on first use).

        Raises:
            UnknownNameError: the flavor is not installed any more.
        """
        from zen_mlmd.flavors.registry import get_flavor

        return get_flavor(self.flavor_name)

    @functools.cached_property
    def config(self) -> "FlavorConfig":
        """The options validated by the flavor.

        Raises:
            ConfigError: naming the bad option (secrets masked).
        """
        return self.flavor.parse_config(dict(self.options))

    def connection_config(self):
        """The exact MLMD connection proto (`ConnectionConfig` or `MetadataStoreClientConfig`)."""
        return self.flavor.connection_config(self.config)

    def open(self, *, read_only: bool = False, allow_upgrade: bool = False) -> "MetadataStore":
        """Connect to the store with MLMD, for reading or for writing.

        The one place stores are opened, with the intent explicit:
        ``read_only=True`` (the post-execution API, every reading command)
        never creates or changes anything (see `zen_mlmd.stack.read_only`);
        ``read_only=False`` (recording, `metadata-store init`/`upgrade`) lets
        MLMD create the schema of a new store (and SQLite's file).

        A `kubeflow` store with `kubernetes_context` and no `host` is reached
        through ``kubectl port-forward`` (see `zen_mlmd.stack.port_forward`):
        the forward is started and health-checked with one MLMD call, and it
        lives as long as the store: `MetadataStore.close()`, the store being
        garbage-collected, or the end of the process stops it.

        Args:
            read_only: open for reading only (see above).
            allow_upgrade: migrate an older database schema; only the
                `metadata-store upgrade` command sets it.

        Raises:
            StoreNotCreatedError: (read_only) there is no MLMD store there yet.
            PreflightError: (read_only) the preflight failed, e.g. the file is
                not an MLMD store or cannot be read.
            SchemaVersionError: the schema needs an explicit upgrade (or a newer library).
            StoreUnavailableError: the store could not be opened.
            PortForwardError: (a PreflightError) the port-forward could not be
                started or the service does not answer through it.
        """
        from zen_mlmd.mlmd.store import MetadataStore

        if read_only and allow_upgrade:
            raise ValueError("a store opened read-only cannot be upgraded")
        forward = self._port_forward()
        call_metadata = self.flavor.call_metadata(self.config)
        if forward is None:
            config = self.config
            if read_only:
                config = self.flavor.read_only_config(config)
                if self.flavor.is_database:
                    from zen_mlmd.stack.read_only import require_existing_store

                    require_existing_store(self, config)
            elif self.flavor.preflight_required(config):
                self._require_preflight()
            try:
                return MetadataStore(self.flavor.connection_config(config), store_name=self.name,
                                     allow_upgrade=allow_upgrade, read_only=read_only,
                                     call_metadata=call_metadata,
                                     **self.flavor.store_options(config))
            except StoreUnavailableError:
                # MLMD's own message is often empty ("errno: , error: "): ask a
                # real client for the cause, and report that instead
                self._require_preflight()
                raise
        from zen_mlmd.stack.port_forward import PortForwardError
        from zen_mlmd.stack.port_forward_diagnosis import channel_credentials

        try:
            forward.start()
            proto = self.flavor.connection_config(self.config, local_port=forward.local_port)
            forward.health_check(credentials=channel_credentials(proto), metadata=call_metadata)
            store = MetadataStore(proto, store_name=self.name, allow_upgrade=allow_upgrade,
                                  read_only=read_only, call_metadata=call_metadata,
                                  **self.flavor.store_options(self.config))
        except PortForwardError as exc:
            forward.stop()
            raise PortForwardError(f"metadata store {self.name!r}: {exc.problem}", exc.fix,
                                   exc.stderr) from None
        except BaseException:
            forward.stop()
            raise
        # closing the store, collecting it, or the process ending (atexit) stops the forward
        store.on_close(weakref.finalize(store, forward.stop))
        return store

    def _require_preflight(self) -> None:
        """Run the preflight a flavor requires (it checks what MLMD cannot, e.g. a
        MySQL server certificate); a failing one stops the store from opening."""
        from zen_mlmd.errors import PreflightError

        report = self.flavor.preflight(self.config)
        if not report.ok:
            raise PreflightError(
                f"metadata store {self.name!r} ({report.target}): {report.problem}"
                + (f". Fix: {report.fix}" if report.fix else ""))

    def preflight(self, timeout: float = 5.0) -> "PreflightReport":
        """Check with a real client that the store can be reached and used.

        Through a port-forward (`kubernetes_context`, no `host`): start it,
        run the flavor's checks on its local end plus one MLMD call, stop it.
        """
        forward = self._port_forward(start_timeout=timeout)
        if forward is None:
            return self.flavor.preflight(self.config, timeout=timeout)
        from zen_mlmd.flavors.base import PreflightReport
        from zen_mlmd.stack.port_forward import PortForwardError
        from zen_mlmd.stack.port_forward_diagnosis import channel_credentials

        target = f"kubectl port-forward {forward.target}"
        try:
            forward.start()
        except PortForwardError as exc:
            return PreflightReport(False, target, {}, exc.problem, exc.fix)
        try:
            local = self.config.model_copy(update={
                "host": "127.0.0.1", "port": forward.local_port, "kubernetes_context": None})
            report = self.flavor.preflight(local, timeout=timeout)
            if report.ok:
                try:
                    forward.health_check(
                        timeout=timeout,
                        credentials=channel_credentials(self.flavor.connection_config(local)),
                        metadata=self.flavor.call_metadata(local))
                except PortForwardError as exc:
                    report = dataclasses.replace(report, ok=False, problem=exc.problem, fix=exc.fix)
                else:
                    report = dataclasses.replace(
                        report, details={**report.details, "mlmd": "answered"})
        finally:
            forward.stop()
        return dataclasses.replace(
            report, target=target,
            details={"port_forward": f"kubectl --context {forward.context}", **report.details})

    def _port_forward(self, start_timeout: float | None = None) -> "PortForward | None":
        """The port-forward this store needs (not started), or None when it is dialled directly.

        Needed when the config has a `kubernetes_context` and no `host` (the
        `kubeflow` flavor's fields; a flavor without them never needs one).
        """
        config = self.config
        context = getattr(config, "kubernetes_context", None)
        if context is None or getattr(config, "host", None) is not None:
            return None
        if getattr(self.flavor, "in_pod", lambda: False)():
            return None  # a pod dials the in-cluster service: never kubectl
        from zen_mlmd.stack.port_forward import DEFAULT_TIMEOUT, PortForward

        # kubectl may run an authentication plugin first: never give it less than the default
        timeout = max(start_timeout or 0.0, DEFAULT_TIMEOUT)
        return PortForward(context, timeout=timeout)

    def database_location(self) -> str | None:
        """Where the store's records live, to tell whether two stores share them.

        ``sqlite:/real/path`` for a file; the flavor and its location without
        the user (``mysql:host:3306/db``) for a server. None when the config
        cannot be read (an uninstalled plugin flavor).
        """
        try:
            shown = self.config.describe()
        except ZenMLMDError:
            return None
        if shown.get("path"):
            return f"{self.flavor_name}:{os.path.realpath(str(shown['path']))}"
        location = summarize_location({k: v for k, v in shown.items() if k != "user"})
        return f"{self.flavor_name}:{location}"

    def target(self) -> str:
        """Where the store is, for tables: a path, `user@host:port/db` or `host:port`. No secrets."""
        try:
            shown = self.config.describe()
        except ZenMLMDError:  # an uninstalled flavor or a now-invalid config: still listable
            return "?"
        return summarize_location(shown)

    def describe(self) -> dict[str, Any]:
        """Name, flavor and config as plain data; secret values masked."""
        return {"name": self.name, "flavor": self.flavor_name, "config": self.config.describe()}


def summarize_location(shown: Mapping[str, Any]) -> str:
    """One-line location from a masked config (`FlavorConfig.describe()` output)."""
    location = next((str(shown[f]) for f in _LOCATION_FIELDS if shown.get(f)), "")
    if not location and shown.get("kubernetes_context"):
        return f"kubectl:{shown['kubernetes_context']}/kubeflow/svc/metadata-grpc-service:8080"
    if "host" in shown or "hostaddr" in shown:
        if shown.get("port") is not None:
            location = f"{location}:{shown['port']}"
        user = shown.get("user")
        if user:
            location = f"{user}@{location}"
    database = shown.get("database") or shown.get("dbname")
    if database:
        location = f"{location}/{database}"
    return location or "-"


@dataclass(frozen=True)
class ArtifactStoreComponent:
    """A registered artifact store: a local directory (absolute) or an fsspec URL.

    Attributes:
        trusted: the user vouches for everyone who can write there, so
            artifacts in formats that run code when loaded (pickle) are read
            from it without `--trust`. The default stack's private directory
            is trusted; a registered store is not unless registered so.
    """

    name: str
    path: str
    trusted: bool = False

    def open(self) -> "ArtifactStore":
        """The artifact store object (fsspec is imported only now)."""
        from zen_mlmd.artifacts import ArtifactStore

        return ArtifactStore(self.path, trusted=self.trusted)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "trusted": self.trusted}


@dataclass(frozen=True)
class OrchestratorComponent:
    """A registered orchestrator.

    Attributes:
        name: the registered name.
        flavor: the orchestrator flavor (`local`, or a plugin's such as `kubeflow`).
        options: the options as stored (validated by the flavor when registered);
            the flavor's defaults apply to the others.
    """

    name: str
    flavor: str = "local"
    options: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Name, flavor and stored options as plain data (imports no flavor)."""
        return {"name": self.name, "flavor": self.flavor, "options": dict(self.options)}
