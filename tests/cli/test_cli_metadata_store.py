"""`zen-mlmd metadata-store ...` through click's runner, in a private config directory."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time


from cli_helpers import error_of

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET = "Lit3ral-Passw0rd-xyz"
MYSQL = ["-f", "mysql", "--host", "127.0.0.1", "--port", "3306", "--database", "mlmd",
         "--user", "mlmd"]


def test_default_store_checks_ok_with_schema_version_10(run, config_home):
    database = config_home / "local_stores" / "default" / "metadata.db"
    result = run("metadata-store", "check")
    assert "Metadata store 'default' is OK." in result.stdout
    assert "none yet (created as version 10 by the first run, or by `zen-mlmd metadata-store " \
        "init default`)" in result.stdout
    assert not database.exists()  # a check creates nothing (a mistyped path stays visible)
    from zen_mlmd.stack import get_active_stack

    with get_active_stack().metadata_store.open():  # first use creates it
        pass
    assert "schema version: 10" in run("metadata-store", "check").stdout
    as_json = json.loads(run("metadata-store", "check", "default", "--json").stdout)
    assert as_json["ok"] is True and as_json["schema_version"] == 10


def test_register_list_describe_update_delete(run, tmp_path):
    db = tmp_path / "other" / "m.db"
    result = run("metadata-store", "register", "local2", "-f", "sqlite", "--path", str(db))
    assert "Registered metadata store 'local2'" in result.stdout
    listing = run("metadata-store", "list").stdout.splitlines()
    assert listing[0].split() == ["ACTIVE", "NAME", "FLAVOR", "TARGET", "STACKS"]
    assert listing[1].split()[:3] == ["*", "default", "sqlite"]
    assert listing[2].split()[:3] == ["local2", "sqlite", str(db)]
    described = run("metadata-store", "describe", "local2").stdout
    assert "Metadata store 'local2'" in described and str(db) in described
    run("metadata-store", "update", "local2", "--connection-mode", "readwrite")
    as_json = json.loads(run("metadata-store", "describe", "local2", "--json").stdout)
    assert as_json["config"]["connection_mode"] == "readwrite"
    assert as_json["config"]["path"] == str(db)
    run("metadata-store", "update", "local2", "--unset", "connection-mode")
    as_json = json.loads(run("metadata-store", "describe", "local2", "--json").stdout)
    assert as_json["config"]["connection_mode"] == "readwrite_opencreate"
    run("metadata-store", "update", "local2", expect=2)  # nothing to update
    assert "Deleted metadata store 'local2'" in run("metadata-store", "delete", "local2").stdout
    result = run("metadata-store", "describe", "local2", expect=2)
    assert "Error: unknown metadata store 'local2'" in result.stderr


def test_describe_without_name_shows_the_active_store(run):
    as_json = json.loads(run("metadata-store", "describe", "--json").stdout)
    assert as_json["name"] == "default" and as_json["active"] is True
    assert as_json["stacks"] == ["default"]


def test_literal_password_never_shown(run, config_home):
    result = run("metadata-store", "register", "prod", *MYSQL, "--password", SECRET)
    assert "${ENV_VAR}" in result.output and "file:/path" in result.output
    assert SECRET not in result.output
    outputs = [
        run("metadata-store", "describe", "prod").output,
        run("metadata-store", "describe", "prod", "--json").output,
        run("metadata-store", "list").output,
        run("metadata-store", "list", "--json").output,
        # errors about a store holding the secret, or about a command carrying it
        run("metadata-store", "register", "prod", *MYSQL, "--password", SECRET, expect=1).output,
        run("metadata-store", "update", "prod", "--port", "0", "--password", SECRET,
            expect=2).output,
        run("metadata-store", "register", "p2", *MYSQL, "--password", SECRET, "-o", "x=1",
            expect=2).output,
    ]
    for text in outputs:
        assert SECRET not in text
    assert "********" in outputs[0]
    # Stored only in the private config file.
    config_file = config_home / "config.yaml"
    assert SECRET in config_file.read_text()
    assert stat.S_IMODE(os.stat(config_file).st_mode) == 0o600


def test_password_reference_is_accepted_without_a_note(run):
    result = run("metadata-store", "register", "prod", *MYSQL, "--password", "${MLMD_PW}")
    assert "Note:" not in result.output


def test_unknown_flavor_lists_the_valid_ones(run):
    result = run("metadata-store", "register", "x", "-f", "oracle", expect=2)
    assert error_of(result).startswith("Error: unknown")
    for flavor in ("sqlite", "mysql", "postgresql", "kubeflow"):
        assert flavor in result.stderr


def test_unknown_option_is_named(run):
    result = run("metadata-store", "register", "x", "-f", "sqlite", "-o", "colour=blue", expect=2)
    assert "colour" in result.stderr and "unknown option" in result.stderr
    result = run("metadata-store", "register", "x", "-f", "sqlite", "-o", "colour", expect=2)
    assert "KEY=VALUE" in result.output
    names = [s["name"] for s in json.loads(run("metadata-store", "list", "--json").stdout)]
    assert names == ["default"]


def test_option_keys_may_use_dashes(run):
    run("metadata-store", "register", "ro", "-f", "sqlite", "-o", "connection-mode=readwrite")
    as_json = json.loads(run("metadata-store", "describe", "ro", "--json").stdout)
    assert as_json["config"]["connection_mode"] == "readwrite"


def test_flavor_list_shows_the_built_ins(run):
    rows = run("metadata-store", "flavor", "list").stdout.splitlines()
    assert rows[0].split()[:3] == ["FLAVOR", "INTEGRATION", "KIND"]
    names = {row.split()[0] for row in rows[1:]}
    assert {"sqlite", "mysql", "postgresql", "kubeflow"} <= names
    as_json = json.loads(run("metadata-store", "flavor", "list", "--json").stdout)
    assert {"sqlite", "mysql", "postgresql", "kubeflow"} <= {f["flavor"] for f in as_json}


def test_deleting_a_store_in_use_names_the_stack(run):
    run("metadata-store", "register", "shared", "-f", "sqlite", "--path", "x.db")
    run("stack", "register", "team", "-m", "shared", "-a", "default")
    result = run("metadata-store", "delete", "shared", expect=1)
    assert "Error:" in result.stderr and "'team'" in result.stderr
    assert "shared" in run("metadata-store", "list").stdout


def test_check_failure_says_problem_and_fix(run, tmp_path):
    missing = tmp_path / "nowhere" / "m.db"
    run("metadata-store", "register", "ro", "-f", "sqlite", "--path", str(missing),
        "--connection-mode", "readonly")
    result = run("metadata-store", "check", "ro", expect=1)
    assert error_of(result).startswith("Error: metadata store 'ro'")
    assert "Fix:" in result.stderr
    assert not missing.parent.exists()


def test_upgrade_asks_first_and_reports_the_version(run):
    result = run("metadata-store", "upgrade", "default", input="n\n", expect=1)
    assert "Back up the database first" in result.output and "Aborted" in result.output
    result = run("metadata-store", "upgrade", "default", "--yes")
    assert "schema version 10" in result.stdout


def test_grpc_endpoint_cannot_be_served_or_upgraded(run):
    run("metadata-store", "register", "kf", "-f", "kubeflow", "--host", "127.0.0.1",
        "--port", "8080")
    result = run("metadata-store", "serve", "kf", expect=2)
    assert "gRPC endpoint" in result.stderr and "Fix:" in result.stderr
    result = run("metadata-store", "upgrade", "kf", "--yes", expect=2)
    assert "server decides" in result.stderr


def test_serve_needs_both_tls_files(run, tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("not used")
    result = run("metadata-store", "serve", "default", "--tls-cert", str(cert), expect=2)
    assert "--tls-key" in result.output


def test_served_store_is_usable_through_the_kubeflow_flavor(run, config_home, tmp_path):
    ready = tmp_path / "port"
    env = {**os.environ, "PYTHONPATH": REPO}
    server = subprocess.Popen(
        [sys.executable, "-m", "zen_mlmd.cli.main", "metadata-store", "serve", "default",
         "--port", "0", "--ready-file", str(ready)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):  # up to a minute for the server to bind
            if ready.exists() or server.poll() is not None:
                break
            time.sleep(0.1)
        assert ready.exists(), server.communicate(timeout=10)
        port = ready.read_text().strip()
        run("metadata-store", "register", "remote", "-f", "kubeflow", "--host", "127.0.0.1",
            "--port", port)
        result = run("metadata-store", "check", "remote")
        assert "Metadata store 'remote' is OK." in result.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "serving MLMD on 127.0.0.1:" in out and "Stopped." in out
