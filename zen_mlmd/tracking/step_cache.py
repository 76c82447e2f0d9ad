"""The cache decision for one step, shared by every orchestrator that runs steps.

The local orchestrator and the KFP task entrypoint both

1. compute the step's key with `step_key`: its fingerprint (everything the
   code reads), parameters, input identities, outputs and artifact store. A
   step whose fingerprint met a value it cannot encode is *uncacheable*: its
   key is empty (so no execution is ever matched to it, and its outputs carry
   no key), the reason is recorded on the execution (`UNCACHEABLE_PROPERTY`)
   and printed once per run (`StepKey.console_line`);
2. look the key up with `look_up`: one MLMD query, then every output of the
   matching execution is checked in the artifact store: it must exist and
   its content hash must still be the one recorded when it was written. An
   execution that fails the check is not reused (the next older one with the
   same key is tried); when none passes, the step runs and the reason is
   recorded on its execution (`MISS_REASON_PROPERTY`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from zen_mlmd.mlmd.cache_query import CachedOutputs, find_cached_executions
from zen_mlmd.tracking.caching import CacheKey, compute_cache_key
from zen_mlmd.tracking.fingerprint import Fingerprint, fingerprint

#: Execution property: why the step cannot be cached (one reason per line).
UNCACHEABLE_PROPERTY = "uncacheable"
#: Execution property: why outputs recorded under the step's key were not reused.
MISS_REASON_PROPERTY = "cache_miss_reason"
UNCACHEABLE_FIX = ("the step will run every time; pass it as a parameter or mark the step "
                   "enable_cache=False")
#: Executions with the key whose outputs are verified before the step runs instead.
MAX_VERIFIED = 3


@dataclass(frozen=True)
class StepKey:
    """A step's fingerprint and cache key."""

    fingerprint: Fingerprint
    key: CacheKey

    @property
    def cacheable(self) -> bool:
        return self.fingerprint.cacheable

    @property
    def value(self) -> str:
        """The cache key to record and look up; "" for an uncacheable step."""
        return self.key.value if self.cacheable else ""

    def properties(self) -> dict[str, Any]:
        """Execution properties to record with the step (the uncacheable reasons)."""
        if self.cacheable:
            return {}
        return {UNCACHEABLE_PROPERTY: "\n".join(self.fingerprint.uncacheable)}

    def console_line(self, step_name: str) -> str:
        """``train reads global 'session' (...) that cannot be fingerprinted: the step will run ...``"""
        reasons = self.fingerprint.uncacheable
        more = f" ({len(reasons) - 1} more: `zen-mlmd cache explain`)" if len(reasons) > 1 else ""
        return f"{step_name} {reasons[0]}: {UNCACHEABLE_FIX}{more}"


def step_key(
    func, parameters: Mapping[str, Any], inputs: Mapping[str, Sequence[str]],
    outputs: Mapping[str, str], artifact_store: str,
) -> StepKey:
    """Fingerprint `func` and compute the step's key (no MLMD call).

    Args:
        inputs: input name -> identities of the artifacts (`caching.output_identity`).
        outputs: output name -> declared materializer name.
    """
    found = fingerprint(func)
    key = compute_cache_key(found.value, parameters, inputs, outputs, artifact_store,
                            code_parts=found.parts)
    return StepKey(found, key)


@dataclass(frozen=True)
class CacheDecision:
    """What the lookup found.

    Attributes:
        hit: the outputs to reuse, or None: the step must run.
        rejected: why executions with the key were not reused ("" if none was
            rejected): missing outputs, changed contents, other outputs.
    """

    hit: CachedOutputs | None
    rejected: str = ""


def look_up(store, artifact_store, cache_key: str, wanted_outputs: set[str],
            convention=None) -> CacheDecision:
    """Find outputs to reuse for `cache_key` and verify them (one MLMD call in the native convention).

    Args:
        artifact_store: where the outputs are checked (exist, same content hash).
        wanted_outputs: the output names the step declares.
        convention: the convention the run is recorded in: each keeps what the
            cache needs where its own tools expect it (native by default).
    """
    found = (convention.find_cached_executions(store, cache_key) if convention is not None
             else find_cached_executions(store, cache_key))
    rejected = []
    for cached in found[:MAX_VERIFIED]:
        problem = verify(cached, artifact_store, wanted_outputs)
        if not problem:
            return CacheDecision(cached, "; ".join(rejected))
        rejected.append(problem)
    return CacheDecision(None, "; ".join(rejected))


def verify(cached: CachedOutputs, artifact_store, wanted_outputs: set[str]) -> str:
    """Why `cached` cannot be reused, or "" when every output is intact."""
    from zen_mlmd.artifacts.hashing import content_hash

    execution = f"execution {cached.execution_id}"
    if set(cached.outputs) != set(wanted_outputs):
        return (f"{execution} has outputs {sorted(cached.outputs)}, the step declares "
                f"{sorted(wanted_outputs)}")
    for name, artifacts in sorted(cached.outputs.items()):
        for index, artifact in enumerate(artifacts):
            output = f"output {name!r}" + (f" [{index}]" if len(artifacts) > 1 else "")
            if not artifact_store.contains(artifact.uri):  # a forged record: never opened
                return f"{output} of {execution} is outside the artifact store ({artifact.uri})"
            if not artifact_store.exists(artifact.uri):
                return f"{output} of {execution} is missing from the artifact store ({artifact.uri})"
            if not artifact.content_hash:
                continue  # written without a hash (by another orchestrator): existence is all we know
            try:
                found = content_hash(artifact.uri, artifact_store)
            except Exception as exc:  # unreadable: not reused, and the reason says why
                return f"{output} of {execution} could not be read to verify it: {type(exc).__name__}: {exc}"
            if found != artifact.content_hash:
                return (f"{output} of {execution} changed since it was written (content hash "
                        f"{_short(artifact.content_hash)} recorded, {_short(found)} found)")
    return ""


def _short(content_hash: str) -> str:
    return content_hash[:len("sha256:") + 12] + "..."
