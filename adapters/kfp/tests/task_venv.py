"""The task image of the played cluster: a fresh virtual environment holding only what the package installs.

A KFP pod starts from its image and pip-installs what the component says
(`packages_to_install`, and kfp itself with `install_kfp_package`). Here
the "image" is a venv built from exactly those requirements: zen-mlmd,
zen-mlmd-kfp and the pipeline's own distribution from wheels built from
this checkout, everything else from the package registry, as
`kfp.local.SubprocessRunner(use_venv=True)` builds one. No system
site-packages, so nothing of the test process leaks in.

Building it resolves and downloads every dependency (a minute or more), so
the part that only depends on third-party requirements is built once into a
cache directory keyed by them (`${ZEN_MLMD_TEST_CACHE:-~/.cache/zen-mlmd-test}`,
as `scripts/tfx-venv.sh` does); each test session copies it and installs
the freshly built wheels into the copy. The copy's pip reaches no index
(`pip.conf`: `no-index`): the task's own `pip install` must find everything
installed, as in a baked image, or fail.

A pod has private scratch volumes at /s3, /gcs and /minio (emptyDirs in
KFP's pod spec, `backend/src/v2/compiler/argocompiler/container.go`),
where kfp's executor puts the local copies of remote artifacts. This
machine has one file system for every task, so the venv holds a small
start-up hook that points kfp at the pod's own directory instead, when
`PLAYED_POD_ROOT` is set: the one change to the task environment that
stands for Kubernetes here.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PLAYED_PIPELINE = Path(__file__).resolve().parent / "played_pipeline"
#: Distributions built from this checkout, by the project directory they are built from.
LOCAL_PROJECTS = {"zen-mlmd": REPO, "zen-mlmd-kfp": REPO / "adapters" / "kfp",
                  "zen-mlmd-played-pipeline": PLAYED_PIPELINE}
POD_ROOT_VARIABLE = "PLAYED_POD_ROOT"

_POD_MOUNTS = '''\
"""Played cluster: kfp's /s3, /gcs, /minio scratch mounts inside this pod's own directory."""
import os
import sys

_ROOT = os.environ.get("PLAYED_POD_ROOT")
_MODULE = "kfp.dsl.types.artifact_types"


class _PodMounts:
    def find_spec(self, name, path=None, target=None):
        if name != _MODULE or not _ROOT:
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            for attribute, mount in (("_S3_LOCAL_MOUNT_PREFIX", "s3"), ("_GCS_LOCAL_MOUNT_PREFIX", "gcs"),
                                     ("_MINIO_LOCAL_MOUNT_PREFIX", "minio")):
                setattr(module, attribute, os.path.join(_ROOT, mount) + "/")

        spec.loader.exec_module = exec_module
        return spec


if _ROOT:
    sys.meta_path.insert(0, _PodMounts())
'''


def requirements_of(package: dict) -> list[str]:
    """Every requirement any task of a compiled package pip-installs, in order, each once.

    kfp's compiler quotes each one in the command's `pip install` lines
    (`kfp.dsl.component_factory._get_packages_to_install_command`); options
    and requirements for other Pythons (`; python_version<"3.9"`) are left out.
    """
    found: list[str] = []
    for executor in package["deploymentSpec"]["executors"].values():
        for line in "\n".join(executor["container"]["command"]).splitlines():
            if "pip install" in line:
                found += [word for word in re.findall(r"'([^']+)'", line)
                          if not word.startswith("-") and "python_version<" not in word.replace(" ", "")]
    return list(dict.fromkeys(found))


def build_wheels(directory: Path) -> dict[str, Path]:
    """Wheels of this checkout's distributions (`LOCAL_PROJECTS`), by distribution name.

    Each is built from a clean copy of its project (its top-level files and
    packages), never in the checkout, where a stale `build/` could slip old
    modules into a wheel.
    """
    directory.mkdir(parents=True, exist_ok=True)
    sources = []
    for name, project in LOCAL_PROJECTS.items():
        copy = directory / "src" / name
        copy.mkdir(parents=True)
        for entry in project.iterdir():
            if entry.is_file():
                shutil.copy2(entry, copy / entry.name)
            elif (entry / "__init__.py").exists() and entry.name != "tests":
                shutil.copytree(entry, copy / entry.name, ignore=shutil.ignore_patterns("__pycache__"))
        sources.append(str(copy))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(directory), *sources])
    wheels = {}
    for name in LOCAL_PROJECTS:
        prefix = name.replace("-", "_") + "-"
        [wheel] = [w for w in directory.glob("*.whl") if w.name.startswith(prefix)]
        wheels[name] = wheel
    return wheels


def task_venv(package: dict, wheels: dict[str, Path], destination: Path) -> Path:
    """A venv at `destination` with exactly what `package`'s tasks install; returns its `bin` directory.

    Raises:
        subprocess.CalledProcessError: pip could not install a requirement
            (its output is in the error).
    """
    requirements = requirements_of(package)
    local = {name: wheels[name] for name in LOCAL_PROJECTS
             if any(_name_of(r) == name for r in requirements)}
    registry = [r for r in requirements if _name_of(r) not in LOCAL_PROJECTS]
    base = _base_venv(registry, [_requires(w) for w in local.values()], list(local.values()))
    shutil.copytree(base, destination, symlinks=True)
    python = destination / "bin" / "python"
    # the code under test, fresh: the cached base holds whatever was built when it was made
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", "--no-index",
          *map(str, local.values())])
    (destination / "pip.conf").write_text("[global]\nno-index = true\ndisable-pip-version-check = true\n")
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    (site / "_played_pod_mounts.py").write_text(_POD_MOUNTS)
    (site / "_played_pod_mounts.pth").write_text("import _played_pod_mounts\n")
    return destination / "bin"


def _base_venv(registry: list[str], local_requires: list[list[str]], local_wheels: list[Path]) -> Path:
    cache = Path(os.environ.get("ZEN_MLMD_TEST_CACHE")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zen-mlmd-test")
    key_text = "\n".join([sys.version, *sorted(registry), *sorted(r for rs in local_requires for r in rs)])
    venv = cache / f"kfp-task-{hashlib.sha256(key_text.encode()).hexdigest()[:12]}"
    if (venv / ".complete").exists():
        return venv
    cache.mkdir(parents=True, exist_ok=True)
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two sessions building at once: the second reuses
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            _run([sys.executable, "-m", "venv", str(venv)])
            _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *registry,
                  *map(str, local_wheels)])
            (venv / ".complete").touch()
    return venv


def _requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(name).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


def _name_of(requirement: str) -> str:
    return re.split(r"[\[=<>~!; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, command, result.stdout, result.stderr)
    return result.stdout
