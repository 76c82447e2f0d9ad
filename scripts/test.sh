#!/usr/bin/env bash
# The test command: install the packages, start throw-away MariaDB and
# PostgreSQL servers, run the whole suite on every backend, stop the servers.
#
#   bash scripts/test.sh                      # everything
#   bash scripts/test.sh -k lineage           # extra arguments go to pytest
#   bash scripts/test.sh tests/unit           # paths replace the default ones
#
# To use servers of your own, export ZEN_MLMD_TEST_MYSQL_* and
# ZEN_MLMD_TEST_PG_* (see scripts/test-servers.sh for the full list);
# ZEN_MLMD_TEST_SKIP_INSTALL=1 skips the pip step.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
PYTHON=${PYTHON:-python3}

log() { printf 'test.sh: %s\n' "$*" >&2; }

# --- 1. packages ----------------------------------------------------------------
if [[ ${ZEN_MLMD_TEST_SKIP_INSTALL:-0} != 1 ]]; then
    pip_args=(-q)
    export PIP_ROOT_USER_ACTION=ignore
    # A distribution's own interpreter refuses pip outside a virtualenv (PEP 668).
    if "$PYTHON" - <<'PY'
import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if (not in_venv and os.path.exists(marker)) else 1)
PY
    then
        pip_args+=(--break-system-packages)
    fi
    editables=(-e '.[test]')
    for adapter in adapters/kfp adapters/tfx; do
        if [[ -f $adapter/setup.cfg ]]; then editables+=(-e "$adapter"); fi
    done
    log "pip install ${editables[*]}"
    "$PYTHON" -m pip install "${pip_args[@]}" "${editables[@]}"
fi

# The TFX tests read stores written by TFX's own code, which runs in a venv
# of its own (protobuf 6); built once into a cache directory, then reused.
if [[ -z ${ZEN_MLMD_TEST_TFX_PYTHON:-} ]]; then
    ZEN_MLMD_TEST_TFX_PYTHON=$(PYTHON=$PYTHON bash scripts/tfx-venv.sh)
    export ZEN_MLMD_TEST_TFX_PYTHON
fi

# --- 2. servers -------------------------------------------------------------------
if [[ -n ${ZEN_MLMD_TEST_MYSQL_HOST:-} && -n ${ZEN_MLMD_TEST_PG_HOST:-} ]]; then
    log "using the servers at ZEN_MLMD_TEST_MYSQL_HOST and ZEN_MLMD_TEST_PG_HOST"
    # Still wanted without our servers: graphviz's `dot` for the lineage pictures.
    bash scripts/test-servers.sh deps || log "warning: some tests need missing packages"
else
    stop_servers() { bash "$REPO/scripts/test-servers.sh" stop || true; }
    trap stop_servers EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    bash scripts/test-servers.sh start   # installs missing packages first
    # shellcheck disable=SC1091
    source "${ZEN_MLMD_TEST_SERVERS_DIR:-$REPO/.test-servers}/env"
fi

# --- 3. pytest ----------------------------------------------------------------------
# Paths among the arguments replace the default test directories.
user_paths=0
for arg in "$@"; do
    if [[ $arg != -* && -e ${arg%%::*} ]]; then
        user_paths=1
        break
    fi
done
paths=()
if [[ $user_paths -eq 0 ]]; then
    paths=(tests)
    for dir in adapters/*/tests; do
        if [[ -d $dir ]]; then paths+=("$dir"); fi
    done
fi

# tests/backends.py is a plugin: adapters/*/tests get the backend fixtures too.
export PYTHONPATH="$REPO/tests${PYTHONPATH:+:$PYTHONPATH}"
status=0
"$PYTHON" -m pytest -p no:cacheprovider -p backends -q -rfE "${paths[@]}" "$@" || status=$?
exit "$status"
