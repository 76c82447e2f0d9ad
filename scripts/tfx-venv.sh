#!/usr/bin/env bash
# Builds, once, the separate virtual environment in which TFX's own
# orchestration code runs, and prints the path of its Python.
#
# TFX (ml-pipelines-sdk) needs protobuf 6, which cannot load next to
# ml-metadata 1.17 in zen_mlmd's environment; in a venv of its own, with
# ml-metadata 1.17.1 and protobuf 6.31.1 installed without dependency checks,
# its LocalDagRunner records real TFX runs. The TFX tests run pipelines there
# as subprocesses (adapters/tfx/tests/tfx_runs/) and read what they wrote.
#
# The venv lives in a cache directory keyed by the pins and the interpreter,
# so a second call returns at once and a change of pins builds a new one:
#   ${ZEN_MLMD_TEST_CACHE:-${XDG_CACHE_HOME:-~/.cache}/zen-mlmd-test}/tfx-<key>
set -euo pipefail

PYTHON=${PYTHON:-python3}
CACHE=${ZEN_MLMD_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zen-mlmd-test}
# Installed first, with their dependencies.
BASE=(ml-metadata==1.17.1 absl-py attrs packaging portpicker psutil 'docker<8' 'google-api-python-client<2')
# Installed last without dependency checks: TFX asks for ml-metadata 1.21 and
# protobuf 6, ml-metadata 1.17.1 for protobuf 4; this pair is known to work.
NO_DEPS=(protobuf==6.31.1 ml-pipelines-sdk==1.21.0)

log() { printf 'tfx-venv.sh: %s\n' "$*" >&2; }

version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
key=$(printf '%s\n' "$version" "${BASE[@]}" -- "${NO_DEPS[@]}" | sha256sum | cut -c1-12)
venv=$CACHE/tfx-$key
if [[ -f $venv/.complete ]]; then
    echo "$venv/bin/python"
    exit 0
fi

mkdir -p "$CACHE"
exec 9>"$venv.lock"
flock 9  # two test runs building at once: the second waits and reuses
if [[ ! -f $venv/.complete ]]; then
    log "building the TFX environment in $venv (Python $version)"
    rm -rf "$venv"
    build_log=$CACHE/tfx-$key.log
    if ! {
        "$PYTHON" -m venv "$venv" &&
        "$venv/bin/python" -m pip install -q "${BASE[@]}" &&
        "$venv/bin/python" -m pip install -q --no-deps "${NO_DEPS[@]}" &&
        "$venv/bin/python" - <<'PY'
import sys, types
sys.modules["tfx.extensions"] = types.ModuleType("tfx.extensions")
import tfx.types.standard_artifacts  # noqa: F401
from tfx.orchestration.local.local_dag_runner import LocalDagRunner  # noqa: F401
import ml_metadata, google.protobuf
assert google.protobuf.__version__ == "6.31.1", google.protobuf.__version__
PY
    } >"$build_log" 2>&1; then
        grep -v 'is ignored: it is neither a file nor a directory' "$build_log" | tail -40 >&2
        log "could not build the TFX environment (full log: $build_log)"
        exit 1
    fi
    touch "$venv/.complete"
fi
echo "$venv/bin/python"
