"""Fixtures of the web view's tests (defined in ui_fixtures.py and tests/ui_helpers.py)."""
from ui_fixtures import native_runs, showcase  # noqa: F401
from ui_helpers import chromium  # noqa: F401
