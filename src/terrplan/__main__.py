"""`terrplan` and `python -m terrplan`: load the command line, then run it."""

import signal
import sys


def run() -> None:
    try:
        from terrplan.cli import main
    except KeyboardInterrupt:  # Ctrl-C while the solver stack loads: the exit a run gives, without a traceback
        sys.stderr.write("error: stopped by SIGINT\n")
        raise SystemExit(130) from None
    try:
        main()
    finally:
        # The command has finished and its exit code is set: a signal now changes nothing (and would otherwise
        # end the interpreter's shutdown by the signal's default action).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


if __name__ == "__main__":
    run()
