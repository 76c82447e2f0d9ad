"""Child processes that die with the Python process that started them.

`popen` starts a child (kubectl for a port-forward) so that it cannot
outlive this process, whichever way this process ends:

- on Linux, the child asks the kernel for a parent-death signal
  (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, kept across ``exec``) before it
  runs its program, so a SIGKILL or SIGTERM of this process, or a crash,
  kills it too (atexit handlers run only on a clean exit). A few lines of
  Python do that and then ``exec`` the program, so the child's pid is the
  program's;
- the kernel sends that signal when the *thread* that forked the child
  ends, not the process. So every child is forked by one long-lived daemon
  thread that lives as long as the process: a forward opened from a worker
  thread of a pool survives that worker.

Elsewhere (macOS has no PR_SET_PDEATHSIG) children are started as before,
and are stopped by their owner or at exit.
"""
from __future__ import annotations

import concurrent.futures
import os
import queue
import subprocess
import sys
import threading
from typing import Any, Sequence

#: Run by a fresh interpreter between our fork and the child's program: it asks
#: for SIGKILL when its parent thread ends, makes sure that parent is still the
#: one that started it (else nobody would signal it), then becomes the program.
#: A separate program, not a `preexec_fn`: code run between fork and exec in a
#: process with gRPC's threads can break (gRPC's fork handlers), and
#: `preexec_fn` forces a plain fork.
_TRAMPOLINE = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "if libc.prctl(1, 9, 0, 0, 0) != 0:\n"  # PR_SET_PDEATHSIG, SIGKILL
    "    sys.exit('cannot set the parent-death signal: errno %d' % ctypes.get_errno())\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)\n"  # the parent died before prctl
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def _wrapped(argv: Sequence[str]) -> list[str]:
    """`argv` run through the trampoline where the kernel has parent-death signals."""
    if not dies_with_parent():
        return list(argv)
    import shutil

    program = argv[0] if os.sep in argv[0] else (shutil.which(argv[0]) or argv[0])
    return [sys.executable, "-I", "-S", "-c", _TRAMPOLINE, str(os.getpid()), program, *argv[1:]]


class _Launcher:
    """The daemon thread every child is forked from (see the module docstring)."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        with self._lock:
            # after a fork, the thread of the parent does not exist in the child
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._requests = queue.SimpleQueue()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._serve, args=(self._requests,),
                                                name="zen-mlmd-child-launcher", daemon=True)
                self._thread.start()
            requests = self._requests
        done: concurrent.futures.Future = concurrent.futures.Future()
        requests.put((list(argv), kwargs, done))
        return done.result()

    @staticmethod
    def _serve(requests: queue.SimpleQueue) -> None:
        while True:
            argv, kwargs, done = requests.get()
            try:
                process = subprocess.Popen(_wrapped(argv), **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.set_exception(exc)
            else:
                done.set_result(process)


_launcher = _Launcher()


def popen(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
    """`subprocess.Popen(argv, **kwargs)`, for a child that dies with this process."""
    return _launcher.popen(argv, **kwargs)


def dies_with_parent() -> bool:
    """True where children get a parent-death signal (Linux)."""
    return sys.platform.startswith("linux") and bool(sys.executable)
