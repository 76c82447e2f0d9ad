"""The JSONL archive: a whole store (or some runs) as one versioned file, and back.

Line 1 is the header, the last line the end record with the counts; every
line between is one record (see `zen_mlmd.mlmd.archive_records` and
docs/ARCHIVE.md). An archive imports into an empty store with every id and
time it had, so export -> import -> export gives the same lines (the header
aside: it says when and from where).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
from typing import TYPE_CHECKING, Callable, Iterator

from zen_mlmd.errors import ConfigError

if TYPE_CHECKING:
    from zen_mlmd.mlmd.store import MetadataStore
    from zen_mlmd.mlmd.store_reading import Selection

FORMAT = "zen-mlmd-archive"
VERSION = 1
Progress = Callable[[str, int], None]


def export_archive(store: "MetadataStore", path: str | os.PathLike, selection: "Selection | None" = None,
                   progress: Progress | None = None,
                   total: Callable[[int | None], None] | None = None) -> dict[str, int]:
    """Write the records of `selection` (default: all) to `path`; returns the counts.

    The file is written next to `path` (`<path>.partial`) and renamed at
    the end; a failed export removes it, so it leaves no half archive.

    Args:
        progress: called with (what, records in the batch) after each batch.
        total: called once, before the first batch, with the number of
            contexts, artifacts and executions to export (None when unknown:
            the whole store).
    """
    from zen_mlmd.mlmd.store_reading import StoreSource

    source = StoreSource(store, selection)
    if total is not None:
        total(source.node_total())
    temp = f"{os.fspath(path)}.partial"
    try:
        _write_archive(store, source, temp, progress)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
    os.replace(temp, path)
    return dict(source.counts)


def _write_archive(store: "MetadataStore", source, temp: str, progress: Progress | None) -> None:
    from zen_mlmd.mlmd.archive_records import batch_to_records

    with open(temp, "w", encoding="utf-8") as handle:
        header = {"record": "header", "format": FORMAT, "version": VERSION,
                  "mlmd_schema_version": 10, "source": store.identity,
                  "selection": source.selection.label,
                  "exported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        handle.write(_line(header))
        for page, batch in enumerate(source.batches(), start=1):
            for record in batch_to_records(batch, page):
                handle.write(_line(record))
            if progress is not None:
                progress(batch.what, len(batch.nodes) or len(batch.links))
        handle.write(_line({"record": "end", "counts": source.counts}))


def import_archive(path: str | os.PathLike, store: "MetadataStore",
                   progress: Progress | None = None) -> dict[str, int]:
    """Write the records of archive `path` into an empty database store; returns the verified counts.

    The whole file is checked (header, version, every line, end record)
    before anything is written. An interrupted import resumes when run again.

    Raises:
        ConfigError: not a zen-mlmd archive, another version, a broken line
            or a truncated file; or a destination that is not empty.
        StoreError: the destination is no database, or counts differ.
    """
    from zen_mlmd.mlmd.archive_records import records_to_batches
    from zen_mlmd.mlmd.copying import DatabaseSink, transfer

    header, counts, digest = check_archive(path)
    sink = DatabaseSink(store, f"archive {digest[:16]} ({header.get('source', '?')})")
    try:
        transfer(records_to_batches(_body(path)), sink, progress)
        return sink.finish(counts)
    finally:
        sink.close()


def check_archive(path: str | os.PathLike) -> tuple[dict, dict[str, int], str]:
    """(header, counts, sha256 of the header line) of a complete archive of this version.

    Raises:
        ConfigError: naming the file, what is wrong and the fix.
    """
    where = os.fspath(path)
    try:
        handle = open(where, encoding="utf-8")
    except OSError as exc:
        raise ConfigError("FILE", where, f"cannot be read ({exc.strerror})",
                          "give the path of a file written by `zen-mlmd export --format jsonl`") from None
    with handle:
        first = handle.readline()
        try:
            header = json.loads(first)
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ConfigError("FILE", where, "is not a zen-mlmd archive (its first line is no "
                              f"{FORMAT} header)", "give a file written by `zen-mlmd export --format jsonl`")
        if header.get("version") != VERSION:
            raise ConfigError("FILE", where, f"is a version {header.get('version')!r} archive; this "
                              f"zen-mlmd reads version {VERSION}",
                              "import it with the zen-mlmd release that wrote it, or export it again")
        last = None
        for number, line in enumerate(handle, start=2):
            try:
                last = json.loads(line)
            except ValueError:
                raise ConfigError("FILE", where, f"line {number} is not JSON (a damaged file)",
                                  "export the archive again") from None
    if not isinstance(last, dict) or last.get("record") != "end":
        raise ConfigError("FILE", where, "ends before its end record (a truncated file)",
                          "export the archive again, or copy the whole file")
    return header, dict(last.get("counts") or {}), hashlib.sha256(first.encode()).hexdigest()


def _body(path) -> Iterator[tuple[int, dict]]:
    with open(path, encoding="utf-8") as handle:
        handle.readline()
        for number, line in enumerate(handle, start=2):
            record = json.loads(line)
            if record.get("record") != "end":
                yield number, record


def _line(record: dict) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
