"""Entry points of the read API: find pipelines, runs and artifacts by name or id."""
from __future__ import annotations

from typing import TYPE_CHECKING

from zen_mlmd.errors import UnknownNameError
from zen_mlmd.mlmd.convention_registry import writer_of  # noqa: F401 - who wrote a run, for views
from zen_mlmd.post_execution.runs import Pipeline, Run, RunList, _some_run_names
from zen_mlmd.post_execution.session import ReadSession, open_session
from zen_mlmd.post_execution.views import Artifact, RecordIndex

if TYPE_CHECKING:
    from zen_mlmd.mlmd.store import MetadataStore


def get_pipelines(store: "MetadataStore | ReadSession | None" = None) -> list[Pipeline]:
    """Every recorded pipeline, oldest first.

    Args:
        store: an open `MetadataStore`; None reads the active stack's store.
    """
    session = open_session(store)
    return [Pipeline(session, record) for record in session.reader.list_pipelines()]


def get_pipeline(name: str, store: "MetadataStore | ReadSession | None" = None) -> Pipeline:
    """The pipeline named `name`.

    Raises:
        UnknownNameError: no such pipeline; the message suggests close names.
    """
    session = open_session(store)
    record = session.reader.get_pipeline(name)
    if record is None:
        raise UnknownNameError("pipeline", name, [p.name for p in session.reader.list_pipelines()])
    return Pipeline(session, record)


def get_runs(pipeline_name: str | None = None,
             store: "MetadataStore | ReadSession | None" = None) -> RunList:
    """Runs (of one pipeline, or of all), newest first, fetched lazily 100 at a time."""
    if pipeline_name is not None:
        return get_pipeline(pipeline_name, store).runs
    return RunList(open_session(store))


def find_run(session: ReadSession, name: str) -> Run | None:
    record = session.reader.get_run(name)
    return Run(session, record) if record is not None else None


def get_run(name: str, store: "MetadataStore | ReadSession | None" = None) -> Run:
    """The run named `name` (run names are unique in a store).

    Raises:
        UnknownNameError: no such run; the message suggests close names.
    """
    session = open_session(store)
    run = find_run(session, name)
    if run is None:
        raise UnknownNameError("run", name, _some_run_names(session, None),
                               fix="list runs with `zen-mlmd run list`")
    return run


def get_artifact(artifact_id: int, store: "MetadataStore | ReadSession | None" = None) -> Artifact:
    """The artifact with MLMD id `artifact_id`, with the step that produced it.

    Raises:
        UnknownNameError: no artifact has this id.
    """
    session = open_session(store)
    context = session.reader.artifact_context(int(artifact_id))
    if context is None:
        raise UnknownNameError("artifact id", str(artifact_id), known=None,
                               fix="find artifact ids with `zen-mlmd run describe RUN`")
    steps, producers, step_runs = {}, {}, {}
    producer = context.producer
    if producer is not None:
        steps[producer.id] = producer
        step_runs[producer.id] = context.producer_run
        for name, ids in producer.outputs.items():
            for artifact_id_ in ids:
                producers[artifact_id_] = (producer.id, name)
    conventions = {producer.id: context.producer_convention} if producer is not None else {}
    index = RecordIndex(session, context.artifacts, steps, producers, step_runs,
                        step_conventions=conventions)
    return Artifact.from_record(context.artifact, index)
