"""Reading what a running `kubectl port-forward` writes, for its whole life.

`PortForward` (in `zen_mlmd.stack.port_forward`) starts kubectl; this module
drains both of its pipes in daemon threads (a full pipe would block kubectl),
keeps the last lines of each for error messages, and spots kubectl's
``Forwarding from 127.0.0.1:PORT -> REMOTE`` line, which says the forward is
up and which local port kubectl bound. What those lines mean when something
fails is worked out in `zen_mlmd.stack.port_forward_diagnosis`.
"""
from __future__ import annotations

import collections
import re
import subprocess
import threading

_FORWARDING = re.compile(r"^Forwarding from (?P<address>\S+):(?P<port>\d+) -> (?P<remote>\d+)")
_KEPT_LINES = 40


class KubectlOutput:
    """What one kubectl process wrote, read by daemon threads while it runs.

    One object serves every process a `PortForward` starts: `reset()` before
    each, `read()` once it runs, `close()` once it has exited.

    Attributes:
        local_port: the local port kubectl reported forwarding from (None until it does).
        ready: set once kubectl reported forwarding; cleared by `reset()` and `close()`.
        progress: set when kubectl reports forwarding, closes its stdout or
            exits (see `wake_on_exit()`): what `PortForward.start()` waits for.
        stdout: the last lines kubectl wrote to stdout.
        stderr: the last lines kubectl wrote to stderr.
    """

    def __init__(self) -> None:
        self.local_port: int | None = None
        self.ready = threading.Event()
        self.progress = threading.Event()
        self.stdout: collections.deque[str] = collections.deque(maxlen=_KEPT_LINES)
        self.stderr: collections.deque[str] = collections.deque(maxlen=_KEPT_LINES)
        self._readers: list[threading.Thread] = []

    def reset(self) -> None:
        """Forget what the previous process wrote."""
        self.local_port = None
        self.ready.clear()
        self.progress.clear()
        self.stdout.clear()
        self.stderr.clear()

    def read(self, process: subprocess.Popen) -> None:
        """Drain both pipes of `process` for its whole life (a full pipe would block it)."""
        readers = [
            threading.Thread(target=self._read_stdout, args=(process.stdout,),
                             name=f"kubectl-stdout-{process.pid}", daemon=True),
            threading.Thread(target=self._read_stderr, args=(process.stderr,),
                             name=f"kubectl-stderr-{process.pid}", daemon=True),
        ]
        for reader in readers:
            reader.start()
        self._readers = readers

    def wake_on_exit(self, process: subprocess.Popen) -> None:
        """Set `progress` when `process` exits, even if a grandchild still holds its stdout open."""
        threading.Thread(target=self._wait_for_exit, args=(process,), daemon=True,
                         name=f"kubectl-wait-{process.pid}").start()

    def join(self, timeout: float = 1.0) -> None:
        """Wait (each reader at most `timeout` seconds) until everything written is read."""
        for reader in self._readers:
            reader.join(timeout)  # the pipes reach EOF when kubectl exits

    def close(self, process: subprocess.Popen) -> None:
        """After `process` exited: collect the readers, close its pipes once no reader uses them."""
        self.join()
        if not any(reader.is_alive() for reader in self._readers):
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        self._readers = []
        self.ready.clear()

    def stderr_tail(self) -> str:
        """The last lines kubectl wrote to stderr."""
        return "\n".join(self.stderr)

    def _read_stdout(self, stream) -> None:
        try:
            for raw in stream:
                line = raw.decode(errors="replace").rstrip()
                self.stdout.append(line)
                match = _FORWARDING.match(line)
                if match and not self.ready.is_set():
                    self.local_port = int(match.group("port"))
                    self.ready.set()
                    self.progress.set()
        except (OSError, ValueError):  # the pipe was closed by close()
            pass
        finally:
            self.progress.set()

    def _read_stderr(self, stream) -> None:
        try:
            for raw in stream:
                self.stderr.append(raw.decode(errors="replace").rstrip())
        except (OSError, ValueError):
            pass

    def _wait_for_exit(self, process: subprocess.Popen) -> None:
        process.wait()
        self.progress.set()  # kubectl exited (a grandchild might still hold its stdout open)
