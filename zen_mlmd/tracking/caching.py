"""Cache keys for steps, and the decision to reuse an earlier execution.

A step's cache key is the sha256 of, in canonical JSON:

* ``code``: the fingerprint of the step's code (`fingerprint.code_fingerprint`);
* ``parameters``: its parameters;
* ``inputs``: for every input, the cache key of the step that produced it
  and the output name: the *content identity* of the input, so that an
  upstream step served from the cache does not invalidate its consumers.
  A step declared with ``enable_cache=False`` is taken to be
  non-deterministic: its outputs are identified by their content hash
  instead, so its consumers rerun exactly when its outputs changed;
* ``outputs``: the declared output names and materializers;
* ``artifact_store``: the root of the artifact store the outputs live in.

The parts are recorded with the execution so that a miss can be explained
(`explain_miss`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

KEY_PARTS = ("code", "parameters", "inputs", "outputs", "artifact_store")
#: Bumped whenever how keys or code fingerprints are computed changes, so that
#: a miss caused by an upgrade of zen_mlmd is explained as such.
KEY_VERSION = 1


@dataclass(frozen=True)
class CacheKey:
    value: str
    parts: Mapping[str, Any]


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values, equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)


def compute_cache_key(
    code: str,
    parameters: Mapping[str, Any],
    inputs: Mapping[str, Sequence[str]],
    outputs: Mapping[str, str],
    artifact_store: str,
) -> CacheKey:
    """The cache key of a step from its parts (see the module docstring).

    Args:
        inputs: input name -> ["<producer cache key>:<output name>", ...].
        outputs: output name -> declared materializer name ("auto" if chosen by type).
    """
    parts = {
        "version": KEY_VERSION,
        "code": code,
        "parameters": canonical_json(parameters),
        "inputs": {name: list(ids) for name, ids in sorted(inputs.items())},
        "outputs": dict(sorted(outputs.items())),
        "artifact_store": artifact_store,
    }
    digest = hashlib.sha256(canonical_json(parts).encode()).hexdigest()
    return CacheKey(digest, parts)


def output_identity(producer_cache_key: str, output_name: str, content_hash: str | None = None) -> str:
    """How a consumer's cache key names one input (see the module docstring).

    Args:
        content_hash: given for an output of a step declared
            ``enable_cache=False`` (taken to be non-deterministic): the
            identity is then its content, so new contents invalidate consumers.
    """
    if content_hash:
        return f"content:{content_hash}"
    return f"{producer_cache_key}:{output_name}"


def explain_miss(current: Mapping[str, Any], previous: Mapping[str, Any] | None) -> list[str]:
    """Which parts of a cache key changed since `previous`, in plain words."""
    if not previous:
        return ["no earlier execution of this step was recorded"]
    if previous.get("version") != current.get("version"):
        return [f"zen_mlmd computes cache keys differently since that execution (key version "
                f"{previous.get('version', 0)} -> {current.get('version')}); the step itself "
                "may be unchanged"]
    changed = []
    for part in KEY_PARTS:
        before, now = previous.get(part), current.get(part)
        if before == now:
            continue
        if part == "parameters":
            old = json.loads(before) if isinstance(before, str) else (before or {})
            new = json.loads(now) if isinstance(now, str) else (now or {})
            names = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in names)
            changed.append(f"parameters changed ({details})")
        elif part == "inputs":
            old, new = before or {}, now or {}
            names = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            changed.append(f"inputs changed ({', '.join(names)}): an upstream step produced new outputs")
        elif part == "code":
            changed.append("the step's code changed")
        elif part == "outputs":
            changed.append(f"outputs or materializers changed ({before} -> {now})")
        else:
            changed.append(f"the artifact store changed ({before} -> {now})")
    return changed or ["the cache key is unchanged: the outputs were missing or caching was off"]
