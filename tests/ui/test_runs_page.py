"""The runs page: a table of runs, newest first, with filters and a cursor to older runs."""
from __future__ import annotations

import pytest

from conftest import UI_BACKENDS

pytestmark = pytest.mark.parametrize("backend", UI_BACKENDS, indirect=True)


def test_runs_page_lists_runs_newest_first_with_status_and_pipeline(native_runs):
    response = native_runs.client.get("/runs")
    assert response.status_code == 200
    html = response.text
    positions = [html.index(f'data-run="{name}"') for name in reversed(native_runs.names)]
    assert positions == sorted(positions)
    assert html.count('data-status="completed"') == 2
    assert html.count('data-status="cached"') == 1  # the third run reused every step
    assert 'href="/runs?pipeline=training"' in html
