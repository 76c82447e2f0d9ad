"""Who is recording a run, so a reader can tell a live run from a killed one.

A run records its owner: host name, process id, and the process's start time
(so that a recycled pid is not mistaken for the original process). A reader
on the same host can then say for sure whether the run's process is gone.
On another host the answer is unknown and the run reads as running.
"""
from __future__ import annotations

import os
import socket


def _process_start_ticks(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        if fields[0] in (b"Z", b"X"):  # a zombie has exited; only its entry is left
            return None
        return int(fields[19])  # field 22 of stat; counted after the command name
    except (OSError, IndexError, ValueError):
        return None


# (pid, its start ticks): this process's, read once (a forked child reads its own)
_started: tuple[int, int] = (0, 0)


def current_owner() -> dict:
    """The owner record of this process."""
    global _started
    pid = os.getpid()
    if _started[0] != pid:
        _started = (pid, _process_start_ticks(pid) or 0)
    return {"host": socket.gethostname(), "pid": pid, "pid_started": _started[1]}


def owner_is_alive(owner) -> bool | None:
    """True/False when this host can tell whether the owner process lives; None otherwise."""
    if not owner or owner.get("host") != socket.gethostname():
        return None
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return None
    started = _process_start_ticks(pid)
    if started is None:
        if os.path.exists("/proc"):
            return False  # no such process (or a zombie)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    recorded = owner.get("pid_started") or 0
    return not recorded or started == recorded
