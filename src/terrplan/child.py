"""Child processes: the cores they may use, and child interpreters (`python -c`) tied to the process that starts
them.

`TIED` opens a child's code: on Linux the kernel sends the child SIGTERM when its parent dies (PR_SET_PDEATHSIG),
and a child whose parent died before that was set ends at once, so a parent killed without unwinding (SIGKILL, the
OOM killer, `os._exit`) leaves no child running on. The child's first argument is the parent's pid (`tied_args`).
"""

from __future__ import annotations

import os

TIED = """\
import ctypes, os, signal, sys
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv.pop(1)):
    sys.exit(143)
"""


def tied_args() -> list[str]:
    """The arguments after `-c CODE` that `TIED` reads: this process's pid."""
    return [str(os.getpid())]


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one; a CPU quota is not seen): how
    many scenario processes a sweep runs at once by default, and whether the bound gets a process of its own."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
