#!/usr/bin/env bash
# Recording and query benchmarks of zen_mlmd next to raw MLMD and MLflow.
#
#   bash scripts/benchmark.sh [memory|sqlite|mysql|postgresql|grpc] [options of benchmarks.run]
#
# Sets up benchmarks/.venv-bench (system site packages + mlflow-skinny, its
# SQL store's sqlalchemy and alembic, pinned to protobuf<5 so ml-metadata keeps
# working), starts the database servers the backend needs (MariaDB or
# PostgreSQL, through scripts/test-servers.sh with a state directory of its
# own) and stops them after, then runs `python -m benchmarks.run`.
# Results: printed tables and benchmarks/results/<backend>.json.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BACKEND=${1:-sqlite}
[[ $# -gt 0 ]] && shift
case $BACKEND in
    memory | sqlite | mysql | postgresql | grpc) ;;
    -h | --help)
        sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "usage: $0 [memory|sqlite|mysql|postgresql|grpc] [options]" >&2
        exit 2
        ;;
esac

log() { printf 'benchmark: %s\n' "$*" >&2; }
t0=$SECONDS

PYTHON=${PYTHON:-python3}
VENV=$REPO/benchmarks/.venv-bench
"$PYTHON" -c 'import ml_metadata' 2>/dev/null \
    || { log "error: $PYTHON cannot import ml_metadata (install ml-metadata==1.17.1 first)"; exit 1; }
if [[ ! -x $VENV/bin/python ]]; then
    log "creating $VENV"
    "$PYTHON" -m venv --system-site-packages "$VENV"
fi
VPY=$VENV/bin/python
CONSTRAINTS=$(mktemp)
trap 'rm -f "$CONSTRAINTS"' EXIT
echo 'protobuf<5' >"$CONSTRAINTS"

# MLflow is optional: the benchmark runs without it and says so.
EXTRA=()
if ! "$VPY" -c 'import mlflow, sqlalchemy, alembic' 2>/dev/null; then
    log "installing mlflow-skinny, sqlalchemy and alembic into $VENV (protobuf<5)"
    if ! "$VPY" -m pip install -q -c "$CONSTRAINTS" mlflow-skinny sqlalchemy alembic >&2; then
        log "MLflow cannot be installed next to protobuf<5: running without the MLflow leg"
        EXTRA+=(--no-mlflow)
    fi
fi
if [[ $BACKEND == postgresql ]] && ! "$VPY" -c 'import psycopg' 2>/dev/null; then
    # Database sizes and MLflow's PostgreSQL store need a client.
    "$VPY" -m pip install -q -c "$CONSTRAINTS" 'psycopg[binary]' >&2 \
        || log "psycopg could not be installed: sizes on PostgreSQL will be n/a"
fi
if [[ " $* " == *" --profile "* ]] && ! "$VPY" -c 'import pyinstrument' 2>/dev/null; then
    "$VPY" -m pip install -q -c "$CONSTRAINTS" pyinstrument >&2 || log "pyinstrument missing: no profiles"
fi
"$VPY" -c 'import google.protobuf as p, ml_metadata; assert int(p.__version__.split(".")[0]) < 5, p.__version__' \
    || { log "error: the benchmark venv has a protobuf that breaks ml-metadata; remove $VENV"; exit 1; }

# Database servers for mysql / postgresql, unless ZEN_MLMD_TEST_* already point at some.
STARTED_SERVERS=0
if [[ $BACKEND == mysql || $BACKEND == postgresql ]]; then
    var=ZEN_MLMD_TEST_MYSQL_HOST
    [[ $BACKEND == postgresql ]] && var=ZEN_MLMD_TEST_PG_HOST
    if [[ -z ${!var:-} ]]; then
        export ZEN_MLMD_TEST_SERVERS_DIR=$REPO/benchmarks/.servers
        log "starting database servers (state in $ZEN_MLMD_TEST_SERVERS_DIR)"
        bash "$REPO/scripts/test-servers.sh" start
        STARTED_SERVERS=1
        trap 'rm -f "$CONSTRAINTS"; bash "$REPO/scripts/test-servers.sh" stop' EXIT
        # shellcheck disable=SC1091
        source "$ZEN_MLMD_TEST_SERVERS_DIR/env"
    fi
fi

cd "$REPO"
status=0
PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH} "$VPY" -m benchmarks.run --backend "$BACKEND" \
    ${EXTRA[@]+"${EXTRA[@]}"} "$@" || status=$?
[[ $STARTED_SERVERS -eq 1 ]] && log "stopping database servers"
log "done in $((SECONDS - t0)) s (exit $status)"
exit $status
