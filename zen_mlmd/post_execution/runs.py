"""Read-only views of pipelines and runs, and the lazy list of a pipeline's runs."""
from __future__ import annotations


import datetime as _dt
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from zen_mlmd.errors import UnknownNameError
from zen_mlmd.mlmd import records
from zen_mlmd.post_execution import status as _status
from zen_mlmd.post_execution.views import RecordIndex, Step, StepList, frozen, to_datetime

if TYPE_CHECKING:
    from zen_mlmd.post_execution.lineage import LineageGraph
    from zen_mlmd.tracking.explain import CacheExplanation
    from zen_mlmd.post_execution.session import ReadSession

#: Runs are fetched this many at a time (MLMD's page cap).
PAGE_SIZE = 100


class _StepStates:
    """Step states (and last-seen times) of one page of runs, fetched together on first need (one query)."""

    __slots__ = ("_session", "_runs", "_states", "_seen")

    def __init__(self, session: "ReadSession", runs: list[records.RunRecord]):
        self._session = session
        self._runs = runs
        self._states: dict[int, tuple[str, ...]] | None = None
        self._seen: dict[int, int] = {}

    def of(self, run: records.RunRecord) -> tuple[str, ...]:
        self._fetch()
        return self._states.get(run.id, ())

    def last_seen(self, run: records.RunRecord) -> int | None:
        self._fetch()
        return self._seen.get(run.id)

    def _fetch(self) -> None:
        if self._states is None:
            self._states, self._seen = self._session.reader.run_activity(self._runs)


class Run:
    """One pipeline run. Its steps are read once, on first use, in a bounded number of calls.

    Attributes (read-only):
        status: "running", "completed", "failed", "interrupted", "cached"
            (every step served from the cache) or "unknown".
        config: the configuration snapshot recorded when the run started
            (pipeline parameters, steps in DAG order, stack, versions).
    """

    __slots__ = ("_session", "_record", "_data", "_steps", "_states")

    def __init__(self, session: "ReadSession", record: records.RunRecord,
                 data: records.RunData | None = None, states: _StepStates | None = None):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_record", record)
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_steps", None)
        object.__setattr__(self, "_states", states)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Run is read-only; cannot set {name!r}")

    # -- what the run context says (no MLMD call) ----------------------------------------
    @property
    def id(self) -> int:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def pipeline_name(self) -> str:
        return self._record.pipeline_name

    @property
    def run_id(self) -> str:
        """The writer's own id of the run (Kubeflow Pipelines' run ID), "" for writers without one.

        `get_run` finds a run by this id too.
        """
        return self._record.run_id

    @property
    def config(self) -> Mapping[str, Any]:
        return frozen(self._record.config)

    @property
    def convention(self) -> str:
        """The convention the run was recorded in: "native", "kfp", "tfx", ..."""
        return self._record.convention

    @property
    def properties(self) -> Mapping[str, Any]:
        """What the writer recorded on the run's context besides its config (KFP's namespace, ...)."""
        return frozen(self._record.properties)

    @property
    def start_time(self) -> _dt.datetime | None:
        return to_datetime(self._record.created_ms)

    @property
    def end_time(self) -> _dt.datetime | None:
        """When the run ended (UTC); None while running or when it was interrupted."""
        return to_datetime(self._record.end_ms)

    @property
    def soft_deleted(self) -> bool:
        """Whether a soft delete marked the run.

        A store reached over plain gRPC (a Kubeflow metadata service) deletes
        softly: the rows remain. Listings hide such runs; `get_run` finds them.
        """
        return bool(self._record.deleted_at)

    @property
    def deleted_at(self) -> _dt.datetime | None:
        """When a soft delete marked the run (UTC); None if none did (or the time is unreadable)."""
        try:
            return _dt.datetime.strptime(self._record.deleted_at, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=_dt.timezone.utc)
        except ValueError:
            return None

    @property
    def duration(self) -> _dt.timedelta | None:
        end = self.end_time
        return end - self.start_time if end is not None and self.start_time else None

    @property
    def status(self) -> str:
        record = self._record
        if not _status.needs_step_states(record):
            return _status.run_status(record)
        if self._data is not None or self._states is None:
            return _status.run_status(record, [s.state for s in self.data.steps], self.last_seen_ms)
        return _status.run_status(record, self._states.of(record), self._states.last_seen(record))

    @property
    def last_seen_ms(self) -> int | None:
        """When the run was last seen, in ms since the epoch: the newest write of its steps.

        What a reader judges a run with no end by, when its steps run on
        other hosts (`zen_mlmd.tracking.heartbeat`).
        """
        if self._data is None and self._states is not None:
            return self._states.last_seen(self._record)
        steps = self.data.steps
        return max([self._record.updated_ms, *(s.updated_ms for s in steps)])

    @property
    def last_seen(self) -> _dt.datetime | None:
        """`last_seen_ms` as a UTC datetime."""
        return to_datetime(self.last_seen_ms)

    # -- the whole run (read once) ----------------------------------------------------------
    @property
    def data(self) -> records.RunData:
        """Everything recorded about the run (read on first use, then kept)."""
        if self._data is None:
            object.__setattr__(self, "_data", self._session.reader.read_run(self._record))
        return self._data

    @property
    def steps(self) -> StepList:
        """The steps in DAG order; `run.steps["train"]` finds one by name."""
        if self._steps is None:
            object.__setattr__(self, "_steps", StepList(self._build_steps()))
        return self._steps

    def get_step(self, name: str) -> Step:
        """The step named `name`. Raises UnknownNameError suggesting close names."""
        return self.steps[name]

    def explain_cache(self, step: Step) -> "CacheExplanation":
        """Why `step` (one of this run's steps) was or was not served from the cache.

        A few MLMD calls (the step's history), beyond reading the run.
        """
        from zen_mlmd.tracking.explain import explain_steps

        [explanation] = explain_steps(self._session.store, self._record, self.data, [step.id])
        return explanation

    def dag(self) -> "LineageGraph":
        """The run's steps and artifacts as a graph (no MLMD call beyond reading the run)."""
        from zen_mlmd.post_execution.lineage import run_graph

        return run_graph(self)

    def _build_steps(self) -> list[Step]:
        data = self.data
        # A run that was killed, or that ended (e.g. on Ctrl-C) while a step
        # was still RUNNING: those steps will never finish.
        interrupted = _status.run_is_interrupted(self._record, self.last_seen_ms) \
            or bool(self._record.recorded_status)
        step_runs = {step.id: self.name for step in data.steps}
        step_runs.update(data.original_runs)
        index = RecordIndex(
            session=self._session, artifacts=data.artifacts,
            steps={**data.original_steps, **{s.id: s for s in data.steps}},
            producers=data.producers, step_runs=step_runs,
            interrupted=frozenset(s.id for s in data.steps) if interrupted else frozenset(),
            # the originals of cached steps were written by the same tool
            step_conventions=dict.fromkeys(step_runs, self._record.convention),
        )
        return [Step.from_record(record, index) for record in dag_order(data.steps, self._record.config)]

    def __repr__(self) -> str:
        return f"<Run {self.name!r} of {self.pipeline_name!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other._record.id == self._record.id \
            and other._session.store is self._session.store

    def __hash__(self) -> int:
        return hash(self._record.id)


def dag_order(steps: Sequence[records.StepRecord], config: Mapping[str, Any]) -> list[records.StepRecord]:
    """Steps in the topological order of the run's config snapshot, then by execution id."""
    position = {}
    entries = config.get("steps")
    # A config written by another recorder may hold anything under "steps".
    for i, entry in enumerate(entries if isinstance(entries, (list, tuple)) else ()):
        if isinstance(entry, Mapping) and "name" in entry:
            position.setdefault(str(entry["name"]), i)
    last = len(position)
    return sorted(steps, key=lambda s: (position.get(s.name, last), s.id))


class RunList(Sequence[Run]):
    """Runs newest first, fetched lazily a page (one MLMD call, up to 100 runs) at a time.

    `runs[0]` fetches one page; iterating fetches page after page; `len()`
    and negative indexes fetch every page.
    """

    def __init__(self, session: "ReadSession", pipeline_name: str | None = None):
        self._session = session
        self._pages = session.reader.iter_run_pages(pipeline_name)
        self._runs: list[Run] = []
        self._done = False

    def _fetch(self, count: int | None) -> None:
        """Fetch runs until `count` are known (None: all)."""
        while not self._done and (count is None or len(self._runs) < count):
            # A whole page at once (one MLMD call made it): the page's step
            # states are then fetched together, in one query, on first need.
            page = next(self._pages, None)
            if page is None:
                self._done = True
                return
            states = _StepStates(self._session, page)
            self._runs.extend(Run(self._session, record, states=states) for record in page)

    def __getitem__(self, key):
        if isinstance(key, slice):
            needs_all = any(v is not None and v < 0 for v in (key.start, key.stop)) or key.stop is None
            self._fetch(None if needs_all else key.stop)
            return self._runs[key]
        self._fetch(None if key < 0 else key + 1)
        return self._runs[key]

    def __iter__(self) -> Iterator[Run]:
        i = 0
        while True:
            self._fetch(i + 1)
            if i >= len(self._runs):
                return
            yield self._runs[i]
            i += 1

    def __len__(self) -> int:
        self._fetch(None)
        return len(self._runs)

    def __bool__(self) -> bool:
        self._fetch(1)
        return bool(self._runs)

    def __repr__(self) -> str:
        shown = "" if self._done else ", ..."
        return f"RunList([{', '.join(repr(r.name) for r in self._runs)}{shown}])"


class Pipeline:
    """A pipeline: its name and its runs (newest first).

    Attributes (read-only):
        properties: what the writer recorded on the pipeline context
            (`source`, `schema_version`, ...).
    """

    __slots__ = ("_session", "_record")

    def __init__(self, session: "ReadSession", record: records.PipelineRecord):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_record", record)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Pipeline is read-only; cannot set {name!r}")

    @property
    def id(self) -> int:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def created_time(self) -> _dt.datetime | None:
        return to_datetime(self._record.created_ms)

    @property
    def properties(self) -> Mapping[str, Any]:
        return frozen(self._record.properties)

    @property
    def runs(self) -> RunList:
        """The pipeline's runs, newest first, fetched lazily (a fresh list each access)."""
        return RunList(self._session, self.name)

    def get_run(self, name: str) -> Run:
        """The run of this pipeline named `name`.

        Raises:
            UnknownNameError: no run of this pipeline has that name.
        """
        from zen_mlmd.post_execution.api import find_run

        run = find_run(self._session, name)
        if run is None or run.pipeline_name != self.name:
            raise UnknownNameError(f"run of pipeline {self.name!r}", name,
                                   _some_run_names(self._session, self.name))
        return run

    def __repr__(self) -> str:
        return f"<Pipeline {self.name!r}>"


def _some_run_names(session: "ReadSession", pipeline_name: str | None, pages: int = 5) -> list[str]:
    """Names of the newest runs (a few pages), for close-match suggestions."""
    names = []
    for record in session.reader.iter_runs(pipeline_name):
        names.append(record.name)
        if len(names) >= pages * PAGE_SIZE:
            break
    return names
