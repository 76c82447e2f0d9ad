"""Core zen_mlmd never imports kfp: only this adapter does, and only when used."""
from __future__ import annotations

import configparser
import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)


def test_core_modules_do_not_import_kfp():
    result = _python(
        "import zen_mlmd, zen_mlmd.pipelines.orchestrator, zen_mlmd.mlmd.reader, zen_mlmd.tracking.recorder\n"
        "import zen_mlmd.post_execution, zen_mlmd.mlmd.writer, sys\n"
        "assert 'kfp' not in sys.modules, sorted(m for m in sys.modules if m.startswith('kfp'))\n")
    assert result.returncode == 0, result.stderr


def test_reading_a_store_loads_the_kfp_convention_without_importing_kfp():
    result = _python(
        "from zen_mlmd.mlmd.store import MetadataStore, in_memory_connection_config\n"
        "from zen_mlmd.mlmd.reader import StoreReader\n"
        "import zen_mlmd_kfp.flavor, sys\n"
        "StoreReader(MetadataStore(in_memory_connection_config())).list_pipelines()\n"
        "assert 'zen_mlmd_kfp.convention' in sys.modules\n"
        "assert 'kfp' not in sys.modules\n")
    assert result.returncode == 0, result.stderr


def test_core_setup_cfg_does_not_depend_on_kfp():
    config = configparser.ConfigParser()
    config.read(os.path.join(REPO, "setup.cfg"))
    sections = [config.get("options", "install_requires")]
    sections += [value for _, value in config.items("options.extras_require")]
    assert not any("kfp" in line for section in sections for line in section.split())
