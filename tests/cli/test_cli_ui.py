"""`zen-mlmd ui`: starts fast, binds loopback by default, warns beyond it, names a bad store."""
from __future__ import annotations

import urllib.request

import pytest

from test_cli_startup import loaded_heavy_modules
from ui_helpers import UIServer

WEB = ("starlette", "uvicorn", "jinja2")


@pytest.mark.parametrize("args", [["--help"], ["ui", "--help"]])
def test_help_imports_no_web_framework(args, tmp_path, monkeypatch):
    import test_cli_startup

    monkeypatch.setattr(test_cli_startup, "HEAVY", (*test_cli_startup.HEAVY, *WEB))
    assert loaded_heavy_modules(args, tmp_path) == []


def test_serves_on_loopback_and_stops_on_ctrl_c(tmp_path, config_home):
    from zen_mlmd.stack import StackRegistry

    StackRegistry().register_metadata_store("empty", "sqlite", {"path": str(tmp_path / "m.db")})
    with UIServer("empty", tmp_path) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert "Warning" not in server.log()
        with urllib.request.urlopen(server.url + "static/app.css") as response:
            assert response.status == 200
        process = server.process
    assert process.returncode is not None


def test_another_host_prints_a_warning(tmp_path, config_home):
    from zen_mlmd.stack import StackRegistry

    StackRegistry().register_metadata_store("empty", "sqlite", {"path": str(tmp_path / "m.db")})
    with UIServer("empty", tmp_path, extra_args=("--host", "0.0.0.0")) as server:
        assert server.url.startswith("http://0.0.0.0:")
        assert "Warning: serving on 0.0.0.0" in server.log() and "no login" in server.log()


def test_an_unknown_store_is_a_clear_error(run):
    result = run("ui", "--store", "nope", expect=2)
    assert "unknown metadata store 'nope'" in result.output
