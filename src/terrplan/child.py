"""Child processes: the cores they may use, and child interpreters (`python -c`) tied to the process that starts
them.

`TIED` opens a child's code: on Linux the kernel sends the child SIGTERM when its parent dies (PR_SET_PDEATHSIG),
and a child whose parent died before that was set ends at once, so a parent killed without unwinding (SIGKILL, the
OOM killer, `os._exit`) leaves no child running on. The child's first argument is the parent's pid (`tied_args`).
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from typing import IO

TIED = """\
import ctypes, os, signal, sys
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv.pop(1)):
    sys.exit(143)
"""


# A solver child (`spawn`) reads length-prefixed pickles on its stdin (`message()`); the first is the parent's
# `sys.path`, so it imports the same terrplan, whether installed or a source tree. A Ctrl-C reaches the whole process
# group: the parent stops such a child.
_SOLVER = (
    TIED
    + """\
import pickle, struct
signal.signal(signal.SIGINT, signal.SIG_IGN)
def message():
    head = sys.stdin.buffer.read(8)
    return sys.stdin.buffer.read(struct.unpack("<Q", head)[0]) if len(head) == 8 else b""
sys.path[:] = pickle.loads(message())
"""
)


def spawn(code: str, *messages: object, done: bool = False) -> subprocess.Popen[bytes] | None:
    """A fresh interpreter (`python -P -c`: not a fork, so no lock held by another of this process's threads can
    stall it, and no caller's main module is run again, as multiprocessing's spawn does) running `code` after the
    solver child's prelude, tied to this process and sent its `sys.path`, then `messages`; `done`: nothing more
    will be sent (its stdin is closed). None where none can start or it died at once."""
    if not sys.executable:
        return None
    try:
        child = subprocess.Popen(
            [sys.executable, "-P", "-c", _SOLVER + code, *tied_args()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError:
        return None
    try:
        assert child.stdin is not None
        for message in (list(sys.path), *messages):
            send(child.stdin, message)
        if done:
            child.stdin.close()
            child.stdin = None  # `communicate` then only reads
    except OSError:  # it died at once
        stop(child)
        return None
    except BaseException:  # interrupted while sending: the child is not the caller's to stop yet
        stop(child)
        raise
    return child


def send(stream: IO[bytes], value: object) -> None:
    """One message to a solver child: a pickle after its length."""
    blob = pickle.dumps(value, protocol=5)
    stream.write(struct.pack("<Q", len(blob)))
    stream.write(blob)
    stream.flush()


def answer(child: subprocess.Popen[bytes], timeout: float) -> tuple[object, str]:
    """What a solver child wrote to stdout (one pickle), waiting at most `timeout` seconds; the child is stopped
    either way. (None, why) where it gave none: "gave no answer in time" or "failed (exit N: its last line)"."""
    try:
        out, err = child.communicate(timeout=max(timeout, 0.0))
    except subprocess.TimeoutExpired:
        stop(child)
        return None, "gave no answer in time"
    stop(child)
    if child.returncode == 0:
        try:
            return pickle.loads(out), ""
        except (pickle.UnpicklingError, EOFError, ValueError):
            pass
    said = err.decode("utf-8", "replace").strip().splitlines()
    return None, f"failed (exit {child.returncode}{': ' + said[-1] if said else ''})"


def stop(child: subprocess.Popen[bytes]) -> None:
    """Kill a child if it still runs, and close its pipes."""
    if child.poll() is None:
        child.kill()
        child.wait()
    for stream in (child.stdin, child.stdout, child.stderr):
        if stream is not None and not stream.closed:
            stream.close()


def tied_args() -> list[str]:
    """The arguments after `-c CODE` that `TIED` reads: this process's pid."""
    return [str(os.getpid())]


#: The cores a sweep gives each of its scenario processes (`cores_share`); `usable_cores` takes no more.
CORES_ENV = "TERRPLAN_CORES"


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one; a CPU quota is not seen), or its
    share when a sweep started it (CORES_ENV): how many scenario processes a sweep runs at once by default, and
    whether the bound and the starts get a second process."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    share = os.environ.get(CORES_ENV, "")
    return min(cores, int(share)) if share.isdigit() and int(share) > 0 else cores


def cores_share(processes: int) -> int:
    """Each of `processes` processes' share of this process's cores, at least one. Two scenarios on two cores get
    one each, so neither starts a second process of its own to compete with the other."""
    return max(1, usable_cores() // max(1, processes))
