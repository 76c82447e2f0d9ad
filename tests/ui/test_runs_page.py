"""The runs page: a table of runs, newest first, with filters and a cursor to older runs."""
from __future__ import annotations

import pytest

from ui_fixtures import UI_BACKENDS

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


def test_filters_by_pipeline_status_and_name(native_runs, metadata_store):
    from post_execution_helpers import record_bare_runs

    record_bare_runs(metadata_store, 3, pipeline_name="nightly")
    client = native_runs.client
    html = client.get("/runs?pipeline=nightly").text
    assert html.count('data-run="nightly-') == 3 and 'data-run="training-' not in html
    html = client.get("/runs?status=cached").text
    assert [name for name in native_runs.names if f'data-run="{name}"' in html] == [native_runs.names[2]]
    html = client.get("/runs", params={"q": native_runs.names[1][-6:]}).text
    assert f'data-run="{native_runs.names[1]}"' in html and html.count('data-run="') == 1
    html = client.get("/runs?status=failed").text
    assert "No run matches these filters" in html


def test_older_pages_follow_a_cursor_and_cost_one_listing_call(native_runs, metadata_store):
    from post_execution_helpers import record_bare_runs
    from ui_helpers import count_calls

    names = record_bare_runs(metadata_store, 60, pipeline_name="bulk")
    client = native_runs.client
    first = client.get("/runs?pipeline=bulk&limit=25").text
    shown = [n for n in reversed(names) if f'data-run="{n}"' in first]
    assert shown == list(reversed(names))[:25]
    import re

    older = re.search(r'href="(/runs\?[^"]*cursor=[^"]+)"', first).group(1).replace("&amp;", "&")
    response, calls = count_calls(client, native_runs.opener, older)
    second = [n for n in reversed(names) if f'data-run="{n}"' in response.text]
    assert second == list(reversed(names))[25:50]
    # the page starts at the cursor: one listing call, one for the pipeline chooser,
    # the context types, and the step states of the page's completed runs
    assert calls["GetContexts"] == 2 and calls["GetExecutions"] <= 1
    assert sum(calls.values()) <= 6, calls


def test_runs_page_cost_does_not_grow_with_the_store(native_runs, metadata_store):
    from post_execution_helpers import record_bare_runs
    from ui_helpers import count_calls

    _, small = count_calls(native_runs.client, native_runs.opener, "/runs")
    record_bare_runs(metadata_store, 230, pipeline_name="bulk")
    _, large = count_calls(native_runs.client, native_runs.opener, "/runs")
    # a store with few runs may list a second convention's runs to fill the page
    assert sum(large.values()) <= sum(small.values()) <= 7, (small, large)
    # a status filter looks at a bounded number of runs (500 by default) and says so
    _, filtered = count_calls(native_runs.client, native_runs.opener, "/runs?status=failed")
    assert filtered["GetContexts"] <= 1 + 3 + 1  # listing pages of 100 for 233 runs, the chooser


def test_a_bad_filter_is_a_clear_400(native_runs):
    response = native_runs.client.get("/runs?status=done")
    assert response.status_code == 400
    assert "done" in response.text and "running, completed, failed, interrupted, cached" in response.text
    assert native_runs.client.get("/runs?limit=7").status_code == 400
    assert native_runs.client.get("/runs?cursor=yesterday").status_code == 400


def test_an_empty_store_says_there_are_no_runs(metadata_store, backend, tmp_path):
    from ui_helpers import register_store, ui_client

    client, _ = ui_client(register_store(backend, "empty"))
    response = client.get("/runs")
    assert response.status_code == 200
    assert "No runs are recorded in this store yet" in response.text


def test_the_name_search_takes_percent_underscore_and_backslash_as_written(metadata_store, backend):
    from ui_helpers import register_store, ui_client
    from zen_mlmd.tracking.recorder import Recorder

    names = ["exp_1", "expA1", "exp.1", "Exp_2"]
    for name in names:
        with Recorder(metadata_store).start_run("search", name) as run:
            run.start_step("only", "tests.only").publish({})
    client, _ = ui_client(register_store(backend, "search"))

    def found(text: str) -> set[str]:
        html = client.get("/runs", params={"q": text}).text
        return {name for name in names if f'data-run="{name}"' in html}

    assert found("exp_1") == {"exp_1"}  # `_` is not "any character"
    assert found("_") == {"exp_1", "Exp_2"}
    assert found("EXP_") == {"exp_1", "Exp_2"}  # case aside, as before
    assert found("%") == set() and found("p%1") == set()  # nor `%` "anything"
    assert found("p\\") == set()
    assert "No run matches these filters" in client.get("/runs", params={"q": "%"}).text
    assert found("expa") == {"expA1"}  # a search without them is MLMD's LIKE alone
