"""Recorded runs as OpenLineage RunEvents, made with the `openlineage-python` client.

One pair per step execution: START at its start, then COMPLETE (completed
or served from the cache), FAIL (failed) or ABORT (canceled) at its end; a
step still running has its START only. The job is ``<pipeline>.<step>`` in
`namespace`; the run id a UUID derived from the store and the execution id
(the same store exports the same ids every time); inputs and outputs are the
artifacts as datasets, namespace and name from the URI after OpenLineage's
dataset naming (``file`` + path, ``s3://bucket`` + key, ...); the pipeline
run is the parent run facet (job ``<pipeline>``, run id from the run).

Runs are read through the post-execution API: a run's steps and artifacts
cost a fixed number of MLMD calls.
"""
from __future__ import annotations

import datetime as _dt
import uuid
from typing import TYPE_CHECKING, Callable, Iterator
from urllib.parse import urlsplit

from zen_mlmd import __version__

if TYPE_CHECKING:
    from zen_mlmd.mlmd.store import MetadataStore

#: The job namespace when none is given.
DEFAULT_NAMESPACE = "zen-mlmd"
#: The `producer` of every event: a URI naming zen-mlmd and its version.
PRODUCER = f"urn:zen-mlmd:{__version__}"
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "zen-mlmd/openlineage")
_FINAL = {"completed": "COMPLETE", "cached": "COMPLETE", "failed": "FAIL", "canceled": "ABORT"}


def run_uuid(store_identity: str, kind: str, record_id: int) -> str:
    """The OpenLineage run id of an execution (`kind` "execution") or a pipeline run ("run")."""
    return str(uuid.uuid5(_UUID_NAMESPACE, f"{store_identity}/{kind}/{record_id}"))


def dataset_name(uri: str) -> tuple[str, str]:
    """(namespace, name) of an artifact URI, after OpenLineage's dataset naming."""
    from openlineage.client.naming import dataset as naming

    parts = urlsplit(uri)
    key = parts.path.lstrip("/")
    if not parts.scheme or parts.scheme == "file" or len(parts.scheme) == 1:  # C:\ is a path
        path = parts.path if parts.scheme == "file" else uri
        if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
            found = naming.RemoteFileSystem(host=parts.netloc, path=path)
        else:
            found = naming.LocalFileSystem(path=path)
    elif parts.scheme in ("s3", "s3a", "s3n") and key:
        found = naming.S3(bucket_name=parts.netloc, object_key=key)
    elif parts.scheme == "gs" and key:
        found = naming.GCS(bucket_name=parts.netloc, object_key=key)
    else:  # hdfs://host:port/path, minio://bucket/key, ...: the authority names the place
        return f"{parts.scheme}://{parts.netloc}", parts.path or "/"
    return found.get_namespace(), found.get_name()


def run_events(store: "MetadataStore", *, namespace: str = DEFAULT_NAMESPACE,
               pipeline: str | None = None, since: _dt.datetime | None = None) -> Iterator:
    """RunEvents (openlineage.client.event_v2.RunEvent) of every step, oldest run first."""
    for run in selected_runs(store, pipeline, since):
        yield from _events_of_run(store.identity, namespace, run)


def selected_runs(store: "MetadataStore", pipeline: str | None = None,
                  since: _dt.datetime | None = None) -> list:
    """The runs of `pipeline` (default: all) started at or after `since`, oldest first (listing calls only)."""
    from zen_mlmd.post_execution import get_runs
    from zen_mlmd.post_execution.session import ReadSession

    session = ReadSession(store, artifact_store=None)
    runs = [r for r in get_runs(pipeline, session)
            if since is None or (r.start_time is not None and r.start_time >= since)]
    return runs[::-1]


def _events_of_run(identity: str, namespace: str, run) -> Iterator:
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import parent_run

    parent = parent_run.ParentRunFacet(
        run=parent_run.Run(runId=run_uuid(identity, "run", run.id)),
        job=parent_run.Job(namespace=namespace, name=run.pipeline_name or run.name))
    for step in run.steps:
        inputs = [InputDataset(*dataset_name(a.uri)) for a in _artifacts(step.inputs) if a.uri]
        outputs = [OutputDataset(*dataset_name(a.uri)) for a in _artifacts(step.outputs) if a.uri]
        ol_run = Run(runId=run_uuid(identity, "execution", step.id), facets={"parent": parent})
        job = Job(namespace=namespace, name=f"{run.pipeline_name or run.name}.{step.name}")
        started = step.start_time or run.start_time
        yield RunEvent(eventType=RunState.START, eventTime=_iso(started), run=ol_run, job=job,
                       inputs=inputs, outputs=[], producer=PRODUCER)
        final = _FINAL.get(step.status)
        if final is not None:
            yield RunEvent(eventType=getattr(RunState, final), eventTime=_iso(step.end_time or started),
                           run=ol_run, job=job, inputs=inputs, outputs=outputs, producer=PRODUCER)


def _artifacts(mapping) -> list:
    found = []
    for value in mapping.values():
        found += list(value) if isinstance(value, tuple) else [value]
    return found


def _iso(moment: _dt.datetime | None) -> str:
    moment = moment or _dt.datetime.now(_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def to_json(event) -> str:
    """One event as the JSON OpenLineage consumers take."""
    from openlineage.client.serde import Serde

    return Serde.to_json(event)


def export_events(store: "MetadataStore", *, output_path: str | None = None, url: str | None = None,
                  namespace: str = DEFAULT_NAMESPACE, pipeline: str | None = None,
                  since: _dt.datetime | None = None,
                  progress: Callable[[int, int], None] | None = None) -> int:
    """Write the events to `output_path` (one JSON per line) or send them to `url`; returns how many.

    Sending uses the client's HTTP transport (``POST <url>/api/v1/lineage``).

    Args:
        progress: called with (runs done, runs selected) after each run.
    """
    emit = _http_emitter(url) if url else None
    count = 0
    runs = selected_runs(store, pipeline, since)
    handle = open(output_path, "w", encoding="utf-8") if output_path else None
    try:
        for done, run in enumerate(runs, start=1):
            for event in _events_of_run(store.identity, namespace, run):
                if emit is not None:
                    emit(event)
                if handle is not None:
                    handle.write(to_json(event) + "\n")
                count += 1
            if progress is not None:
                progress(done, len(runs))
    finally:
        if handle is not None:
            handle.close()
    return count


def _http_emitter(url: str):
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    from zen_mlmd.errors import ConfigError, StoreUnavailableError

    if urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError("--url", url, "is not an http(s) URL",
                          "give the base URL of an OpenLineage endpoint, e.g. http://localhost:5000")
    client = OpenLineageClient(transport=HttpTransport(HttpConfig(url=url)))

    def emit(event) -> None:
        try:
            client.emit(event)
        except Exception as exc:  # the transport raises its HTTP library's errors
            raise StoreUnavailableError(
                f"OpenLineage endpoint {url}: sending failed: {type(exc).__name__}: {exc}. "
                "Fix: check the URL and that the endpoint is up") from None

    return emit
