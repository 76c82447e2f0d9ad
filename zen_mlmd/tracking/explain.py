"""Why a step ran instead of being served from the cache.

For a step of a run, compare the parts of its cache key with those of the
latest earlier execution of the same step (same pipeline and step name) and
name what changed: the code of a function, a closure variable, default,
global or class attribute (with old -> new values), a package version, a
parameter, an input, the outputs, the artifact store. A cached step names
the execution whose outputs it reused; an uncacheable step says what it
reads that cannot be fingerprinted; a step whose recorded outputs failed
verification says which output was missing or changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention_registry import writer_of
from zen_mlmd.mlmd.history import step_history
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.tracking.caching import explain_miss
from zen_mlmd.tracking.step_cache import MISS_REASON_PROPERTY, UNCACHEABLE_FIX, UNCACHEABLE_PROPERTY


@dataclass(frozen=True)
class CacheExplanation:
    step: str
    #: "hit", "miss", "uncacheable", "disabled", "not run", "not looked up"
    #: (no key recorded) or "not recorded" (another tool ran the step)
    status: str
    reasons: tuple[str, ...]
    compared_with: str = ""  # "<run>.<step> (execution N)"

    def to_dict(self) -> dict:
        return {"step": self.step, "status": self.status, "reasons": list(self.reasons),
                "compared_with": self.compared_with}


def explain_run(store: MetadataStore, run_name: str, step_name: str | None = None) -> list[CacheExplanation]:
    """Cache hit or miss, and why, for every step of a run (or one step)."""
    from zen_mlmd.errors import UnknownNameError

    reader = StoreReader(store)
    run = reader.get_run(run_name)
    if run is None:
        raise UnknownNameError("run", run_name, [r.name for r, _ in zip(reader.iter_runs(), range(100))])
    data = reader.read_run(run)
    steps = data.steps
    if step_name is not None:
        steps = tuple(s for s in steps if s.name == step_name)
        if not steps:
            raise UnknownNameError("step", step_name, [s.name for s in data.steps])
    return [_explain_step(store, run, step, data) for step in steps]


def explain_steps(store: MetadataStore, run: records.RunRecord, data: records.RunData,
                  step_ids: Iterable[int]) -> list[CacheExplanation]:
    """`explain_run` for steps of a run already read (`data`), by execution id."""
    wanted = set(step_ids)
    return [_explain_step(store, run, step, data) for step in data.steps if step.id in wanted]


def _explain_step(store, run: records.RunRecord, step: records.StepRecord, data: records.RunData) -> CacheExplanation:
    keyed = ("cache_key_parts" in step.properties or UNCACHEABLE_PROPERTY in step.properties
             or (run.convention == "native" and step.cache_key))
    if not keyed:
        return _unexplained(run, step)
    if step.state == records.CACHED:
        original = step.original_execution_id
        run_name = data.original_runs.get(original, "?")
        return CacheExplanation(step.name, "hit", ("the cache key matched a completed execution",),
                                f"{run_name}.{step.name} (execution {original})")
    if step.state == records.CANCELED:
        return CacheExplanation(step.name, "not run", (step.error_message or "canceled",))
    enabled = _cache_enabled(run.config, step.name)
    uncacheable = str(step.properties.get(UNCACHEABLE_PROPERTY) or "")
    if enabled and uncacheable:
        return CacheExplanation(step.name, "uncacheable",
                                tuple(uncacheable.splitlines()) + (UNCACHEABLE_FIX,))
    previous = step_history(store, run.pipeline_name, step.name, before_execution_id=step.id, limit=10)
    previous = [p for p in previous if p.state in (records.COMPLETE, records.CACHED)]
    current_parts = step.properties.get("cache_key_parts") or {}
    if not previous:
        reasons = explain_miss(current_parts, None)
        return CacheExplanation(step.name, "miss" if enabled else "disabled", tuple(reasons))
    before = previous[0]
    before_parts = before.properties.get("cache_key_parts") or {}
    compared = f"{before.properties.get('run_name', '?')}.{before.name} (execution {before.id})"
    if not enabled:
        return CacheExplanation(step.name, "disabled", ("caching was disabled for this run or step",), compared)
    rejected = step.properties.get(MISS_REASON_PROPERTY)
    if rejected:
        return CacheExplanation(step.name, "miss", (
            f"the cache key matched, but the recorded outputs were not reused: {rejected}",), compared)
    reasons = explain_miss(current_parts, before_parts)
    if before.cache_key == step.cache_key:
        reasons = ["the cache key matched, but the earlier outputs were missing from the "
                   "artifact store (deleted) so the step ran again"]
    return CacheExplanation(step.name, "miss", tuple(reasons), compared)


def _unexplained(run: records.RunRecord, step: records.StepRecord) -> CacheExplanation:
    """A step zen_mlmd computed no cache key for: what can be said without one."""
    if step.state == records.CANCELED:
        return CacheExplanation(step.name, "not run", (step.error_message or "canceled",))
    writer = writer_of(run.convention)
    if step.state == records.CACHED:
        return CacheExplanation(step.name, "hit", (f"{writer} served this step from its cache",))
    if run.convention == "native":
        return CacheExplanation(step.name, "not looked up", (
            "no cache key was recorded for this step, so it was not looked up in the cache",))
    reason = f"{writer} does not record why a step ran rather than being served from its cache"
    fingerprint = step.properties.get("cache_fingerprint") or step.cache_key
    if fingerprint:
        reason += f"; its cache fingerprint was {fingerprint}"
    return CacheExplanation(step.name, "not recorded", (reason,))


def _cache_enabled(config, step_name: str) -> bool:
    if not config.get("enable_cache", True):
        return False
    for step in config.get("steps", ()):
        if step.get("name") == step_name and step.get("enable_cache") is False:
            return False
    return True
