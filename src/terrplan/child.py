"""Child interpreters (`python -c`) tied to the process that starts them.

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
