"""Cache keys for steps, and why a key differs from an earlier one.

A step's cache key is the sha256 of, in canonical JSON:

* ``version``: `KEY_VERSION`, the version of this recipe;
* ``code``: the step's code fingerprint (`fingerprint.Fingerprint.value`):
  its code and everything else it can read besides its inputs and
  parameters (closures, defaults, globals, class attributes, the versions of
  the packages it calls, the Python version);
* ``parameters``: its parameters;
* ``inputs``: for every input, the cache key of the step that produced it
  and the output name: the *content identity* of the input, so that an
  upstream step served from the cache does not invalidate its consumers.
  A step that is not cached (declared ``enable_cache=False``, or
  uncacheable) is taken to be non-deterministic: its outputs are identified
  by their content hash instead, so its consumers rerun exactly when its
  outputs changed;
* ``outputs``: the declared output names and materializers;
* ``artifact_store``: the root of the artifact store the outputs live in.

The parts are recorded with the execution so that a miss can be explained
(`explain_miss`), together with ``code_parts``: a bounded summary of what the
fingerprint read (per function, value and package, a short digest and a
preview), which says *which* closure, default or global changed. The
summary explains; it is not hashed (``code`` covers all of it).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from zen_mlmd.tracking.value_preview import describe_change

KEY_PARTS = ("code", "parameters", "inputs", "outputs", "artifact_store")
#: Bumped whenever how keys or code fingerprints are computed changes, so that
#: entries written under the old rules are not matched (they miss once) and
#: the miss is explained as an upgrade. 2: fingerprints read closures,
#: defaults, globals, class attributes and package versions. 3: class attributes
#: holding code, objects behind library methods and pandas object cells are hashed.
KEY_VERSION = 3
#: How many reasons `explain_miss` lists for a changed fingerprint.
MAX_CODE_REASONS = 8


@dataclass(frozen=True)
class CacheKey:
    """A cache key (sha256 hex) and the parts it was computed from."""

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
    code_parts: Mapping[str, Any] | None = None,
) -> CacheKey:
    """The cache key of a step from its parts (see the module docstring).

    Args:
        inputs: input name -> ["<producer cache key>:<output name>", ...].
        outputs: output name -> declared materializer name ("auto" if chosen by type).
        code_parts: `Fingerprint.parts`, recorded to explain a miss (not hashed).
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
    if code_parts:
        parts["code_parts"] = dict(code_parts)
    return CacheKey(digest, parts)


def output_identity(producer_cache_key: str, output_name: str, content_hash: str | None = None) -> str:
    """How a consumer's cache key names one input (see the module docstring).

    Args:
        content_hash: given for an output of a step that is not cached
            (taken to be non-deterministic): the identity is then its
            content, so new contents invalidate consumers.
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
            changed.extend(explain_code_change(current.get("code_parts"), previous.get("code_parts")))
        elif part == "outputs":
            changed.append(f"outputs or materializers changed ({before} -> {now})")
        else:
            changed.append(f"the artifact store changed ({before} -> {now})")
    return changed or ["the cache key is unchanged: the outputs were missing or caching was off"]


def explain_code_change(current: Mapping[str, Any] | None, previous: Mapping[str, Any] | None) -> list[str]:
    """What differs between two fingerprints' `code_parts`, in plain words.

    Names the function whose code changed, the closure variable, default,
    global or class attribute whose value changed (with old -> new values
    as far as their previews show them), a package or Python version.
    """
    current, previous = current or {}, previous or {}
    reasons = []
    if current.get("python") and previous.get("python") and current["python"] != previous["python"]:
        reasons.append(f"Python changed: {previous['python']} -> {current['python']}")
    now, before = current.get("reads") or {}, previous.get("reads") or {}
    for label in list(now) + [label for label in before if label not in now]:
        old, new = before.get(label), now.get(label)
        if old is not None and new is not None and old.get("digest") == new.get("digest"):
            continue
        reasons.append(_describe_read(label, old, new))
    if len(reasons) > MAX_CODE_REASONS:
        reasons = reasons[:MAX_CODE_REASONS] + [f"and {len(reasons) - MAX_CODE_REASONS} more changes"]
    return reasons or ["the step's code changed"]


def _describe_read(label: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> str:
    kind = (new or old or {}).get("kind")
    if kind == "package":
        return (f"{label} changed: {(old or {}).get('shown', 'absent')} -> "
                f"{(new or {}).get('shown', 'absent')}")
    if old is None:
        return f"the step now reads {label}" + (
            f" ({_shown_text(new)})" if kind == "value" else "")
    if new is None:
        return f"the step no longer reads {label}"
    if kind == "code":
        return f"the code of {label} changed"
    details = describe_change(old.get("shown"), new.get("shown"))
    return f"{label} changed: {details}" if details else \
        f"{label} changed (digest {old.get('digest')} -> {new.get('digest')})"


def _shown_text(entry: Mapping[str, Any] | None) -> str:
    shown = (entry or {}).get("shown") or {}
    if isinstance(shown, Mapping) and set(shown) == {""}:
        return str(shown[""])
    return ", ".join(f"{k} {v}" for k, v in list(shown.items())[:5]) if isinstance(shown, Mapping) else str(shown)
