"""Where zen_mlmd keeps its configuration, and how the file is written.

The registered components, stacks and the active stack live in one YAML file,
`config.yaml`, in the config directory. One file keeps every change atomic:
a stack and the components it names are always read from the same version.
Every write goes to a temporary file in the same directory (created 0600,
because metadata-store options may hold a password) and replaces the old file
with `os.replace`, so a reader never sees half a file. Read-modify-write
cycles hold an exclusive `flock` on the directory, so two processes
registering at once do not lose each other's change.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import yaml

from zen_mlmd.errors import ConfigError

CONFIG_DIR_ENV = "ZEN_MLMD_CONFIG_DIR"
CONFIG_FILE_NAME = "config.yaml"
#: Bumped when the layout of config.yaml changes incompatibly.
CONFIG_FORMAT_VERSION = 1

_DIR_MODE = 0o700
_FILE_MODE = 0o600


def config_dir() -> Path:
    """The zen_mlmd config directory.

    `$ZEN_MLMD_CONFIG_DIR` if set, else `$XDG_CONFIG_HOME/zen-mlmd`, else
    `~/.config/zen-mlmd`. The directory is not created here.
    """
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser().absolute()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return (base / "zen-mlmd").absolute()


def ensure_private_dir(path: Path) -> Path:
    """Create `path` and its missing parents with mode 0700.

    An existing directory keeps its mode: it may be one the user chose.
    """
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    try:
        # One by one: `mkdir(parents=True)` would give the parents the umask's mode.
        for directory in reversed(missing):
            directory.mkdir(mode=_DIR_MODE, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            "config directory", str(path), f"cannot be created: {exc.strerror}",
            f"make it writable or set {CONFIG_DIR_ENV} to a writable directory",
        ) from None
    return path


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically; the file ends up with mode 0600."""
    directory = path.parent
    ensure_private_dir(directory)
    try:
        # mkstemp creates the file 0600 already: the content is never readable
        # by others, not even for the moment before a chmod.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ConfigError(
            "config directory", str(directory), f"is not writable: {exc.strerror}",
            f"fix its permissions or set {CONFIG_DIR_ENV} to a writable directory",
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, _FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable across a crash; best effort.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class ConfigFile:
    """The YAML file holding components, stacks and the active stack.

    Args:
        directory: the config directory; `config_dir()` when None.
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory).expanduser().absolute() if directory else config_dir()
        self.path = self.directory / CONFIG_FILE_NAME

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self) -> dict[str, Any] | None:
        """The parsed file, or None when it does not exist yet.

        Raises:
            ConfigError: the file is not valid YAML or was written by a newer zen_mlmd.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(
                "config file", str(self.path), f"cannot be read: {exc.strerror}",
                "fix its permissions (it should be readable by you only)",
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            # Only the position: the offending text may be part of a password.
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(
                "config file", str(self.path), f"is not valid YAML{where}",
                "correct the file by hand, or move it away to start from the default stack",
            ) from None
        if data is None:
            return None
        if not isinstance(data, dict):
            raise ConfigError(
                "config file", str(self.path), "does not hold a mapping",
                "move it away to start from the default stack",
            )
        version = data.get("version", CONFIG_FORMAT_VERSION)
        if not isinstance(version, int) or version > CONFIG_FORMAT_VERSION:
            raise ConfigError(
                "config file version", version,
                f"this zen-mlmd reads format version {CONFIG_FORMAT_VERSION} or older",
                "upgrade zen-mlmd, or use a separate ZEN_MLMD_CONFIG_DIR",
            )
        return data

    def write(self, data: dict[str, Any]) -> None:
        """Write `data` atomically (mode 0600)."""
        data = {"version": CONFIG_FORMAT_VERSION, **{k: v for k, v in data.items() if k != "version"}}
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
        write_atomic(self.path, text)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the config directory (for read-modify-write)."""
        ensure_private_dir(self.directory)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock
