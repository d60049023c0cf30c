"""`terrplan` and `python -m terrplan`: load the command line, then run it."""

import contextlib
import os
import signal
import sys

# light (no solver stack), and bound before the import below that it explains when a Ctrl-C cuts it
from terrplan.errors import interruption


def run() -> None:
    try:  # Ctrl-C while the solver stack loads: the exit a run gives, without a traceback
        from terrplan.cli import main
    except KeyboardInterrupt:
        _interrupted()
    except Exception as exc:  # a compiled module's "initialization failed", raised from the Ctrl-C
        if interruption(exc) is None:
            raise
        _interrupted()
    try:
        main()
    except SystemExit as done:
        if done.code in (130, 143):
            # A Ctrl-C that crossed C++ code run through PyRun_String (pybind11, in OR-Tools' modules) leaves CPython
            # set to kill itself with SIGINT at exit, whatever the exit code: leave with the documented one.
            _exit_now(done.code)
        raise
    finally:
        # The command has finished and its exit code is set: a signal now changes nothing (and would otherwise
        # end the interpreter's shutdown by the signal's default action).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _interrupted() -> None:
    sys.stderr.write("error: stopped by SIGINT\n")
    _exit_now(130)


def _exit_now(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe: nothing more to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
