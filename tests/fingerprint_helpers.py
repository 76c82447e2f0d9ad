"""Write user modules to files and import them, as a project's own code would be.

Each module gets a name no other test uses, so that `sys.modules` holds one
version at a time; `load` replaces an earlier version of the same name (an
edited file, imported again).
"""
from __future__ import annotations

import importlib.util
import itertools
import linecache
import sys
import textwrap
from pathlib import Path

_counter = itertools.count()


def unique(prefix: str) -> str:
    """A module name no other test uses."""
    return f"{prefix}_{next(_counter)}_fp"


def load(directory: Path, name: str, source: str):
    """Write `<directory>/<name>.py` and import it as `name` (replacing an earlier import)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    linecache.checkcache(str(path))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    spec.loader.exec_module(module)
    return module
