"""Compare runs of a pipeline: parameters and metrics side by side, a metric over time."""
from __future__ import annotations

from starlette.routing import Route


def routes(state) -> list[Route]:
    return []
