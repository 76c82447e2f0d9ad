"""The `kubeflow` orchestrator flavor: its config, and its implementation imported lazily.

Registered under the entry-point group ``zen_mlmd.orchestrators``; importing
this module imports neither kfp nor ml-metadata.
"""
from __future__ import annotations

from typing import ClassVar, Literal, Optional

import pydantic

from zen_mlmd.errors import ConfigError

DEFAULT_IMAGE = "python:3.11"


class KubeflowOrchestratorConfig(pydantic.BaseModel):
    """How pipelines are compiled for, and run on, Kubeflow Pipelines.

    Attributes:
        host: the KFP API endpoint (``https://.../pipeline``); None with `local`.
        local: run through `kfp.local` (a subprocess per task) instead of a cluster.
        namespace: the Kubernetes namespace (multi-user Kubeflow).
        experiment: the KFP experiment runs are filed under.
        image: the image of every task; on a cluster it must contain
            zen-mlmd, zen-mlmd-kfp, kfp and the pipeline's code.
        pipeline_root: where KFP keeps task outputs (here only small pointers
            to the zen_mlmd artifact store); default: `kfp_local` under the
            artifact store for local runs, the cluster's default otherwise.
        convention: the MLMD convention steps are recorded in: "native"
            (zen_mlmd's own) or "kfp" (Kubeflow Pipelines' schema).
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    host: Optional[str] = None
    local: bool = False
    namespace: Optional[str] = None
    experiment: Optional[str] = None
    image: str = DEFAULT_IMAGE
    pipeline_root: Optional[str] = None
    convention: Literal["native", "kfp"] = "native"

    @pydantic.model_validator(mode="after")
    def _host_or_local(self):
        if not self.local and not self.host:
            raise ValueError("neither host nor local is set. Fix: set host to the KFP endpoint, "
                             "or local=true to run through kfp.local")
        return self


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
