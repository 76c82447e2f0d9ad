"""An artifact's page: its record, a preview of its files, and its lineage; and its files' bytes.

MLMD calls: the artifact with its producer (a fixed number, `get_artifact`)
and one lineage query; the preview reads the artifact store, never MLMD.
"""
from __future__ import annotations

import posixpath

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from zen_mlmd.errors import ConfigError
from zen_mlmd.post_execution.api import get_artifact
from zen_mlmd.post_execution.contents import ContentsUnavailableError, read_artifact_file
from zen_mlmd.post_execution.session import ReadSession
from zen_mlmd.ui import graph
from zen_mlmd.ui.formatting import masked
from zen_mlmd.ui.preview import IMAGE_BYTES, IMAGE_TYPES, preview
from zen_mlmd.ui.run_pages import int_param

DIRECTIONS = ("upstream", "downstream", "both")
HOPS = range(1, 21)
DEFAULT_HOPS = 4


def routes(state) -> list[Route]:
    return [
        Route("/artifacts/{artifact_id:int}",
              state.page("artifact", lambda r, s: artifact_page(state, r, s)), name="artifact"),
        Route("/artifacts/{artifact_id:int}/files/{path:path}",
              state.page("artifact file", artifact_file), name="artifact_file"),
    ]


def artifact_page(state, request: Request, session: ReadSession) -> Response:
    artifact = get_artifact(request.path_params["artifact_id"], session)
    direction = request.query_params.get("direction", "both")
    if direction not in DIRECTIONS:
        raise ConfigError("direction", direction, "is not a lineage direction", f"use one of {', '.join(DIRECTIONS)}")
    hops = int_param(request, "hops", DEFAULT_HOPS, HOPS)
    lineage = artifact.lineage(direction=direction, max_hops=hops)
    shown, files, more_files = preview(artifact)
    producer = artifact.producer_step
    return state.render(
        request, "artifact.html", artifact=artifact, producer=producer, run_name=artifact.run_name,
        properties=masked(dict(artifact.properties)), preview=shown, files=files, more_files=more_files,
        total_size=sum(f.size for f in files) if files and not more_files else None,
        lineage_json=graph.script_json(graph.lineage_elements(lineage)), direction=direction, hops=hops,
        directions=DIRECTIONS, lineage_counts=(len(lineage.steps), len(lineage.artifacts)),
    )


def artifact_file(request: Request, session: ReadSession) -> Response:
    """An image of an artifact, for its preview (other files are not served)."""
    artifact = get_artifact(request.path_params["artifact_id"], session)
    path = request.path_params["path"]
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if suffix not in IMAGE_TYPES:
        raise ConfigError("path", path, "is not an image; only images are served",
                          "see the file on the artifact's page")
    try:
        try:
            head = read_artifact_file(artifact, path, IMAGE_BYTES)
        except ContentsUnavailableError:
            if path != posixpath.basename(artifact.uri.rstrip("/")):
                raise
            head = read_artifact_file(artifact, "", IMAGE_BYTES)  # the URI is the file itself
    except ContentsUnavailableError as error:
        return Response(str(error), status_code=404, media_type="text/plain")
    if head.truncated:
        return Response("too large to preview", status_code=413, media_type="text/plain")
    # an SVG may hold scripts: never let it run any, even when opened directly
    return Response(head.data, media_type=IMAGE_TYPES[suffix], headers={
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        "Cache-Control": "no-store"})
