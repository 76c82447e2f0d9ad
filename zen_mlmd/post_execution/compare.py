"""Compare runs over time: their parameters and metrics side by side.

One row per run. Parameter columns are ``<step>.<parameter>``; by default
only the parameters whose values differ across the runs are shown. Metric
columns are ``<step>.<output>.<key>`` for every number in a METRICS artifact
(a dict of numbers, read through its materializer) and ``<step>.<output>``
for outputs that are plain numbers. Each run is read once (a fixed number of
MLMD calls per run, not per step); metric contents come from the artifact store.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from zen_mlmd.errors import UnknownNameError, ZenMLMDError

if TYPE_CHECKING:
    from zen_mlmd.mlmd.store import MetadataStore
    from zen_mlmd.post_execution.runs import Run
    from zen_mlmd.post_execution.views import Artifact

FIXED_COLUMNS = ("run", "start_time", "status")
#: Data types whose outputs are compared as scalar metrics.
SCALAR_TYPES = ("builtins.int", "builtins.float", "builtins.bool")
MISSING = None


@dataclass(frozen=True)
class Comparison:
    """A table of runs: `columns` in order, `rows` as dicts keyed by column (None: no value)."""

    columns: tuple[str, ...]
    rows: tuple[Mapping[str, Any], ...]

    def to_text(self) -> str:
        """An aligned plain-text table."""
        cells = [list(self.columns)] + [[_cell(row.get(c)) for c in self.columns] for row in self.rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(self.columns))]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip()
                         for line in cells) + "\n"

    def to_dataframe(self):
        """The table as a pandas DataFrame (one row per run, indexed by run name).

        Raises:
            ZenMLMDError: pandas is not installed.
        """
        try:
            import pandas
        except ImportError:
            raise ZenMLMDError("Comparison.to_dataframe() needs pandas, which is not installed. "
                               "Fix: `pip install pandas`, or use .rows / .to_text()") from None
        return pandas.DataFrame([dict(row) for row in self.rows], columns=list(self.columns)).set_index("run")

    def to_records(self) -> list[dict[str, Any]]:
        """Rows as JSON-ready dicts (times as ISO 8601 strings)."""
        return [{c: (row.get(c).isoformat() if hasattr(row.get(c), "isoformat") else row.get(c))
                 for c in self.columns} for row in self.rows]


def compare_runs(
    runs: Iterable["Run | str"],
    parameters: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    store: "MetadataStore | None" = None,
    trusted: bool = False,
) -> Comparison:
    """Compare runs: one row per run with the chosen parameters and metrics.

    Args:
        runs: `Run` views, or run names (read from `store`).
        parameters: ``step.param`` columns to show; None shows every
            parameter whose value differs across the runs.
        metrics: ``step.output.key`` / ``step.output`` columns to show;
            None shows every metric found.
        store: where to find runs given by name (None: the active stack's store).
        trusted: read metrics artifacts whose format runs code when loaded
            (pickle) even from stores not marked trusted (see `Artifact.read`).

    Raises:
        UnknownNameError: a run, parameter or metric column does not exist;
            the message suggests close names.
    """
    resolved = _resolve_runs(runs, store)
    param_values = [_parameters(run) for run in resolved]
    all_params = _ordered(param_values)
    if parameters is None:
        chosen_params = [c for c in all_params
                         if len({repr(values.get(c, MISSING)) for values in param_values}) > 1]
    else:
        chosen_params = _checked("parameter", parameters, all_params)
    run_sources = [metric_sources(run) for run in resolved]
    known_metrics = _ordered(run_sources)
    if metrics is not None:
        metric_values = [_read_metrics(sources, metrics, trusted) for sources in run_sources]
        known = _ordered(metric_values) + known_metrics
        chosen_metrics = _checked("metric", metrics, known)
    else:
        metric_values = [_read_metrics(sources, None, trusted) for sources in run_sources]
        chosen_metrics = _ordered(metric_values)
    rows = []
    for run, params, values in zip(resolved, param_values, metric_values):
        row = {"run": run.name, "start_time": run.start_time, "status": run.status}
        row.update({c: params.get(c, MISSING) for c in chosen_params})
        row.update({c: values.get(c, MISSING) for c in chosen_metrics})
        rows.append(row)
    return Comparison((*FIXED_COLUMNS, *chosen_params, *chosen_metrics), tuple(rows))


def _resolve_runs(runs: Iterable["Run | str"], store) -> list["Run"]:
    from zen_mlmd.post_execution.api import get_run
    from zen_mlmd.post_execution.session import open_session

    session = None
    resolved = []
    for run in runs:
        if isinstance(run, str):
            session = session or open_session(store)
            run = get_run(run, session)
        resolved.append(run)
    return resolved


def _parameters(run: "Run") -> dict[str, Any]:
    return {f"{step.name}.{name}": value for step in run.steps
            for name, value in step.parameters.items()}


def metric_sources(run: "Run") -> dict[str, "Artifact"]:
    """``step.output`` -> artifact, for METRICS artifacts and scalar outputs (no MLMD call beyond the run's read)."""
    found = {}
    for step in run.steps:
        for output, value in step.outputs.items():
            for artifact in (value if isinstance(value, tuple) else (value,)):
                if artifact.base_type == "METRICS" or artifact.data_type in SCALAR_TYPES:
                    found.setdefault(f"{step.name}.{output}", artifact)
    return found


def _read_metrics(sources: Mapping[str, "Artifact"], wanted: Sequence[str] | None,
                  trusted: bool = False) -> dict[str, Any]:
    """Metric values by column; with `wanted`, only the artifacts those columns come from are read."""
    values: dict[str, Any] = {}
    for column, artifact in sources.items():
        if wanted is not None and not any(w == column or w.startswith(column + ".") for w in wanted):
            continue
        try:
            content = artifact.read(trusted=trusted)
        except ZenMLMDError:
            continue  # deleted contents: the cell stays empty rather than failing the table
        values.update(numbers_in(column, content))
    return values


def numbers_in(column: str, content: Any, *, bools: bool = True) -> dict[str, Any]:
    """``column[.key.subkey]`` -> value for the numbers in a metrics output's `content`.

    `content` is a number, or a (nested) mapping whose number leaves are kept;
    anything else gives nothing. Booleans count unless `bools` is False (a chart).
    """
    def is_number(value: Any) -> bool:
        if isinstance(value, bool):
            return bools
        return isinstance(value, numbers.Real)

    if is_number(content):
        return {column: content}
    found: dict[str, Any] = {}
    if isinstance(content, Mapping):
        for key, value in content.items():
            if isinstance(value, Mapping):
                found.update(numbers_in(f"{column}.{key}", value, bools=bools))
            elif is_number(value):
                found[f"{column}.{key}"] = value
    return found


def _ordered(dicts: Iterable[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for d in dicts for key in d))


def _checked(kind: str, names: Sequence[str], known: Sequence[str]) -> list[str]:
    for name in names:
        if name not in known:
            raise UnknownNameError(kind, name, known)
    return list(dict.fromkeys(names))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        text = f"{value:.6g}"
        # a float stays visibly a float (1.0, not 1), as `run describe` shows it
        return text if any(c in text for c in ".eEn") else text + ".0"
    return str(value)
