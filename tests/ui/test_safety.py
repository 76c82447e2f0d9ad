"""The web view is safe: read-only, loopback by default, no secrets shown, clear errors when the store is down."""
from __future__ import annotations

import socket

import pytest

from ui_fixtures import UI_BACKENDS
from ui_helpers import ui_client


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
