"""Child processes that die with the Python process that started them.

`popen` starts a child (kubectl for a port-forward) so that it cannot
outlive this process, whichever way this process ends:

- on Linux, the child asks the kernel for a parent-death signal
  (``prctl(PR_SET_PDEATHSIG, SIGKILL)``) before it runs its program, so a
  SIGKILL or SIGTERM of this process, or a crash, kills it too (atexit
  handlers run only on a clean exit);
- the kernel sends that signal when the *thread* that forked the child
  ends, not the process. So every child is forked by one long-lived daemon
  thread that lives as long as the process: a forward opened from a worker
  thread of a pool survives that worker.

Elsewhere (macOS has no PR_SET_PDEATHSIG) children are started as before,
and are stopped by their owner or at exit.
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
from typing import Any, Callable, Sequence

_PR_SET_PDEATHSIG = 1


def _parent_death_hook() -> Callable[[], None] | None:
    """A preexec function that sets the parent-death signal; None where there is none.

    Everything is resolved here, in the parent: the child, between fork and
    exec, only calls prctl and checks its parent (no imports, no allocation
    of note), which is what makes a preexec function safe enough.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()
    death_signal = int(signal.SIGKILL)  # even a child that ignores SIGTERM

    def die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody will signal us
            os._exit(1)

    return die_with_parent


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
                hook = _parent_death_hook()
                process = subprocess.Popen(argv, preexec_fn=hook, **kwargs)
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
    return _parent_death_hook() is not None
