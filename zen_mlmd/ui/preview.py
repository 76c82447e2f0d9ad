"""Previews of an artifact's contents that run no code: text, JSON, tables, images, numbers.

Bytes come from `zen_mlmd.post_execution.contents` (a bounded head of one
file, inside a known artifact store); no materializer is ever called. What
each format is read with cannot run code: `json`, `csv`, NumPy with
`allow_pickle=False`, zen_mlmd's pandas JSON format and Parquet (through
pandas / pyarrow, when installed). A pickle is never opened.
"""
from __future__ import annotations

import csv
import io
import json
import math
import numbers
import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zen_mlmd.post_execution.contents import (
    ContentsUnavailableError,
    list_artifact_files,
    read_artifact_file,
)

if TYPE_CHECKING:
    from zen_mlmd.post_execution.views import Artifact

TEXT_BYTES = 64 * 1024
DATA_BYTES = 4 * 1024 * 1024
IMAGE_BYTES = 8 * 1024 * 1024
ROWS = 50
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp", ".svg": "image/svg+xml"}
TEXT_SUFFIXES = (".txt", ".md", ".log", ".yaml", ".yml", ".html", ".py", ".sql", ".toml", ".cfg", ".ini", "")
CODE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill", ".cloudpickle")
#: Kubeflow's `system.Metrics` keeps its numbers in these properties' siblings.
KFP_NOT_METRICS = frozenset({"display_name", "store_session_info"})
#: The materializers' file names, most telling first.
PREFERRED = ("data.pandas.json", "data.parquet", "data.json", "data.npy", "data.txt", "data.csv", "data.bin")


@dataclass
class Preview:
    """What the artifact page shows of the contents.

    Attributes:
        kind: "metrics", "table", "json", "text", "image", "array", "refused",
            "binary", "unavailable" or "empty".
        note: why nothing (or not everything) is shown.
    """

    kind: str
    file: str = ""
    note: str = ""
    text: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    total_rows: int | None = None
    metrics: list[tuple[str, Any]] = field(default_factory=list)
    image_path: str = ""
    truncated: bool = False


def metric_values(artifact: "Artifact") -> list[tuple[str, Any]]:
    """Numbers a metrics artifact holds in its record (Kubeflow's `system.Metrics` properties)."""
    if artifact.type != "system.Metrics":
        return []
    return [(key, value) for key, value in sorted(artifact.properties.items())
            if key not in KFP_NOT_METRICS and _is_number(value)]


def preview(artifact: "Artifact") -> tuple[Preview, list, bool]:
    """(the preview, the artifact's files, whether it has more files than listed)."""
    from_record = metric_values(artifact)
    try:
        files, more = list_artifact_files(artifact)
    except ContentsUnavailableError as error:
        if from_record:
            return Preview("metrics", metrics=from_record, note=str(error)), [], False
        return Preview("unavailable", note=str(error)), [], False
    if from_record:
        return Preview("metrics", metrics=from_record), files, more
    chosen = _choose(files)
    if chosen is None:
        return Preview("empty", note="The artifact has no files."), files, more
    try:
        return _preview_file(artifact, chosen), files, more
    except ContentsUnavailableError as error:
        return Preview("unavailable", file=chosen.path, note=str(error)), files, more


def _choose(files):
    by_name = {posixpath.basename(f.path) or f.path: f for f in files}
    for name in PREFERRED:
        if name in by_name:
            return by_name[name]
    return files[0] if files else None


def _preview_file(artifact: "Artifact", file) -> Preview:
    name = posixpath.basename(file.path) or posixpath.basename(artifact.uri.rstrip("/"))
    suffix = posixpath.splitext(name)[1].lower()
    if suffix in CODE_SUFFIXES or artifact.materializer == "pickle":
        return Preview("refused", file=file.path, note=(
            "This file is a pickle: loading it would run code, so it is not previewed. Read it in "
            "Python only if you trust whoever wrote this store."))
    if suffix in IMAGE_TYPES:
        if file.size > IMAGE_BYTES:
            return Preview("binary", file=file.path, note=f"The image is larger than {IMAGE_BYTES >> 20} MB.")
        return Preview("image", file=file.path, image_path=file.path or name)
    if name.endswith(".pandas.json"):
        return _dataframe_json(artifact, file)
    if suffix == ".parquet":
        return _parquet(artifact, file)
    if suffix == ".npy":
        return _array(artifact, file)
    if suffix == ".json":
        return _json(artifact, file)
    if suffix in (".csv", ".tsv"):
        return _csv(artifact, file, "\t" if suffix == ".tsv" else ",")
    head = read_artifact_file(artifact, file.path, TEXT_BYTES)
    text = _decoded(head.data)
    if text is None or (suffix not in TEXT_SUFFIXES and "\x00" in text):
        return Preview("binary", file=file.path, note="Binary contents: not shown.")
    return Preview("text", file=file.path, text=text, truncated=head.truncated)


def _json(artifact, file) -> Preview:
    head = read_artifact_file(artifact, file.path, DATA_BYTES)
    text = _decoded(head.data) or ""
    if head.truncated:
        return Preview("text", file=file.path, text=text[:TEXT_BYTES], truncated=True,
                       note=f"The JSON is larger than {DATA_BYTES >> 20} MB: its beginning is shown as text.")
    try:
        data = _untagged(json.loads(text))
    except ValueError:
        return Preview("text", file=file.path, text=text[:TEXT_BYTES], truncated=len(text) > TEXT_BYTES)
    if _is_number(data):
        return Preview("metrics", file=file.path, metrics=[(artifact.name, data)])
    if isinstance(data, dict) and data and all(_is_number(v) for v in data.values()):
        return Preview("metrics", file=file.path, metrics=sorted(data.items()))
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data[:ROWS]):
        columns = list(dict.fromkeys(k for r in data[:ROWS] for k in r))
        return Preview("table", file=file.path, columns=columns, total_rows=len(data),
                       rows=[[r.get(c) for c in columns] for r in data[:ROWS]])
    pretty = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    return Preview("json", file=file.path, text=pretty[:TEXT_BYTES], truncated=len(pretty) > TEXT_BYTES)


def _csv(artifact, file, delimiter: str) -> Preview:
    head = read_artifact_file(artifact, file.path, DATA_BYTES)
    text = _decoded(head.data) or ""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    lines = [row for _, row in zip(range(ROWS + 1), reader)]
    if not lines:
        return Preview("empty", file=file.path, note="The file is empty.")
    return Preview("table", file=file.path, columns=lines[0], rows=lines[1:], truncated=True,
                   note=f"The first {len(lines) - 1} rows.")


def _dataframe_json(artifact, file) -> Preview:
    head = read_artifact_file(artifact, file.path, DATA_BYTES)
    if head.truncated:
        return Preview("binary", file=file.path, note=f"The DataFrame is larger than {DATA_BYTES >> 20} MB: "
                                                      "not previewed.")
    try:
        from zen_mlmd.artifacts import pandas_format
    except ImportError:  # pandas is not installed here
        return _json(artifact, file)
    return _frame_preview(pandas_format.loads(head.data.decode("utf-8")), file.path)


def _parquet(artifact, file) -> Preview:
    head = read_artifact_file(artifact, file.path, DATA_BYTES)
    if head.truncated:
        return Preview("binary", file=file.path, note=f"The table is larger than {DATA_BYTES >> 20} MB: not previewed.")
    try:
        import pandas

        frame = pandas.read_parquet(io.BytesIO(head.data))
    except ImportError:
        return Preview("binary", file=file.path, note="Parquet needs pandas and pyarrow, not installed here.")
    return _frame_preview(frame, file.path)


def _frame_preview(frame, path: str) -> Preview:
    if getattr(frame, "ndim", 2) == 1:
        frame = frame.to_frame()
    shown = frame.head(ROWS)
    index_name = ", ".join(str(n) for n in shown.index.names if n is not None) or ""
    columns = [index_name] + [str(c) for c in shown.columns]
    rows = [[str(index)] + [_cell(v) for v in values]
            for index, values in zip(shown.index, shown.itertuples(index=False, name=None))]
    return Preview("table", file=path, columns=columns, rows=rows, total_rows=int(frame.shape[0]),
                   note=f"{frame.shape[0]} rows × {frame.shape[1]} columns")


def _array(artifact, file) -> Preview:
    head = read_artifact_file(artifact, file.path, DATA_BYTES)
    if head.truncated:
        return Preview("binary", file=file.path, note=f"The array is larger than {DATA_BYTES >> 20} MB: not previewed.")
    try:
        import numpy
    except ImportError:
        return Preview("binary", file=file.path, note="NumPy is not installed here.")
    try:
        array = numpy.load(io.BytesIO(head.data), allow_pickle=False)
    except ValueError as error:  # an object array would need pickle
        return Preview("refused", file=file.path, note=f"Not previewed: {error}")
    text = numpy.array2string(array, threshold=200, edgeitems=5)
    return Preview("array", file=file.path, text=text, note=f"shape {array.shape}, dtype {array.dtype}")


def _untagged(data: Any) -> Any:
    """zen_mlmd's JSON tags (``{"$tuple": [...]}``, ``{"$dict": {...}}``) read as plain values."""
    if isinstance(data, dict):
        if len(data) == 1 and ("$tuple" in data or "$dict" in data):
            return _untagged(next(iter(data.values())))
        return {k: _untagged(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_untagged(v) for v in data]
    return data


def _decoded(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start >= len(data) - 4:  # a character cut by the size cap
            return data[:error.start].decode("utf-8")
        return None


def _cell(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
