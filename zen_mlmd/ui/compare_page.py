"""Compare runs of a pipeline: parameters and metrics side by side, and a metric over time.

Parameters come from `compare_runs` (which reads each run once); metric
values are read without running code: Kubeflow's metrics from their
records, zen_mlmd's from their JSON files (never through a materializer).
MLMD calls: one listing of the pipeline's newest runs, then one read per
compared or charted run (a fixed number of calls each).
"""
from __future__ import annotations

import json
import math
import posixpath
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from zen_mlmd.errors import ConfigError
from zen_mlmd.post_execution.api import get_pipeline, get_run
from zen_mlmd.post_execution.compare import compare_runs, metric_sources, numbers_in
from zen_mlmd.post_execution.contents import ContentsUnavailableError, list_artifact_files, read_artifact_file
from zen_mlmd.post_execution.listing import list_runs, pipeline_names
from zen_mlmd.post_execution.runs import Run
from zen_mlmd.post_execution.session import ReadSession
from zen_mlmd.ui import charts
from zen_mlmd.ui.app import run_url
from zen_mlmd.ui.formatting import masked
from zen_mlmd.ui.preview import metric_values
from zen_mlmd.ui.run_pages import int_param

PICKER_RUNS = 50
MAX_COMPARED = 10
WINDOWS = range(2, 51)
DEFAULT_WINDOW = 20
METRIC_BYTES = 1024 * 1024


def routes(state) -> list[Route]:
    return [Route("/compare", state.page("comparison", lambda r, s: compare_page(state, r, s)), name="compare")]


def compare_page(state, request: Request, session: ReadSession) -> Response:
    params = request.query_params
    pipeline = params.get("pipeline", "").strip()
    names = list(dict.fromkeys(n for n in params.getlist("runs") if n))
    if len(names) > MAX_COMPARED:
        raise ConfigError("runs", f"{len(names)} runs", f"are more than {MAX_COMPARED} to compare at once",
                          "pick fewer runs")
    context: dict[str, Any] = {"pipeline": pipeline, "selected": names, "pipelines": pipeline_names(session),
                               "show_all": params.get("all") == "1", "window": DEFAULT_WINDOW}
    if not pipeline and names:
        pipeline = get_run(names[0], session).pipeline_name
        context["pipeline"] = pipeline
    if not pipeline:
        return state.render(request, "compare.html", candidates=[], table=None, chart=None, **context)
    get_pipeline(pipeline, session)  # an unknown pipeline is a 404 naming close ones
    candidates = list(list_runs(session, pipeline=pipeline, limit=PICKER_RUNS).runs)
    by_name = {run.name: run for run in candidates}
    runs = [by_name.get(name) or get_run(name, session) for name in names]
    table = _table(runs, context["show_all"]) if runs else None
    window = int_param(request, "window", DEFAULT_WINDOW, WINDOWS)
    metric = params.get("metric", "") or (table["metric_names"][0] if table and table["metric_names"] else "")
    chart = _chart(candidates[:window], metric, set(names)) if metric else None
    known_metrics = sorted(set(table["metric_names"] if table else []) | set(chart["metrics"] if chart else []))
    context.update(window=window, metric=metric, known_metrics=known_metrics)
    return state.render(request, "compare.html", candidates=candidates, table=table, chart=chart, **context)


def _table(runs: list[Run], show_all: bool) -> dict[str, Any]:
    """Rows of parameters and metrics, one column per run; cells that differ from the first run marked."""
    every = list(dict.fromkeys(f"{s.name}.{p}" for run in runs for s in run.steps for p in s.parameters))
    comparison = compare_runs(runs, parameters=every if show_all else None, metrics=[])
    param_columns = [c for c in comparison.columns if c not in ("run", "start_time", "status")]
    rows = []
    for column in param_columns:
        values = [masked(row.get(column), column.rsplit(".", 1)[-1]) for row in comparison.rows]
        rows.append(_row(column, values, "parameter"))
    metrics = [run_metrics(run) for run in runs]
    metric_names = list(dict.fromkeys(name for values in metrics for name in values))
    for name in metric_names:
        rows.append(_row(name, [values.get(name) for values in metrics], "metric"))
    return {"runs": runs, "rows": rows, "metric_names": metric_names,
            "differing": sum(1 for row in rows if row["differs"])}


def _row(name: str, values: list[Any], kind: str) -> dict[str, Any]:
    shown = [json.dumps(v, sort_keys=True, default=str) for v in values]
    differs = len(set(shown)) > 1
    cells = [{"value": v, "diff": differs and shown[i] != shown[0] and i > 0} for i, v in enumerate(values)]
    return {"name": name, "kind": kind, "cells": cells, "differs": differs}


def _chart(runs: list[Run], metric: str, highlighted: set[str]) -> dict[str, Any]:
    """The chart of `metric` over `runs`; runs whose value is NaN or infinite (a diverged loss)
    are left out of the drawing and named under it."""
    points, metrics = [], set()
    for run in runs:
        values = run_metrics(run)
        metrics.update(values)
        if metric in values and run.start_time is not None:
            points.append(charts.Point(run.start_time, _as_float(values[metric]), run.name, run_url(run.name),
                                       run.name in highlighted))
    drawn = charts.finite(points)
    left_out = [{"run": p.run, "url": p.url, "value": p.value} for p in points if not math.isfinite(p.value)]
    return {"svg": charts.line_chart(drawn, metric), "points": len(drawn), "runs": len(runs),
            "metrics": sorted(metrics), "left_out": left_out}


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond a float's range
        return math.copysign(math.inf, value)


def run_metrics(run: Run) -> dict[str, float]:
    """``step.output[.key]`` -> number for a run's metrics outputs, read without running code."""
    found: dict[str, float] = {}
    for column, artifact in metric_sources(run).items():  # Kubeflow's system.Metrics too
        recorded = metric_values(artifact)  # Kubeflow metrics: numbers in the artifact's record
        content = dict(recorded) if recorded else _json_numbers(artifact)
        found.update(numbers_in(column, content, bools=False))
    return found


def _json_numbers(artifact) -> Any:
    """The JSON a metrics output was written as (zen_mlmd's JSON materializer), or None."""
    try:
        files, _ = list_artifact_files(artifact, max_files=5)
        data_json = next((f for f in files if posixpath.basename(f.path) == "data.json"), None)
        if data_json is None:
            return None
        head = read_artifact_file(artifact, data_json.path, METRIC_BYTES)
    except ContentsUnavailableError:
        return None  # deleted or not readable here: the cell stays empty
    if head.truncated:
        return None
    try:
        return json.loads(head.data.decode("utf-8"))
    except ValueError:
        return None
