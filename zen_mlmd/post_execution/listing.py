"""Pages of runs for listings that must never read a whole store.

`list_runs` returns one page of runs, newest first, filtered by pipeline,
status and name, and a cursor to the next (older) page. Its work is bounded
whatever the store's size: the listing starts at the cursor (one MLMD call
per 100 runs looked at), a status filter (or a name holding `%` or `_`)
looks at no more than `max_scanned` runs per page (and says so when it stopped there), and the step states that
some statuses need are fetched once per 100 runs, never per run.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from zen_mlmd.errors import ConfigError
from zen_mlmd.post_execution import status as _status
from zen_mlmd.post_execution.runs import PAGE_SIZE, Run, _StepStates
from zen_mlmd.post_execution.session import ReadSession, open_session

if TYPE_CHECKING:
    from zen_mlmd.mlmd import records
    from zen_mlmd.mlmd.reader import RunCursor
    from zen_mlmd.mlmd.store import MetadataStore

#: Most runs a page may hold (MLMD's page size).
MAX_LIMIT = PAGE_SIZE
#: Most runs one filtered page looks at before it stops and offers to go on.
MAX_SCANNED = 500
_CURSOR = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
#: What MLMD's LIKE does not take as written: its wildcards, and the escape character of some databases.
_LIKE_SPECIAL = "%_\\"


@dataclass(frozen=True)
class RunPage:
    """One page of a listing of runs.

    Attributes:
        runs: the runs of the page, newest first.
        next_cursor: pass it back as `cursor` for the next (older) page; None
            when the listing ended.
        scanned: how many runs were looked at to fill the page.
        scan_capped: True when a filter stopped at `max_scanned` runs before
            the page was full: older runs may still match (`next_cursor`
            goes on from the last run looked at).
    """

    runs: tuple[Run, ...]
    next_cursor: str | None
    scanned: int
    scan_capped: bool = False


def list_runs(
    store: "MetadataStore | ReadSession | None" = None, *,
    pipeline: str | None = None, statuses: Iterable[str] = (), name_contains: str = "",
    cursor: str | None = None, limit: int = 25, max_scanned: int = MAX_SCANNED,
) -> RunPage:
    """One page of runs, newest first.

    Args:
        store: an open `MetadataStore` or `ReadSession`; None reads the active stack's.
        pipeline: only runs of this pipeline.
        statuses: only runs with one of these statuses ("running",
            "completed", "failed", "interrupted", "cached"); empty for all.
        name_contains: only runs whose name contains this text as written
            (`%` and `_` are plain characters; case as the database's LIKE
            treats it: ignored on SQLite and MySQL).
        cursor: the `next_cursor` of the previous page; None starts at the newest run.
        limit: runs per page, 1 to 100.
        max_scanned: with a status filter, or a name holding `%`, `_` or
            `\\`, stop after looking at this many runs.

    Raises:
        ConfigError: a bad status, cursor or limit.
    """
    wanted = frozenset(s.strip().lower() for s in statuses if s.strip())
    unknown = sorted(wanted - set(_status.RUN_STATUSES))
    if unknown:
        raise ConfigError("status", unknown[0], "is not a run status",
                          f"use one of: {', '.join(_status.RUN_STATUSES)}")
    if not 1 <= int(limit) <= MAX_LIMIT:
        raise ConfigError("limit", limit, f"must be between 1 and {MAX_LIMIT}", "ask for fewer runs per page")
    session = open_session(store)
    name_contains = name_contains.strip()
    listing = session.reader.iter_run_listing(pipeline, name_contains=name_contains,
                                              after=parse_cursor(cursor))
    # MLMD's LIKE reads `%` and `_` as wildcards, so the listing holds every run
    # the text names and maybe more: those are kept out here, at a bounded cost
    named = _named(name_contains) if any(c in name_contains for c in _LIKE_SPECIAL) else None
    if not wanted and named is None:
        return _unfiltered_page(session, listing, int(limit))
    return _filtered_page(session, listing, wanted, int(limit), max(int(max_scanned), int(limit)), named)


def _named(text: str):
    """Whether a run's name holds `text` as written; case is left to the listing's LIKE."""
    folded = text.casefold()
    return lambda run: folded in run.name.casefold()


def _unfiltered_page(session: ReadSession, listing, limit: int) -> RunPage:
    found = list(itertools.islice(listing, limit + 1))
    shown = found[:limit]
    states = _StepStates(session, [run for _, run in shown if _status.needs_step_states(run)])
    runs = tuple(Run(session, run, states=states) for _, run in shown)
    more = len(found) > limit
    return RunPage(runs, format_cursor(shown[-1][0]) if more else None, len(shown))


def _filtered_page(session: ReadSession, listing, wanted: frozenset[str], limit: int,
                   max_scanned: int, named=None) -> RunPage:
    """The runs with a status in `wanted` (any when empty) whose records pass `named` (if given)."""
    matched: list[tuple["RunCursor", Run]] = []
    scanned = 0
    last: "RunCursor | None" = None
    while len(matched) <= limit and scanned < max_scanned:
        batch = list(itertools.islice(listing, min(PAGE_SIZE, max_scanned - scanned)))
        if not batch:
            return RunPage(tuple(run for _, run in matched[:limit]), _after(matched, limit), scanned)
        # step states only for the runs whose status depends on them and could match
        candidates = [run for _, run in batch if (named is None or named(run)) and _could_match(run, wanted)]
        needing = [run for run in candidates if wanted and _status.needs_step_states(run)]
        states = _StepStates(session, needing)
        for place, record in batch:
            scanned += 1
            last = place
            if (named is not None and not named(record)) or not _could_match(record, wanted):
                continue
            run = Run(session, record, states=states)
            if not wanted or run.status in wanted:
                matched.append((place, run))
                if len(matched) > limit:
                    break
    if len(matched) > limit:
        return RunPage(tuple(run for _, run in matched[:limit]), _after(matched, limit), scanned)
    # stopped at max_scanned: the next page goes on from the last run looked at
    return RunPage(tuple(run for _, run in matched), format_cursor(last) if last else None, scanned,
                   scan_capped=True)


def _after(matched: list, limit: int) -> str | None:
    return format_cursor(matched[limit - 1][0]) if len(matched) > limit else None


def _could_match(run: "records.RunRecord", wanted: frozenset[str]) -> bool:
    """Whether the run's status may be among `wanted` (any when empty), judged without its steps."""
    if not wanted:
        return True
    if not _status.needs_step_states(run):
        return _status.run_status(run) in wanted
    if run.recorded_status:  # recorded as completed: "completed" or "cached"
        return bool(wanted & {_status.COMPLETED, _status.CACHED})
    return True  # another tool's run: its steps tell


def format_cursor(cursor: "RunCursor") -> str:
    """The text form of a listing cursor (what `list_runs` takes back)."""
    return f"{cursor.listing}.{cursor.created_ms}.{cursor.id}"


def parse_cursor(text: str | None) -> "RunCursor | None":
    """A cursor from its text form; None for none.

    Raises:
        ConfigError: the text is not a cursor `list_runs` returned.
    """
    if not text:
        return None
    match = _CURSOR.match(text.strip())
    if match is None:
        raise ConfigError("cursor", text, "is not a listing cursor",
                          "pass back the next_cursor of a page, or none to start at the newest run")
    from zen_mlmd.mlmd.reader import RunCursor

    return RunCursor(*(int(part) for part in match.groups()))


def pipeline_names(store: "MetadataStore | ReadSession | None" = None, limit: int = 200) -> list[str]:
    """Names of up to `limit` pipelines, sorted (for choosers; never the whole store)."""
    session = open_session(store)
    return sorted({p.name for p in session.reader.list_pipelines(limit=limit)})
