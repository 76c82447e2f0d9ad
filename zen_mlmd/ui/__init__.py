"""A local, read-only web view of any MLMD store: `zen-mlmd ui`.

Pages for runs, a run's graph and steps, artifacts with previews and
lineage, and run comparison. Everything is read through
`zen_mlmd.post_execution` from a store opened read-only; templates are
rendered on the server and the graphs are drawn in the browser by a
vendored copy of Cytoscape.js (see ``static/vendor/VENDORED.md``).

    from zen_mlmd.ui import create_app
    app = create_app(lambda: open_named_session("prod"), store_label="prod")

Importing this package imports nothing heavy; `create_app` imports Starlette.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zen_mlmd.ui.app import create_app


def __getattr__(name: str):
    if name == "create_app":
        from zen_mlmd.ui.app import create_app

        return create_app
    raise AttributeError(name)


__all__ = ["create_app"]
