"""Where code comes from: the user's own files, an installed package, Python, or zen_mlmd.

The code fingerprint follows the user's own code to any depth and stops at
the others, which are named instead: an installed package by its
distribution's version, Python's standard library by the Python version,
zen_mlmd (the step machinery) by its own version.

A file is the user's when it is not under a ``site-packages`` /
``dist-packages`` directory, Python's standard library or an environment
prefix. Code without a file (``<stdin>``, ``exec``, a notebook cell) is the
user's too: nothing else could have written it.
"""
from __future__ import annotations

import os
import sys
import sysconfig
from functools import lru_cache

USER = "user"
INSTALLED = "installed"
PYTHON = "python"
TOOL = "zen_mlmd"

_TOOL_PACKAGES = ("zen_mlmd",)
_TOOL_PREFIX = "zen_mlmd_"  # the adapters: zen_mlmd_kfp, zen_mlmd_tfx
_SITE_DIRS = ("site-packages", "dist-packages")


def _real(path: str) -> str:
    return os.path.realpath(path) if path else ""


_PATHS = sysconfig.get_paths()
_STDLIB = tuple({_real(_PATHS.get("stdlib", "")), _real(_PATHS.get("platstdlib", ""))} - {""})
_PREFIXES = tuple({_real(sys.prefix), _real(sys.base_prefix), _real(sys.exec_prefix)} - {""})


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root + os.sep) for root in roots)


@lru_cache(maxsize=4096)
def file_origin(path: str) -> str:
    """`USER`, `INSTALLED`, `PYTHON` or `TOOL` for a code file name (`co_filename`)."""
    if not path or path.startswith("<frozen"):
        return PYTHON
    if path.startswith("<"):
        return USER  # <stdin>, <string>: code the user ran by hand
    real = _real(path)
    parts = real.split(os.sep)
    if any(site in parts for site in _SITE_DIRS):
        top = _top_after_site(parts)
        return TOOL if _is_tool(top) else INSTALLED
    if _under(real, _STDLIB):
        return PYTHON
    if _under(real, _tool_dirs()):
        return TOOL
    if _under(real, _PREFIXES):
        return INSTALLED
    return USER


def module_origin(module_name: str | None) -> str:
    """The origin of a module by name (`__module__` of a class, for instance)."""
    if not module_name:
        return USER
    top = module_name.partition(".")[0]
    if _is_tool(top):
        return TOOL
    if top in sys.stdlib_module_names or top == "builtins":
        return PYTHON
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None) if module is not None else None
    if module is not None and not path:
        locations = list(getattr(module, "__path__", None) or ())
        if locations:  # a namespace package: where its first part lives
            return file_origin(locations[0])
        # a module made at run time: the user's, unless Python's own
        return PYTHON if module_name in sys.builtin_module_names else USER
    return file_origin(path) if path else USER


def package_of(module_name: str | None, path: str | None = None) -> str:
    """The import name of the top-level package some installed code belongs to.

    Taken from the file path when it is under ``site-packages`` (a wrapper
    made by `functools.wraps` reports the wrapped function's module, not its
    own), else from the module name.
    """
    if path:
        top = _top_after_site(_real(path).split(os.sep))
        if top:
            return top
    return (module_name or "").partition(".")[0]


@lru_cache(maxsize=1024)
def package_version(top_level: str) -> str:
    """``"<distribution> <version>"`` for an installed top-level import name ("unknown" if not found)."""
    from importlib import metadata

    names = [top_level, top_level.replace("_", "-")]
    names += _distributions().get(top_level, [])
    for name in names:
        try:
            return f"{name} {metadata.version(name)}"
        except (metadata.PackageNotFoundError, ValueError):
            continue
    version = getattr(sys.modules.get(top_level), "__version__", None)
    return f"{top_level} {version}" if isinstance(version, str) else f"{top_level} unknown"


def python_version() -> str:
    """``major.minor``: what the standard library and the bytecode follow."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


@lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    # ~0.1 s (reads every installed distribution's file list): asked only for
    # import names that are not also distribution names (sklearn, yaml, ...)
    from importlib import metadata

    return metadata.packages_distributions()


def _top_after_site(parts: list[str]) -> str:
    for i, part in enumerate(parts[:-1]):
        if part in _SITE_DIRS:
            name = parts[i + 1]
            return name[:-3] if name.endswith(".py") else name.partition(".")[0]
    return ""


def _is_tool(top: str) -> bool:
    return top in _TOOL_PACKAGES or top.startswith(_TOOL_PREFIX)


def _tool_dirs() -> tuple[str, ...]:
    # zen_mlmd and its adapters may be installed editable, outside site-packages
    dirs = []
    for name, module in list(sys.modules.items()):
        if "." not in name and _is_tool(name):
            path = getattr(module, "__file__", None)
            if path:
                dirs.append(_real(os.path.dirname(path)))
    return tuple(dirs)
