"""Names of pipelines, runs, steps, inputs and outputs: what is valid, and run-name defaults."""
from __future__ import annotations

import datetime as _dt
import re

from zen_mlmd.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
# Step, input and output names are joined into MLMD names with dots
# (`<run>.<step>`, `<run>.<step>.<output>.<index>`): without dots of their
# own, and starting with a letter, those names cannot collide.
_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,99}$")
_PART_KINDS = ("step", "input", "output")

def validate_name(kind: str, name: str) -> str:
    """Pipeline, run, step and output names: path- and filter-safe."""
    if kind in _PART_KINDS:
        if not isinstance(name, str) or not _PART.match(name):
            raise ConfigError(
                f"{kind}_name", name,
                "must start with a letter or '_' and use only letters, digits, '_', '-' (max 100)",
                f"rename the {kind}",
            )
        return name
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{kind}_name", name,
            "must start with a letter or digit and use only letters, digits, '_', '.', '-' (max 200)",
            f"rename the {kind}",
        )
    return name


def default_run_name(pipeline_name: str) -> str:
    """`<pipeline>-<UTC timestamp with microseconds>`: unique and sortable."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y_%m_%d-%H_%M_%S_%f")
    return f"{pipeline_name}-{stamp}"
