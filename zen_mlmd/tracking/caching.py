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

Secrets are never recorded in the parts nor shown in an explanation: the
recorded ``parameters`` hold, for a parameter with a secret-looking name (or
a URL's password), ``********`` and a short digest, so that a change still
shows; previews of values read under such names are masked (`value_preview`).
The key itself is computed from the real values.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from zen_mlmd.secrets import SECRET_MASK, is_secret_key, masked, masked_text
from zen_mlmd.tracking.value_preview import MORE, describe_change, mask_preview, masked_paths

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
    parts["parameters"] = canonical_json(masked(dict(parameters), mask=_secret_marker))  # as recorded
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
            details = ", ".join(f"{k}: {masked(old.get(k), k)!r} -> {masked(new.get(k), k)!r}"
                                for k in names)
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
            changed.append(masked_text(f"the artifact store changed ({before} -> {now})"))
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
            f" ({_shown_text(label, new)})" if kind == "value" else "")
    if new is None:
        return f"the step no longer reads {label}"
    if kind == "code":
        return f"the code of {label} changed"
    # previews recorded by older versions may hold secrets: masked here too
    before, after = (mask_preview(e.get("shown") or {}, _secret_label(label)) for e in (old, new))
    details = describe_change(before, after)
    if details:
        return f"{label} changed: {details}"
    hidden = masked_paths(after)
    if len(hidden) == 1 and MORE not in after:
        return f"{label} changed: {hidden[0] + ' ' if hidden[0] else ''}{SECRET_MASK} -> {SECRET_MASK}"
    if hidden:
        return f"{label} changed: one of its secret values ({', '.join(p or 'value' for p in hidden)})"
    return f"{label} changed (digest {old.get('digest')} -> {new.get('digest')})"


def _secret_marker(secret: Any) -> str:
    """What the recorded parts hold for a secret: a mask and a short digest, so a change shows."""
    return f"{SECRET_MASK}sha256:{hashlib.sha256(canonical_json(secret).encode()).hexdigest()[:12]}"


def _secret_label(label: str) -> bool:
    """Whether a read (``global API_TOKEN``, ``default password of mod.f``) names a secret."""
    return is_secret_key(re.split(r"[ .]", label.partition(" of ")[0])[-1])


def _shown_text(label: str, entry: Mapping[str, Any] | None) -> str:
    shown = mask_preview((entry or {}).get("shown") or {}, _secret_label(label))
    if isinstance(shown, Mapping) and set(shown) == {""}:
        return str(shown[""])
    return ", ".join(f"{k} {v}" for k, v in list(shown.items())[:5]) if isinstance(shown, Mapping) else str(shown)
