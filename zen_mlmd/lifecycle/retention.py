"""Retention: which runs a policy lets go, deleted a page at a time, and the orphan sweep.

    policy = RetentionPolicy(older_than=timedelta(days=30), keep_last=5)
    report = collect_garbage(store, policy, artifact_stores=[artifacts], dry_run=True)

Runs are read newest first through the reader, 100 per MLMD call (their
statuses one query per page); the selected runs are deleted 100 per
transaction, so a store with thousands of runs is handled in pages, each a
fixed number of statements. A running run is never selected. The dry run
reads the same pages and plans the same deletions without writing anything.
"""
from __future__ import annotations

import datetime as _dt
import itertools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

from zen_mlmd.errors import ConfigError, UnknownNameError
from zen_mlmd.lifecycle.deletion import DeletionReport, delete_records
from zen_mlmd.lifecycle.files import ArtifactFile, SweepReport, sweep_orphans

if TYPE_CHECKING:
    from zen_mlmd.artifacts import ArtifactStore
    from zen_mlmd.mlmd.store import MetadataStore

#: Runs deleted per transaction.
PAGE_SIZE = 100
STATUSES = ("completed", "failed", "interrupted", "cached", "unknown")
_AGE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> _dt.timedelta:
    """``30d``, ``12h``, ``90m``, ``2w`` or ``45s`` as a timedelta.

    Raises:
        ConfigError: naming the value and the accepted forms.
    """
    match = _AGE.fullmatch(str(text).strip().lower())
    if not match:
        raise ConfigError("--older-than", text, "is not an age",
                          "write a number and a unit: 30d, 12h, 90m, 2w or 45s")
    return _dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class RetentionPolicy:
    """Which runs may go. Every given condition must hold for a run to be selected.

    Attributes:
        older_than: runs started longer ago than this.
        keep_last: per pipeline, the newest N runs always stay.
        pipeline: only runs of this pipeline.
        status: only runs with this status ("failed", "completed", ...).
    """

    older_than: _dt.timedelta | None = None
    keep_last: int | None = None
    pipeline: str | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        if self.keep_last is not None and self.keep_last < 0:
            raise ConfigError("--keep-last", self.keep_last, "must be 0 or more",
                              "give how many of the newest runs of each pipeline to keep")
        if self.status is not None and self.status not in STATUSES:
            raise ConfigError("--status", self.status, "is not a status a deletable run has",
                              f"use one of: {', '.join(STATUSES)}")


@dataclass
class GarbageReport:
    """What `collect_garbage` deleted (or would delete) and swept."""

    dry_run: bool
    runs: list[str] = field(default_factory=list)
    artifacts: list[ArtifactFile] = field(default_factory=list)
    kept: list[ArtifactFile] = field(default_factory=list)
    pages: int = 0
    statements: int = 0
    soft: bool = False
    files_left: dict = field(default_factory=dict)
    sweeps: list[SweepReport] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(a.size_bytes or 0 for a in self.artifacts)

    @property
    def orphan_files(self) -> list[ArtifactFile]:
        return [f for sweep in self.sweeps for f in sweep.files]

    def add(self, page: DeletionReport) -> None:
        self.pages += 1
        self.runs += page.runs
        self.artifacts += page.artifacts
        self.kept += page.kept
        self.statements += page.statements
        self.soft = self.soft or page.soft
        self.files_left.update(page.files_left)


def select_runs(store: "MetadataStore", policy: RetentionPolicy,
                now: _dt.datetime | None = None) -> tuple[list, dict[str, set[str]]]:
    """The run records `policy` lets go (newest first), and every ended run's name by pipeline.

    Reads the runs a page (100) at a time: one MLMD call for the page, one
    query for the step states of its runs; never a call per run.

    Raises:
        UnknownNameError: `policy.pipeline` is no pipeline of the store.
    """
    from zen_mlmd.mlmd.reader import StoreReader
    from zen_mlmd.post_execution import status as run_status

    reader = StoreReader(store)
    if policy.pipeline is not None and reader.get_pipeline(policy.pipeline) is None:
        raise UnknownNameError("pipeline", policy.pipeline, [p.name for p in reader.list_pipelines()],
                               fix="list pipelines with `zen-mlmd pipeline list`")
    now = now or _dt.datetime.now(_dt.timezone.utc)
    cutoff_ms = (now - policy.older_than).timestamp() * 1000 if policy.older_than is not None else None
    seen: dict[str, int] = {}
    selected: list = []
    ended: dict[str, set[str]] = {}
    runs = reader.iter_runs(policy.pipeline)
    while True:
        page = list(itertools.islice(runs, PAGE_SIZE))
        if not page:
            break
        wanted = [r for r in page if run_status.needs_step_states(r)]
        states = reader.run_step_states(wanted) if wanted else {}
        for record in page:
            status = run_status.run_status(record, states.get(record.id)) \
                if record.id in states else run_status.run_status(record)
            seen[record.pipeline_name] = seen.get(record.pipeline_name, 0) + 1
            if status == "running":
                continue
            ended.setdefault(record.pipeline_name, set()).add(record.name)
            if policy.keep_last is not None and seen[record.pipeline_name] <= policy.keep_last:
                continue
            if cutoff_ms is not None and record.created_ms >= cutoff_ms:
                continue
            if policy.status is not None and status != policy.status:
                continue
            selected.append(record)
    return selected, ended


def collect_garbage(store: "MetadataStore", policy: RetentionPolicy, *,
                    artifact_stores: Iterable["ArtifactStore"] = (), dry_run: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> GarbageReport:
    """Delete the runs `policy` selects, a page per transaction, then sweep orphan files.

    Args:
        progress: called with (runs done, runs selected) after each page.
    """
    artifact_stores = list(artifact_stores)
    from zen_mlmd.mlmd.deletion import Planned

    records, ended = select_runs(store, policy)
    report = GarbageReport(dry_run=dry_run)
    planned = Planned() if dry_run else None
    # newest first: a run's consumers (and the runs that reused its outputs
    # through the cache) go before it, so its outputs go with it
    for start in range(0, len(records), PAGE_SIZE):
        page = records[start:start + PAGE_SIZE]
        report.add(delete_records(store, page, artifact_stores=artifact_stores, dry_run=dry_run,
                                  planned=planned))
        if progress is not None:
            progress(min(start + PAGE_SIZE, len(records)), len(records))
    for name in report.runs:  # deleted runs' folders are no run folders any more
        for runs in ended.values():
            runs.discard(name)
    for artifact_store in artifact_stores:
        report.sweeps.append(sweep_orphans(store, artifact_store, ended, dry_run=dry_run))
    return report

