"""Suite-wide test setup.

The metadata-store backend fixtures (`backend`, `metadata_store`,
`config_dir`) live in tests/backends.py, a pytest plugin loaded here for
every test under tests/ (`scripts/test.sh` also loads it with ``-p backends``
for adapters/*/tests). The hooks below count the tests of each backend and
print the counts at the end of the run, e.g. ``backend mysql: 12 passed``.
"""
import collections
import sys
from pathlib import Path

import pytest

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:  # also when tests/ is made a package
    sys.path.insert(0, _TESTS_DIR)

pytest_plugins = ["backends"]


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    """A zen-mlmd config directory that does not exist yet (zen-mlmd creates it)."""
    directory = tmp_path / "zen-config"
    monkeypatch.setenv("ZEN_MLMD_CONFIG_DIR", str(directory))
    return directory

_backend_of: dict[str, str] = {}
_outcomes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
_SHOWN_OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "backend" in callspec.params:
            _backend_of[item.nodeid] = callspec.params["backend"]
            item.add_marker(pytest.mark.backend)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    backend_name = _backend_of.get(report.nodeid)
    if backend_name is None:
        return
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if report.passed:
            outcome = "xpassed" if xfail else "passed"
        elif report.skipped:
            outcome = "xfailed" if xfail else "skipped"
        else:
            outcome = "failed"
    elif report.failed:
        outcome = "error"
    elif report.skipped and report.when == "setup":
        outcome = "skipped"
    else:
        return
    _outcomes[backend_name][outcome] += 1


def pytest_terminal_summary(terminalreporter) -> None:
    if not _outcomes:
        return
    from backends import BACKENDS  # imported by then, as a plugin

    terminalreporter.write_sep("-", "tests per backend")
    names = [name for name in BACKENDS if name in _outcomes]
    names += sorted(set(_outcomes) - set(BACKENDS))
    for name in names:
        counts = _outcomes[name]
        parts = [f"{counts['passed']} passed"]
        parts += [f"{counts[outcome]} {outcome}" for outcome in _SHOWN_OUTCOMES[1:]
                  if counts[outcome]]
        terminalreporter.write_line(f"backend {name}: {', '.join(parts)}")
