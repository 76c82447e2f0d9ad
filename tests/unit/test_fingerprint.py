"""Code fingerprints follow the user's code, not the installed libraries it uses.

Each version of a module is written to its own directory and imported under
the same module name, so that only the source differs between fingerprints.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from zen_mlmd.tracking.fingerprint import code_fingerprint

STEP = '''
import json
import helpers_{tag}
from helpers_{tag} import scale


def normalize(values):
    {normalize_body}


class Window:
    def size(self):
        return {window}


def my_step(values: list, factor: float = 2.0):
    out = [scale(v, factor) for v in normalize(values)]
    Window().size()
    helpers_{tag}.offset(1)
    return json.dumps(out)


def unrelated():
    return {unrelated}
'''

HELPERS = '''
def scale(value, factor):
    return value * {scale}


def offset(value):
    return value + {offset}


def unused():
    return {unused}
'''

LIBRARY = '''
def shout(text):
    return text.upper() + "{suffix}"
'''

LIB_STEP = '''
from fakelib_{tag} import shout
import fakelib_{tag}


def lib_step(text: str):
    return shout(text) + fakelib_{tag}.shout(text)
'''

DEFAULTS = dict(normalize_body="return [v / max(values) for v in values]", window=3,
                unrelated=0, scale="factor", offset=1, unused=0)


def _load(directory: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, directory / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def fingerprint_of(tmp_path: Path, version: str, tag: str = "fp", **changes) -> str:
    """The fingerprint of `my_step` in a fresh copy of the module with `changes`."""
    values = {**DEFAULTS, **changes}
    directory = tmp_path / version
    directory.mkdir()
    (directory / f"helpers_{tag}.py").write_text(HELPERS.format(**values))
    (directory / f"steps_{tag}.py").write_text(STEP.format(tag=tag, **values))
    sys.path.insert(0, str(directory))
    saved = {k: sys.modules.pop(k) for k in (f"helpers_{tag}", f"steps_{tag}") if k in sys.modules}
    try:
        _load(directory, f"helpers_{tag}")
        module = _load(directory, f"steps_{tag}")
        return code_fingerprint(module.my_step)
    finally:
        sys.path.remove(str(directory))
        for name in (f"helpers_{tag}", f"steps_{tag}"):
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def test_same_source_same_fingerprint(tmp_path):
    first = fingerprint_of(tmp_path, "a")
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64
    assert fingerprint_of(tmp_path, "b") == first


def test_changing_the_step_source_changes_it(tmp_path):
    base = fingerprint_of(tmp_path, "a")
    changed = fingerprint_of(tmp_path, "b", normalize_body="return [v for v in values]")
    assert changed != base


def test_changing_a_local_helper_function_changes_it(tmp_path):
    assert fingerprint_of(tmp_path, "a") != fingerprint_of(tmp_path, "b", window=4)


def test_changing_a_helper_imported_from_another_user_module_changes_it(tmp_path):
    assert fingerprint_of(tmp_path, "a") != fingerprint_of(tmp_path, "b", scale="factor * 2")


def test_changing_a_helper_reached_through_a_module_attribute_changes_it(tmp_path):
    assert fingerprint_of(tmp_path, "a") != fingerprint_of(tmp_path, "b", offset=2)


def test_code_the_step_does_not_reach_does_not_change_it(tmp_path):
    base = fingerprint_of(tmp_path, "a")
    assert fingerprint_of(tmp_path, "b", unrelated=42) == base
    assert fingerprint_of(tmp_path, "c", unused=42) == base


def test_an_installed_library_is_not_part_of_it(tmp_path):
    """A library under site-packages may change (new version) without changing the fingerprint."""
    prints = []
    for version, suffix in (("v1", "!"), ("v2", "!!!")):
        site = tmp_path / version / "lib" / "python3" / "site-packages"
        site.mkdir(parents=True)
        (site / "fakelib_lib.py").write_text(LIBRARY.format(suffix=suffix))
        user = tmp_path / version / "project"
        user.mkdir()
        (user / "libsteps_lib.py").write_text(LIB_STEP.format(tag="lib"))
        sys.path[:0] = [str(site), str(user)]
        try:
            _load(site, "fakelib_lib")
            module = _load(user, "libsteps_lib")
            assert module.lib_step("a") == "A" + suffix + "A" + suffix  # the new library is used
            prints.append(code_fingerprint(module.lib_step))
        finally:
            sys.path.remove(str(site))
            sys.path.remove(str(user))
            sys.modules.pop("fakelib_lib", None)
            sys.modules.pop("libsteps_lib", None)
    assert prints[0] == prints[1]


def test_a_step_object_is_fingerprinted_through_its_function(tmp_path):
    from zen_mlmd.pipelines.step import step

    directory = tmp_path / "s"
    directory.mkdir()
    (directory / "wrapped_fp.py").write_text(
        "from zen_mlmd.pipelines.step import step\n\n"
        "def helper(x):\n    return x + 1\n\n"
        "@step\ndef inner(x: int = 1):\n    return helper(x)\n\n"
        "def outer(x):\n    return inner(x)\n")
    module = _load(directory, "wrapped_fp")
    try:
        with_step = code_fingerprint(module.outer)
        (directory / "wrapped_fp.py").write_text(
            (directory / "wrapped_fp.py").read_text().replace("x + 1", "x + 2"))
        import linecache

        linecache.checkcache()
        module = _load(directory, "wrapped_fp")
        assert code_fingerprint(module.outer) != with_step  # the helper behind the step changed
        assert step  # imported for the module under test
    finally:
        sys.modules.pop("wrapped_fp", None)


CONSTANT_STEP = '''
THRESHOLD = {threshold}


def const_step(values: list):
    return [v for v in values if v > THRESHOLD]
'''

INSTALLED_STEPS = '''
def load_a():
    return {{"which": "a"}}


def load_b():
    return {{"which": "b"}}


def load_a_again():
    return {{"which": "a"}}
'''


def test_a_module_constant_the_step_reads_is_part_of_it(tmp_path):
    prints = []
    for version, threshold in (("v1", 0.5), ("v2", 0.7)):
        directory = tmp_path / version
        directory.mkdir()
        (directory / "const_fp.py").write_text(CONSTANT_STEP.format(threshold=threshold))
        try:
            prints.append(code_fingerprint(_load(directory, "const_fp").const_step))
        finally:
            sys.modules.pop("const_fp", None)
    assert prints[0] != prints[1]


def test_installed_steps_are_told_apart_by_identity_and_code(tmp_path):
    """Code under site-packages has no user source: its bytecode and name stand in."""
    site = tmp_path / "lib" / "python3" / "site-packages"
    site.mkdir(parents=True)
    (site / "installed_steps_fp.py").write_text(INSTALLED_STEPS)
    try:
        module = _load(site, "installed_steps_fp")
        a, b, again = (code_fingerprint(f) for f in (module.load_a, module.load_b, module.load_a_again))
    finally:
        sys.modules.pop("installed_steps_fp", None)
    assert len({a, b, again}) == 3  # same body as load_a, but another step
    assert a == code_fingerprint(module.load_a)  # stable


def test_comments_and_line_numbers_are_not_part_of_it(tmp_path):
    """The bytecode, not the text, is fingerprinted: moving or commenting code keeps the key."""
    base = fingerprint_of(tmp_path, "a")
    moved = fingerprint_of(tmp_path, "b", normalize_body="# scale to [0, 1]\n\n    "
                           "return [v / max(values) for v in values]")
    assert moved == base


def test_a_new_version_of_an_installed_package_changes_it(tmp_path):
    """Code under site-packages is named with its distribution's version, not followed."""
    from zen_mlmd.tracking import code_origin
    from zen_mlmd.tracking.fingerprint import fingerprint

    prints = []
    for version in ("1.0", "2.0"):
        site = tmp_path / version / "lib" / "python3" / "site-packages"
        site.mkdir(parents=True)
        (site / "fakelib_ver.py").write_text(LIBRARY.format(suffix="!"))
        info = site / f"fakelib_ver-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakelib_ver\nVersion: {version}\n")
        user = tmp_path / version / "project"
        user.mkdir()
        (user / "libsteps_ver.py").write_text(LIB_STEP.format(tag="ver"))
        sys.path[:0] = [str(site), str(user)]
        code_origin.package_version.cache_clear()
        try:
            _load(site, "fakelib_ver")
            prints.append(fingerprint(_load(user, "libsteps_ver").lib_step))
        finally:
            sys.path.remove(str(site))
            sys.path.remove(str(user))
            sys.modules.pop("fakelib_ver", None)
            sys.modules.pop("libsteps_ver", None)
            code_origin.package_version.cache_clear()
    assert prints[0].value != prints[1].value
    assert prints[0].parts["reads"]["package fakelib_ver"]["shown"] == "fakelib_ver 1.0"
    assert prints[1].parts["reads"]["package fakelib_ver"]["shown"] == "fakelib_ver 2.0"
    assert not any(label.startswith("function fakelib_ver") for label in prints[0].parts["reads"])
