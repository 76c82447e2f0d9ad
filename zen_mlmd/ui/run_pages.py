"""The runs page, a run's page, a step's details and a running run's statuses (JSON).

MLMD calls per request (what the tests count): the runs page is one listing
call per 100 runs looked at plus one step-state query per page (and the
pipeline chooser's one call); a run's page reads the run once (a fixed
number of calls) plus the selected step's cache history; the status
endpoint reads the run's steps again.
"""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zen_mlmd.errors import ConfigError, UnknownNameError
from zen_mlmd.post_execution import status as _status
from zen_mlmd.post_execution.api import get_run, writer_of
from zen_mlmd.post_execution.listing import list_runs, pipeline_names
from zen_mlmd.post_execution.runs import Run
from zen_mlmd.post_execution.session import ReadSession
from zen_mlmd.post_execution.views import Step
from zen_mlmd.ui import graph
from zen_mlmd.ui.formatting import masked, masked_text

PAGE_SIZES = (25, 50, 100)
#: Step properties shown elsewhere on the page, or too long to be read there.
_HIDDEN_PROPERTIES = frozenset({"cache_key_parts", "error_traceback", "run_name", "inputs", "outputs",
                                "display_name", "task_name", "step_name"})


def routes(state) -> list[Route]:
    return [
        Route("/runs", state.page("runs", lambda r, s: runs_page(state, r, s)), name="runs"),
        Route("/runs/{name:path}", state.page("run", lambda r, s: run_page(state, r, s)), name="run"),
        Route("/steps/{execution_id:int}", state.page("step", lambda r, s: step_fragment(state, r, s)),
              name="step"),
        Route("/api/runs/{name:path}", state.page("run", run_status), name="run_status"),
    ]


def int_param(request: Request, name: str, default: int, allowed: tuple[int, ...] | range) -> int:
    """An integer query parameter among `allowed`.

    Raises:
        ConfigError: not an integer, or not allowed (the message lists what is).
    """
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        number = int(raw)
    except ValueError:
        number = None
    if number is None or number not in allowed:
        shown = f"{allowed.start} to {allowed.stop - 1}" if isinstance(allowed, range) else \
            ", ".join(map(str, allowed))
        raise ConfigError(name, raw, "is not a valid value", f"use one of {shown}")
    return number


def runs_page(state, request: Request, session: ReadSession) -> Response:
    params = request.query_params
    pipeline = params.get("pipeline", "").strip() or None
    statuses = [s for s in params.getlist("status") if s]
    search = params.get("q", "").strip()
    limit = int_param(request, "limit", PAGE_SIZES[0], PAGE_SIZES)
    page = list_runs(session, pipeline=pipeline, statuses=statuses, name_contains=search,
                     cursor=params.get("cursor") or None, limit=limit)
    now = _dt.datetime.now(_dt.timezone.utc)
    rows = [_run_row(run, now) for run in page.runs]
    filters = {"pipeline": pipeline or "", "status": statuses, "q": search, "limit": limit}
    return state.render(request, "runs.html", page=page, rows=rows, filters=filters,
                        pipelines=pipeline_names(session), run_statuses=_status.RUN_STATUSES,
                        page_sizes=PAGE_SIZES, filtered=bool(pipeline or statuses or search),
                        first_page=not params.get("cursor"), writer_of=writer_of)


def _run_row(run: Run, now: _dt.datetime) -> dict[str, Any]:
    status = run.status
    duration = run.duration
    if duration is None and status == _status.RUNNING and run.start_time is not None:
        duration = now - run.start_time
    return {"name": run.name, "pipeline": run.pipeline_name, "status": status, "start": run.start_time,
            "duration": duration, "convention": run.convention, "run_id": run.run_id}


def run_page(state, request: Request, session: ReadSession) -> Response:
    run = _find_run(session, request.path_params["name"])
    steps = list(run.steps)
    selected = _selected_step(request, steps)
    elements = graph.run_elements(run.dag())
    config = run.config
    parameters = config.get("parameters") if isinstance(config.get("parameters"), dict) else {}
    status = run.status
    ended, took = run.end_time, run.duration
    if ended is None and status not in (_status.RUNNING, _status.INTERRUPTED):
        # other tools (KFP, TFX) record no run end: the last step's end stands for it
        ends = [s.end_time for s in steps if s.end_time is not None]
        ended = max(ends) if ends else None
        took = ended - run.start_time if ended and run.start_time else None
    return state.render(
        request, "run.html", run=run, status=status, ended=ended, took=took, steps=steps, step_rows=[_step_row(s) for s in steps],
        elements_json=graph.script_json(elements), parameters=masked(dict(parameters)),
        properties=masked(dict(run.properties)), config_json=json.dumps(masked(dict(config)), indent=2,
                                                                          default=str, sort_keys=True),
        selected_html=_step_html(state, run, selected) if selected is not None else "",
        status_url="/api/runs/" + quote(run.name, safe=":@"),
        polling=status == _status.RUNNING, writer=writer_of(run.convention),
        counts=_status_counts(steps),
    )


def step_fragment(state, request: Request, session: ReadSession) -> Response:
    """One step's details, as the run page's side panel loads them (HTML without the page around it)."""
    run_name = request.query_params.get("run", "")
    if not run_name:
        raise ConfigError("run", run_name, "is missing", "add ?run=RUN_NAME to the address")
    run = _find_run(session, run_name)
    execution_id = request.path_params["execution_id"]
    step = next((s for s in run.steps if s.id == execution_id), None)
    if step is None:
        raise UnknownNameError(f"step of run {run.name!r}", str(execution_id), [str(s.id) for s in run.steps],
                               fix="open the run's page and pick a step in its graph")
    return state.render(request, "step.html", **_step_context(run, step))


def _step_html(state, run: Run, step: Step):
    from markupsafe import Markup

    return Markup(state.templates.get_template("step.html").render(**_step_context(run, step)))


def run_status(request: Request, session: ReadSession) -> Response:
    """The run's status and its steps' statuses by execution id, for the page of a running run."""
    run = _find_run(session, request.path_params["name"])
    return JSONResponse({
        "run": run.name, "status": run.status,
        "steps": {str(step.id): step.status for step in run.steps},
    }, headers={"Cache-Control": "no-store"})


def _find_run(session: ReadSession, name: str) -> Run:
    try:
        return get_run(name, session)
    except UnknownNameError as error:
        raise UnknownNameError("run", name, error.known or None,
                               fix="pick a run on the runs page (/runs)") from None


def _selected_step(request: Request, steps: list[Step]) -> Step | None:
    wanted = request.query_params.get("step")
    if wanted:
        for step in steps:
            if wanted in (step.name, str(step.id)):
                return step
        raise UnknownNameError("step", wanted, [s.name for s in steps],
                               fix="pick a step in the run's graph")
    # the first failed step is what people open a failed run for
    return next((s for s in steps if s.status == _status.FAILED), None)


def _step_row(step: Step) -> dict[str, Any]:
    original = step.original if step.is_cached else None
    return {"step": step, "original": original, "outputs": sum(
        len(v) if isinstance(v, tuple) else 1 for v in step.outputs.values())}


def _step_context(run: Run, step: Step) -> dict[str, Any]:
    properties = {k: v for k, v in step.properties.items()
                  if k not in _HIDDEN_PROPERTIES and not k.startswith("__")}
    return {
        "run": run, "step": step, "original": step.original if step.is_cached else None,
        "explanation": _explanation(run, step), "parameters": masked(dict(step.parameters)),
        "properties": masked(properties), "inputs": _artifact_list(step.inputs),
        "outputs": _artifact_list(step.outputs), "writer": writer_of(run.convention),
    }


def _explanation(run: Run, step: Step) -> dict[str, Any]:
    """The cache decision of a step, and why (`zen_mlmd.tracking.explain`).

    The reasons show the old and new values of what changed: masked as the
    parameter table beside them is.
    """
    explained = run.explain_cache(step)
    return {"status": explained.status, "reasons": [masked_text(reason) for reason in explained.reasons],
            "compared_with": explained.compared_with}


def _artifact_list(artifacts) -> list[tuple[str, Any]]:
    listed = []
    for name, value in artifacts.items():
        for artifact in (value if isinstance(value, tuple) else (value,)):
            listed.append((name, artifact))
    return listed


def _status_counts(steps: list[Step]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.status] = counts.get(step.status, 0) + 1
    return sorted(counts.items(), key=lambda item: _status.STEP_STATUSES.index(item[0])
                  if item[0] in _status.STEP_STATUSES else 99)
