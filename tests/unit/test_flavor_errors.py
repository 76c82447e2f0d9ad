"""Configs that make MLMD abort the interpreter are refused first; errors name field, value and fix."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zen_mlmd.errors import ConfigError
from zen_mlmd.flavors import get_flavor

REPO = Path(__file__).resolve().parents[2]

#: Each of these kills the Python process with SIGABRT inside MLMD's C++ (ml-metadata 1.17.1).
ABORTING_CONFIGS = [
    ("mysql", {"host": "127.0.0.1", "socket": "/tmp/zen-none.sock", "database": "mlmd"}),
    ("mysql", {"database": "mlmd"}),
    ("mysql", {"host": "127.0.0.1", "database": ""}),
    ("postgresql", {"host": "127.0.0.1", "dbname": ""}),
    ("postgresql", {"dbname": "mlmd"}),
]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_no_aborting_config_reaches_mlmd():
    result = run_python(f"""
        from zen_mlmd.errors import ConfigError
        from zen_mlmd.flavors import get_flavor
        from zen_mlmd.mlmd.store import MetadataStore
        for flavor_name, options in {ABORTING_CONFIGS!r}:
            flavor = get_flavor(flavor_name)
            try:
                config = flavor.parse_config(options)
            except ConfigError as exc:
                print("ConfigError:", exc, flush=True)
                continue
            MetadataStore(flavor.connection_config(config))  # would abort the interpreter
            print("reached MLMD:", flavor_name, options, flush=True)
    """)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(ABORTING_CONFIGS), result.stdout
    assert all(line.startswith("ConfigError: ") for line in lines), result.stdout
    assert "host=None: exactly one of host or socket is required. Fix: set --host" in result.stdout
    assert "dbname='': is required and must not be empty" in result.stdout
    assert "host=None: at least one of host or hostaddr is required" in result.stdout


def test_the_danger_is_real_mlmd_aborts_on_such_a_config():
    """The control: handed straight to MLMD, the first config above kills the interpreter."""
    result = run_python("""
        from ml_metadata.metadata_store import metadata_store
        from ml_metadata.proto import metadata_store_pb2
        config = metadata_store_pb2.ConnectionConfig()
        config.mysql.host = "127.0.0.1"
        config.mysql.socket = "/tmp/zen-none.sock"
        config.mysql.database = "mlmd"
        metadata_store.MetadataStore(config)
    """)
    assert result.returncode == -signal.SIGABRT


@pytest.mark.parametrize("flavor_name, options, field, problem, fix", [
    ("sqlite", {"connection_mode": 3}, "connection_mode", "is not a valid choice",
     "use one of: readonly, readwrite or readwrite_opencreate"),
    ("mysql", {"host": "h", "database": "mlmd", "port": "abc"}, "port",
     "Input should be a valid integer, unable to parse string as an integer", "give a whole number"),
    ("mysql", {"host": "h", "database": "mlmd", "skip_db_creation": "maybe"}, "skip_db_creation",
     "Input should be a valid boolean, unable to interpret input", "use true or false"),
    ("postgresql", {"host": "h"}, "dbname", "is required", "set dbname"),
    ("kubeflow", {"host": "h", "client_timeout_sec": "soon"}, "client_timeout_sec",
     "Input should be a valid number, unable to parse string as a number", "give a number"),
])
def test_pydantics_own_errors_get_a_fix(flavor_name, options, field, problem, fix):
    with pytest.raises(ConfigError) as caught:
        get_flavor(flavor_name).parse_config(options)
    assert (caught.value.field, caught.value.problem, caught.value.fix) == (field, problem, fix)


def test_a_config_error_reads_field_value_problem_fix():
    with pytest.raises(ConfigError) as caught:
        get_flavor("mysql").parse_config({"host": "h", "port": 70000, "database": "mlmd"})
    assert str(caught.value) == ("port=70000: must be between 1 and 65535. "
                                 "Fix: use the TCP port the server listens on")
