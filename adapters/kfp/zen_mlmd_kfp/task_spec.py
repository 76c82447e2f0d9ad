"""What one KFP task needs to run one step: a JSON document baked into the pipeline.

The spec names the step by import path (the task imports it: the user's
code must be importable in the task's image), the step's parameters, which
KFP input carries which step input, the stores to record into and the run
configuration. It never holds a secret: a secret option of the metadata
store must be a `${ENV_VAR}` or `file:` reference, resolved inside the task.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from zen_mlmd.errors import ConfigError
from zen_mlmd.secrets import is_reference

SPEC_VERSION = 2


@dataclass(frozen=True)
class StoreSpec:
    """The stack's stores, as a task reopens them."""

    metadata_store_name: str
    metadata_store_flavor: str
    metadata_store_options: Mapping[str, Any]
    artifact_store_name: str
    artifact_store_path: str
    #: the stack's artifact store is marked trusted (pickle inputs load without asking)
    artifact_store_trusted: bool = False


@dataclass(frozen=True)
class TaskSpec:
    """One step invocation as a KFP task runs it.

    Attributes:
        step_ref: ``module:attribute`` of the `@step` object.
        kfp_inputs: KFP input name -> (step input name, index in a list input).
        input_sources: KFP input name -> (producing step, its output name).
        upstream_parameters: producing step -> the task parameter that
            carries its `zen_mlmd` output (what it published).
        list_inputs: step inputs that take a list of artifacts.
        kfp_outputs: step output name -> KFP output name.
        step_names: every step of the pipeline (the last one to end ends the run).
        pipeline_root: KFP's pipeline root on a cluster: an output whose
            contents lie under it is recorded by KFP at their own URI.
        end_run_task: the run's end task (a cluster) ends the run, not its last step.
        heartbeat_sec, stale_after_sec: see `zen_mlmd.tracking.heartbeat`.
    """

    pipeline_name: str
    step_name: str
    step_ref: str
    parameters: Mapping[str, Any]
    kfp_inputs: Mapping[str, tuple[str, int]]
    list_inputs: tuple[str, ...]
    kfp_outputs: Mapping[str, str]
    enable_cache: bool
    convention: str
    stores: StoreSpec
    step_names: tuple[str, ...]
    image: str = ""
    run_config: Mapping[str, Any] = field(default_factory=dict)
    pipeline_source: str = ""
    input_sources: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    upstream_parameters: Mapping[str, str] = field(default_factory=dict)
    pipeline_root: str = ""
    end_run_task: bool = False
    heartbeat_sec: float | None = None
    stale_after_sec: float | None = None
    version: int = SPEC_VERSION

    def to_json(self) -> str:
        return _to_json(self)

    @classmethod
    def from_json(cls, text: str) -> "TaskSpec":
        """Raises ConfigError for a spec written by another version of this adapter."""
        data = _loaded(text)
        data["kfp_inputs"] = {k: (v[0], int(v[1])) for k, v in data["kfp_inputs"].items()}
        data["input_sources"] = {k: (v[0], v[1]) for k, v in data.get("input_sources", {}).items()}
        data["list_inputs"] = tuple(data["list_inputs"])
        data["step_names"] = tuple(data["step_names"])
        return cls(**data)


@dataclass(frozen=True)
class EndRunSpec:
    """What the run's end task needs (a cluster run; see `zen_mlmd_kfp.end_run`)."""

    pipeline_name: str
    convention: str
    stores: StoreSpec
    step_names: tuple[str, ...]
    #: step name -> its execution type (the step function's import path)
    step_types: Mapping[str, str] = field(default_factory=dict)
    run_config: Mapping[str, Any] = field(default_factory=dict)
    pipeline_source: str = ""
    heartbeat_sec: float | None = None
    stale_after_sec: float | None = None
    version: int = SPEC_VERSION

    def to_json(self) -> str:
        return _to_json(self)

    @classmethod
    def from_json(cls, text: str) -> "EndRunSpec":
        """Raises ConfigError for a spec written by another version of this adapter."""
        data = _loaded(text)
        data["step_names"] = tuple(data["step_names"])
        return cls(**data)


def _to_json(spec) -> str:
    return json.dumps(asdict(spec), sort_keys=True, separators=(",", ":"))


def _loaded(text: str) -> dict[str, Any]:
    """A spec's JSON as a dict, its version checked and its stores a `StoreSpec`."""
    data = json.loads(text)
    if data.get("version") != SPEC_VERSION:
        raise ConfigError(
            "task spec version", data.get("version"), f"this zen-mlmd-kfp reads version {SPEC_VERSION}",
            "recompile the pipeline with the zen-mlmd-kfp installed in the task image",
        )
    data["stores"] = StoreSpec(**data["stores"])
    return data


def store_spec(stack, options: Mapping[str, Any] | None = None) -> StoreSpec:
    """The stores of `stack` for a task spec.

    Args:
        options: the metadata store's options as the tasks get them
            (`cluster_checks.check_stack`); default: as registered.

    Raises:
        ConfigError: a secret option is a literal; it would be written into the
            pipeline package for anyone who can read the pipeline to see.
    """
    component = stack.metadata_store
    secrets = component.config.SECRET_FIELDS
    for name, value in component.options.items():
        if name in secrets and value is not None and not is_reference(value):
            raise ConfigError(
                f"{component.name}.{name}", "********",
                "a literal secret would be written into the compiled pipeline",
                "store it as a reference: `${ENV_VAR}` (set in the task's pod) or file:/path",
            )
    return StoreSpec(component.name, component.flavor_name,
                     dict(options if options is not None else component.options),
                     stack.artifact_store.name, stack.artifact_store.path,
                     stack.artifact_store.trusted)
