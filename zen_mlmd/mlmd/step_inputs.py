"""A step's inputs as the writer links them: artifact ids, or `OutputRef`s to
outputs whose publish is held back (written in the same call, or earlier)."""
from __future__ import annotations

import dataclasses
from typing import Iterator, Mapping, Union

from zen_mlmd.errors import ConfigError
from zen_mlmd.mlmd import records

Input = Union[int, records.OutputRef]


def input_items(step: records.StepStart) -> Iterator[tuple[str, int, Input]]:
    """(input name, index, artifact id or ref) of each input artifact, each artifact once.

    MLMD keeps one event per (artifact, execution, type): an artifact passed
    to two inputs is linked once, by the first.
    """
    seen = set()
    for name, items in step.inputs.items():
        for index, item in enumerate(items):
            if item not in seen:
                seen.add(item)
                yield name, index, item


def names_pending(step: records.StepStart) -> bool:
    """Whether an input of `step` is an `OutputRef` (not an artifact id yet)."""
    return any(isinstance(i, records.OutputRef) for ids in step.inputs.values() for i in ids)


def resolved(step: records.StepStart, published: Mapping[records.OutputRef, int],
             pending=()) -> records.StepStart:
    """`step` with its `OutputRef` inputs replaced by the artifact ids in `published`.

    Refs in `pending` (outputs written in the same call) stay refs.

    Raises:
        ConfigError: an input names an output that is neither published nor pending.
    """
    if not names_pending(step):
        return step
    inputs = {}
    for name, ids in step.inputs.items():
        items = []
        for item in ids:
            if isinstance(item, records.OutputRef) and item not in pending:
                if item not in published:
                    raise ConfigError(
                        f"inputs.{name}", f"{item.output_name}[{item.index}] of execution "
                        f"{item.execution_id}", "that output is not published yet",
                        "publish the producing step before starting its consumers")
                item = published[item]
            items.append(item)
        inputs[name] = tuple(items)
    return dataclasses.replace(step, inputs=inputs)
