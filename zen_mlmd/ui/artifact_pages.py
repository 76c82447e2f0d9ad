"""An artifact's page: its record, a preview of its files, and its lineage."""
from __future__ import annotations

from starlette.routing import Route


def routes(state) -> list[Route]:
    return []
