"""The `kubeflow` orchestrator flavor: its config, and its implementation imported lazily.

Registered under the entry-point group ``zen_mlmd.orchestrators``; importing
this module imports neither kfp nor ml-metadata.
"""
from __future__ import annotations

from typing import ClassVar, Dict, Literal, Optional, Tuple

import pydantic

from zen_mlmd.errors import ConfigError

DEFAULT_IMAGE = "python:3.11"
DEFAULT_SECRET_NAME = "zen-mlmd"


class KubeflowOrchestratorConfig(pydantic.BaseModel):
    """How pipelines are compiled for, and run on, Kubeflow Pipelines.

    Attributes:
        host: the KFP API endpoint (``https://.../pipeline``); None with `local`.
        local: run through `kfp.local` (a subprocess per task) instead of a cluster.
        namespace: the Kubernetes namespace (multi-user Kubeflow).
        experiment: the KFP experiment runs are filed under.
        image: the base image of every task. With `install_packages` each
            pod pip-installs zen-mlmd, zen-mlmd-kfp and the pipeline's
            packages at start from `pip_index_urls` (required then: these
            packages are not on PyPI); for an image that has them baked in
            (see the adapter's README), set `install_packages` false.
        packages: more requirements every task installs (the pipeline's own
            code as a distribution, libraries its steps use). A bare name is
            pinned to the version installed here.
        install_packages: each task installs zen-mlmd, zen-mlmd-kfp, the
            artifact store's fsspec backend, the distribution of the
            pipeline's module and `packages`, pinned to the versions
            installed here (False: the image has them).
        install_kfp_package: each task installs the kfp this package was
            compiled with (False: the image has it).
        pip_index_urls: package indexes the tasks install from (the first
            is the index, the others extra ones); required with
            `install_packages`, since nothing else says where zen-mlmd comes from.
        environment: plain environment variables of every task (never
            secrets: they are written into the package).
        secret_name: the Kubernetes Secret (in the run's namespace) that
            holds the value of every `${NAME}` secret reference of the
            metadata store, under the key NAME: each task gets it as the
            environment variable NAME.
        secret_environment: more environment variables every task takes from
            that Secret (object-store credentials, for example).
        pipeline_root: where KFP keeps task outputs; default: the artifact
            store's root when it is KFP-supported object storage (then KFP
            records each output where zen_mlmd wrote it), `kfp_local` under
            the artifact store for local runs.
        convention: the MLMD convention steps are recorded in: "native"
            (zen_mlmd's own) or "kfp" (Kubeflow Pipelines' schema). Default:
            native locally; on a cluster always kfp, which KFP's own driver
            and launcher write, so each run is recorded once.
        heartbeat_sec: a running step records a sign of life this often.
        stale_after_sec: a run not ended and not seen for this long reads
            interrupted (longer than a pod may wait for a node and install
            its packages).
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    host: Optional[str] = None
    local: bool = False
    namespace: Optional[str] = None
    experiment: Optional[str] = None
    image: str = DEFAULT_IMAGE
    packages: Tuple[str, ...] = ()
    install_packages: bool = True
    install_kfp_package: bool = True
    pip_index_urls: Optional[Tuple[str, ...]] = None
    environment: Dict[str, str] = pydantic.Field(default_factory=dict)
    secret_name: str = DEFAULT_SECRET_NAME
    secret_environment: Tuple[str, ...] = ()
    pipeline_root: Optional[str] = None
    convention: Optional[Literal["native", "kfp"]] = None
    heartbeat_sec: float = pydantic.Field(default=30.0, gt=0)
    stale_after_sec: float = pydantic.Field(default=600.0, gt=0)

    @pydantic.model_validator(mode="after")
    def _host_or_local(self):
        if not self.local and not self.host:
            raise ValueError("neither host nor local is set. Fix: set host to the KFP endpoint, "
                             "or local=true to run through kfp.local")
        if not self.local and self.convention == "native":
            raise ValueError("convention native on a cluster: KFP's driver and launcher record every "
                             "task in KFP's schema, so the run would be recorded twice. Fix: leave "
                             "convention unset (kfp on a cluster) or set it to kfp")
        if self.stale_after_sec <= self.heartbeat_sec:
            raise ValueError("stale_after_sec must be longer than heartbeat_sec. Fix: make it several "
                             "heartbeats long (default 600 s for a 30 s heartbeat)")
        return self

    @pydantic.field_validator("packages", "pip_index_urls", "secret_environment", mode="before")
    @classmethod
    def _listed(cls, value):
        # from the command line: `-o packages="s3fs pandas==2.2"` (commas or spaces)
        return tuple(value.replace(",", " ").split()) if isinstance(value, str) else value

    @pydantic.field_validator("environment", mode="before")
    @classmethod
    def _assignments(cls, value):
        # from the command line: `-o environment="AWS_REGION=eu-west-1,AWS_ENDPOINT_URL=https://..."`
        if not isinstance(value, str):
            return value
        pairs = [item.partition("=") for item in value.split(",") if item.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ValueError("give NAME=VALUE pairs separated by commas. Fix: environment=NAME=VALUE,...")
        return {name.strip(): setting for name, _, setting in pairs}

    @pydantic.field_validator("environment")
    @classmethod
    def _names(cls, value: Dict[str, str]) -> Dict[str, str]:
        for name in value:
            if not name.isidentifier():
                raise ValueError(f"{name!r} is not an environment variable name. Fix: use letters, "
                                 "digits and _")
        return value

    @property
    def recording_convention(self) -> str:
        """The convention runs are recorded in (see `convention`)."""
        return self.convention or ("native" if self.local else "kfp")


class KubeflowOrchestratorFlavor:
    """Runs zen_mlmd pipelines on Kubeflow Pipelines (or locally through `kfp.local`)."""

    name: ClassVar[str] = "kubeflow"
    integration: ClassVar[str] = "zen-mlmd-kfp"
    config_class: ClassVar[type[KubeflowOrchestratorConfig]] = KubeflowOrchestratorConfig

    def parse_config(self, raw) -> KubeflowOrchestratorConfig:
        """Raises ConfigError naming the bad option and the fix."""
        try:
            return KubeflowOrchestratorConfig.model_validate(dict(raw or {}))
        except pydantic.ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in error.get("loc", ())) or "host"
            if error.get("type") == "extra_forbidden":
                valid = ", ".join(KubeflowOrchestratorConfig.model_fields)
                raise ConfigError(field, error.get("input"), "unknown option for orchestrator flavor "
                                  "'kubeflow'", f"use one of: {valid}") from None
            message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
            problem, _, fix = message.partition(" Fix: ")
            if not fix:
                kind = str(error.get("type", ""))
                expected = str((error.get("ctx") or {}).get("expected", "")).replace("'", "")
                fix = (f"use one of: {expected}" if kind == "literal_error" else
                       "use true or false" if kind.startswith("bool") else f"give {field} as text")
            raise ConfigError(field, error.get("input") if field != "host" else None,
                              problem.rstrip("."), fix) from None

    def implementation(self, stack, options=None, quiet: bool = False):
        """The orchestrator for `stack` (kfp is imported when it compiles or runs)."""
        from zen_mlmd_kfp.orchestrator import KubeflowOrchestrator

        return KubeflowOrchestrator(stack, self.parse_config(options or {}), quiet=quiet)
