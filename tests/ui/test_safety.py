"""The web view is safe: read-only, loopback by default, no secrets shown, clear errors when the store is down."""
from __future__ import annotations

import re
import socket

import pytest

from ui_fixtures import UI_BACKENDS
from ui_helpers import register_store, ui_client
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step

#: Read by `fetch` as a global: its old and new values would be named by a cache miss.
SERVICE_API_KEY = "global-key-one-7f3a"


@step
def fetch(api_token: str = "", rows: int = 1) -> int:
    return rows + len(SERVICE_API_KEY) * 0


@pipeline
def fetching(api_token: str = "", rows: int = 1):
    fetch(api_token=api_token, rows=rows)


@pytest.mark.parametrize("backend", UI_BACKENDS, indirect=True)
def test_pages_never_write_and_never_show_secrets(showcase, backend):
    client = showcase.client
    pages = ["/runs", f"/runs/{showcase.run}", f"/runs/{showcase.run}?step=make",
             f"/artifacts/{showcase.artifacts['table']}", "/compare?pipeline=showcase&runs=showcase-1"]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert "s3cr3t-token-value" not in response.text, page
        password = backend.options.get("password")
        assert not password or password not in response.text, page
    assert "••••••" in client.get(f"/runs/{showcase.run}?step=make").text
    assert not [name for name in showcase.opener.calls if name.startswith("Put")]
    assert showcase.opener.session.store.read_only
    assert client.post("/runs").status_code == 405


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_security_headers_and_foreign_hosts(native_runs):
    response = native_runs.client.get("/runs")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    # a page another site reaches through DNS rebinding names another host
    assert native_runs.client.get("/runs", headers={"host": "evil.example"}).status_code == 400


def test_a_store_that_is_down_is_a_clear_page_and_is_retried(config_dir):
    from zen_mlmd.stack import StackRegistry

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    StackRegistry().register_metadata_store("down", "mysql", {
        "host": "127.0.0.1", "port": port, "database": "mlmd", "user": "u", "password": "hunter2-secret"})
    client, opener = ui_client("down")
    response = client.get("/runs")
    assert response.status_code == 503
    assert "The metadata store cannot be read" in response.text
    assert str(port) in response.text and "hunter2-secret" not in response.text
    assert client.get("/runs").status_code == 503  # tried again, not a cached failure


def test_a_store_with_nothing_recorded_yet(config_dir, tmp_path):
    from zen_mlmd.stack import StackRegistry

    StackRegistry().register_metadata_store("fresh", "sqlite", {})
    client, _ = ui_client("fresh")
    response = client.get("/runs")
    assert response.status_code == 404 and "Nothing is recorded in this store yet" in response.text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_recorded_text_is_escaped(metadata_store, backend):
    from ui_helpers import register_store
    from zen_mlmd.tracking.recorder import Recorder

    payload = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    with Recorder(metadata_store).start_run("xss", "xss-1") as run:
        step = run.start_step("inject", "tests.inject", parameters={"note": payload})
        step.fail(payload)
    client, _ = ui_client(register_store(backend, "xss"))
    for page in ("/runs", "/runs/xss-1", "/runs/xss-1?step=inject"):
        html = client.get(page).text
        assert "<script>alert" not in html and "<img src=x" not in html, page
    assert "&lt;img src=x onerror=alert(2)&gt;" in client.get("/runs/xss-1?step=inject").text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_cache_decision_never_shows_a_changed_secret(metadata_store, backend, tmp_path, monkeypatch):
    from post_execution_helpers import LocalTestStack

    stack = LocalTestStack(metadata_store, tmp_path / "artifacts")
    fetching.run(stack=stack, quiet=True, run_name="fetch-1", api_token="first-s3cr3t-value", rows=1)
    monkeypatch.setitem(globals(), "SERVICE_API_KEY", "global-key-two-9c2e")
    fetching.run(stack=stack, quiet=True, run_name="fetch-2", api_token="second-s3cr3t-value", rows=2)
    client, _ = ui_client(register_store(backend, "secrets", tmp_path / "artifacts"))
    html = client.get("/runs/fetch-2", params={"step": "fetch"}).text
    execution_id = re.search(r'data-execution-id="(\d+)" data-step="fetch"', html).group(1)
    fragment = client.get(f"/steps/{execution_id}", params={"run": "fetch-2"}).text
    for page in (html, fragment):
        cache = page[page.index('<section class="cache">'):]
        cache = cache[:cache.index("</section>")]
        assert "cache-miss" in cache
        for secret in ("first-s3cr3t-value", "second-s3cr3t-value", "global-key-one-7f3a", "global-key-two-9c2e"):
            assert secret not in page
        # what changed is still said: the secrets by name only, the other values in full
        assert "api_token: ••••••" in cache and "rows: 1 -&gt; 2" in cache
        assert "SERVICE_API_KEY changed: ••••••" in cache


@pytest.mark.parametrize("reason, expected", [
    ("parameters changed (api_token: 'a, b: c' -> 'd', rows: 1 -> 2)",
     "parameters changed (api_token: ••••••, rows: 1 -> 2)"),
    ("parameters changed (apiKey: [1, 2] -> [3, 4], sizes: [1, 2] -> [3])",
     "parameters changed (apiKey: ••••••, sizes: [1, 2] -> [3])"),
    ("parameters changed (cfg: {'db_password': 'zz'} -> {'db_password': 'yy'})",
     "parameters changed (cfg: {'db_password': ••••••})"),
    ("global CONFIG changed: depth 3 -> 4, password 'x' -> 'y'",
     "global CONFIG changed: depth 3 -> 4, password ••••••"),
    ("the step now reads global HF_TOKEN ('hf_abc')", "the step now reads global HF_TOKEN (••••••)"),
    ("the artifact store changed (s3://me:pw@bucket -> /tmp/x)",
     "the artifact store changed (s3://me:••••••@bucket -> /tmp/x)"),
    ("parameters changed (token_file: 'a' -> 'b')", "parameters changed (token_file: 'a' -> 'b')"),
    ("the cache key is unchanged: the outputs were missing or caching was off",
     "the cache key is unchanged: the outputs were missing or caching was off"),
])
def test_masked_reasons_say_what_changed_but_not_a_secrets_value(reason, expected):
    from zen_mlmd.ui.formatting import masked_text

    assert masked_text(reason) == expected
