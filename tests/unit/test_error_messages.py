"""Errors stay short and actionable: bounded name suggestions, and a `Fix:` everywhere."""
from __future__ import annotations

import ast
from pathlib import Path

from zen_mlmd.errors import UnknownNameError

PACKAGE = Path(__file__).resolve().parents[2] / "zen_mlmd"
KFP_ADAPTER = Path(__file__).resolve().parents[2] / "adapters" / "kfp" / "zen_mlmd_kfp"

PACKAGES = [PACKAGE, KFP_ADAPTER, KFP_ADAPTER.parents[1] / "tfx" / "zen_mlmd_tfx"]

#: Modules whose every raise of a zen_mlmd error must carry a fix: all of them.
AUDITED = [path for package in PACKAGES for path in sorted(package.rglob("*.py"))]
#: Raises that never reach a user as they are, by module and error name: each
#: is caught and translated (with a fix) a layer up, or speaks to a plugin author.
INTERNAL = {
    # an abstract hook a convention plugin must define: a programming error
    ("mlmd/convention.py", "NotImplementedError"),
    # the child's error, translated by `SchemaDatabase._error` into a StoreError with a fix
    ("mlmd/sqlite_process.py", "sqlite3.OperationalError"),
    # translated by `SchemaDatabase.__init__` into a StoreUnavailableError with a fix
    ("mlmd/database.py", "FileNotFoundError"),
    # the file API materializers expect; `read_artifact` wraps it with a fix
    ("artifacts/reading.py", "FileNotFoundError"),
    # the fingerprint reports a module it cannot find as a reason, not an error
    ("tracking/code_identity.py", "ImportError"),
}
#: Errors that carry their fix another way: click's usage errors print
#: "Try 'zen-mlmd ... -h' for help"; these take the fix as an argument or
#: build it themselves.
FIX_BY_CONSTRUCTION = {"UnknownNameError", "StepFailedError", "PublishFailedError", "UsageError",
                       "BadParameter"}
FIX_ARGUMENT = {"ConfigError": 3, "PortForwardError": 1}
BUILTIN_ERRORS = {"ValueError", "TypeError", "RuntimeError", "AttributeError", "KeyError"}
#: The error classes zen_mlmd defines: each one raised by zen_mlmd carries a fix,
#: so an error that only passes on a caught one keeps it.
OWN_ERRORS = {node.name for package in PACKAGES for path in package.rglob("*.py")
              for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
              if isinstance(node, ast.ClassDef) and node.name.endswith("Error")}


def _text(node: ast.AST) -> str:
    return "".join(n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def _names(node: ast.AST | None, aliases: dict[str, list[str]]) -> list[str]:
    """The class names an `except` clause catches (module-level tuples resolved)."""
    if node is None:
        return ["BaseException"]
    if isinstance(node, ast.Tuple):
        return [name for element in node.elts for name in _names(element, aliases)]
    name = ast.unparse(node).rpartition(".")[2]
    return aliases.get(name, [name])


def _wrapped_own_errors(tree: ast.Module) -> dict[int, set[str]]:
    """For each raise inside `except OwnError as NAME`: the names bound to zen_mlmd errors."""
    aliases = {target.id: [ast.unparse(e).rpartition(".")[2] for e in node.value.elts]
               for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple)
               for target in node.targets if isinstance(target, ast.Name)}
    bound: dict[int, set[str]] = {}
    for handler in ast.walk(tree):
        if not isinstance(handler, ast.ExceptHandler) or not handler.name:
            continue
        if all(name in OWN_ERRORS for name in _names(handler.type, aliases)):
            for node in ast.walk(handler):
                if isinstance(node, ast.Raise):
                    bound.setdefault(id(node), set()).add(handler.name)
    return bound


def _missing_fixes(path: Path) -> list[str]:
    relative = path.relative_to(PACKAGE).as_posix() if PACKAGE in path.parents else path.name
    tree = ast.parse(path.read_text(encoding="utf-8"))
    wrapped = _wrapped_own_errors(tree)
    missing = []
    for node in ast.walk(tree):
        call = node.exc if isinstance(node, ast.Raise) else None
        if not isinstance(call, ast.Call):
            continue
        name = ast.unparse(call.func)
        short = name.rpartition(".")[2]
        if (relative, name) in INTERNAL or not short.endswith("Error") or short in BUILTIN_ERRORS \
                or short in FIX_BY_CONSTRUCTION:
            continue
        if short in FIX_ARGUMENT:
            given = len(call.args) > FIX_ARGUMENT[short] or any(k.arg == "fix" for k in call.keywords)
            if given:
                continue
        elif "Fix:" in _text(call):
            continue
        elif {n.id for n in ast.walk(call) if isinstance(n, ast.Name)} & wrapped.get(id(node), set()):
            continue  # a wrapped zen_mlmd error keeps its fix
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


def test_the_audit_lets_a_wrapped_error_keep_its_fix_only_when_it_is_zen_mlmds(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("OWN = (StoreError, PreflightError)\n"
                      "def f():\n    try:\n        g()\n    except OSError as exc:\n"
                      "        raise StoreError(f'failed: {exc}')\n"
                      "def g():\n    try:\n        f()\n    except OWN as exc:\n"
                      "        raise MaterializerError(f'failed: {exc}')\n"
                      "def h(exception):\n    raise StoreError(f'execution failed: {exception}')\n")
    assert sorted(line.split()[0] for line in _missing_fixes(sample)) == ["sample.py:13", "sample.py:6"]


def test_every_module_of_the_package_and_its_adapters_is_audited():
    audited = {path.relative_to(PACKAGE.parent).as_posix() for path in AUDITED}
    assert {"zen_mlmd/artifacts/reading.py", "zen_mlmd/post_execution/contents.py",
            "zen_mlmd/lifecycle/deletion.py", "zen_mlmd/mlmd/remote_deletion.py",
            "zen_mlmd/ui/app.py", "adapters/tfx/zen_mlmd_tfx/configs.py"} <= audited


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
