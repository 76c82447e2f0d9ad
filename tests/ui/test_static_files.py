"""The web view's files ship in the package: templates, styles, and the vendored graph library with its licences."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import zen_mlmd.ui

UI = Path(zen_mlmd.ui.__file__).parent
VENDOR = UI / "static" / "vendor"
REPO = UI.parents[1]


def test_vendored_files_match_their_recorded_releases_and_licences():
    table = (VENDOR / "VENDORED.md").read_text()
    rows = re.findall(r"\| `([\w.-]+\.js)` \| `([\w@/.-]+)` \| ([\d.]+) \| MIT \| `(LICENSE[\w.-]*)` \| `([0-9a-f]{64})` \|",
                      table)
    assert {row[0] for row in rows} == {p.name for p in VENDOR.glob("*.js")}
    for name, package, version, licence, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
        assert "Permission is hereby granted" in (VENDOR / licence).read_text()
    for bundled in ("LICENSE.dagre", "LICENSE.graphlib"):
        assert bundled in table and (VENDOR / bundled).exists()


def test_every_page_uses_only_files_that_exist():
    for template in (UI / "templates").glob("*.html"):
        for path in re.findall(r'(?:src|href)="/static/([^"]+)"', template.read_text()):
            assert (UI / "static" / path).is_file(), (template.name, path)


def test_the_wheel_holds_templates_and_static_files(tmp_path):
    source = tmp_path / "source"  # a copy: building leaves build/ behind
    shutil.copytree(REPO / "zen_mlmd", source / "zen_mlmd", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                            str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = tmp_path.glob("zen_mlmd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"zen_mlmd/ui/{p.relative_to(UI).as_posix()}" for p in UI.rglob("*")
                if p.is_file() and p.suffix in (".html", ".css", ".js", ".md") or p.name.startswith("LICENSE")}
    assert expected and expected <= names, sorted(expected - names)
