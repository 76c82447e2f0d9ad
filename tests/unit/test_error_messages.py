"""Errors stay short and actionable: bounded name suggestions, and a `Fix:` everywhere."""
from __future__ import annotations

import ast
from pathlib import Path

from zen_mlmd.errors import UnknownNameError

PACKAGE = Path(__file__).resolve().parents[2] / "zen_mlmd"
KFP_ADAPTER = Path(__file__).resolve().parents[2] / "adapters" / "kfp" / "zen_mlmd_kfp"

#: Modules whose every raise of a zen_mlmd error must carry a fix.
AUDITED = [
    *sorted((PACKAGE / "cli").glob("*.py")),
    *[p for p in sorted((PACKAGE / "stack").glob("*.py")) if not p.name.startswith("port_forward")],
    *sorted((PACKAGE / "pipelines").glob("*.py")),
    PACKAGE / "post_execution" / "api.py",
    PACKAGE / "post_execution" / "export.py",
    PACKAGE / "flavors" / "sqlite.py",
    PACKAGE / "mlmd" / "store.py",
    PACKAGE / "errors.py",
    KFP_ADAPTER / "orchestrator.py",
    KFP_ADAPTER / "flavor.py",
]
#: Errors that carry their fix another way: click's usage errors print
#: "Try 'zen-mlmd ... -h' for help"; these take the fix as an argument or
#: build it themselves.
FIX_BY_CONSTRUCTION = {"UnknownNameError", "StepFailedError", "UsageError", "BadParameter"}
FIX_ARGUMENT = {"ConfigError": 3, "PortForwardError": 1}
BUILTIN_ERRORS = {"ValueError", "TypeError", "RuntimeError", "AttributeError", "KeyError"}


def _text(node: ast.AST) -> str:
    return "".join(n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def _missing_fixes(path: Path) -> list[str]:
    missing = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        call = node.exc if isinstance(node, ast.Raise) else None
        if not isinstance(call, ast.Call):
            continue
        name = getattr(call.func, "id", None) or getattr(call.func, "attr", "")
        if not name.endswith("Error") or name in BUILTIN_ERRORS or name in FIX_BY_CONSTRUCTION:
            continue
        if name in FIX_ARGUMENT:
            given = len(call.args) > FIX_ARGUMENT[name] or any(k.arg == "fix" for k in call.keywords)
            if given:
                continue
        elif "Fix:" in _text(call) or "exc" in ast.unparse(call):  # a wrapped error keeps its fix
            continue
        missing.append(f"{path.name}:{node.lineno} {ast.unparse(call)[:100]}")
    return missing


def test_every_error_raised_in_the_audited_modules_says_how_to_fix_it():
    missing = [line for path in AUDITED for line in _missing_fixes(path)]
    assert missing == []


def test_the_audit_finds_a_raise_without_a_fix(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f(x):\n    raise StoreError(f'{x} failed')\n"
                      "def g(x):\n    raise ConfigError('field', x, 'bad')\n"
                      "def h(x):\n    raise StoreError(f'{x} failed. Fix: retry')\n")
    assert [line.split()[0] for line in _missing_fixes(sample)] == ["sample.py:2", "sample.py:4"]


def test_an_unknown_name_among_many_long_ones_stays_one_short_line():
    runs = [f"training-2026_11_{day:02d}-14_02_{second:02d}_337121" for day in range(1, 29)
            for second in range(20)]
    message = str(UnknownNameError("run", "evaluation-7", runs))
    assert message == ("unknown run 'evaluation-7'; no name is close to it. "
                       "Fix: list the valid names with `zen-mlmd run list`")
    close = str(UnknownNameError("run", "training-2026_11_03-14_02_1", runs))
    assert close.split("did you mean ")[1].count("'training-") == UnknownNameError.MAX_MATCHES
    assert close.endswith("? Fix: list the valid names with `zen-mlmd run list`")
    assert len(close) < 250


def test_few_short_names_are_listed_and_every_kind_gets_a_fix():
    assert str(UnknownNameError("stack", "prod", ["default", "dev"])) == (
        "unknown stack 'prod'; valid options are: default, dev. "
        "Fix: list the valid names with `zen-mlmd stack list`")
    assert str(UnknownNameError("materializer", "x", [])) == (
        "unknown materializer 'x'; there is no materializer yet. Fix: check the materializer name")
    assert str(UnknownNameError("run", "r", ["a"], fix="list runs with `zen-mlmd run list`")).endswith(
        "Fix: list runs with `zen-mlmd run list`")


def test_a_failed_step_says_where_its_traceback_is():
    from zen_mlmd.errors import StepFailedError

    try:
        raise ValueError("bad input")
    except ValueError as cause:
        message = str(StepFailedError("train", "run-1", cause))
    assert message.startswith("step 'train' of run 'run-1' failed: ValueError: bad input (at ")
    assert message.endswith(". Fix: read the recorded traceback with `zen-mlmd run describe run-1`")
