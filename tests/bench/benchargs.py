"""What every benchmark script shares: its inputs checked before anything starts, the kbmc it measures, how a
process is timed, and a clean stop when killed (the bed's processes run in sessions of their own and would outlive the script)."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def plane_counts(minimum: int):  # type: ignore[no-untyped-def]
    """An argparse type: comma-separated data-plane counts, each at least `minimum`, at most 64."""

    def parse(text: str) -> list[int]:
        try:
            counts = sorted({int(part) for part in text.split(",")})
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
        if not counts or counts[0] < minimum or counts[-1] > 64:
            raise argparse.ArgumentTypeError(f"{text!r}: each count must be between {minimum} and 64")
        return counts

    return parse


def runs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 1 and 1000 (at least 7 are run)")
    return max(7, value)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0.01 <= value <= 600:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0.01 and 600 seconds")
    return value


def timed(argv: list[str], env: dict[str, str], cwd: str | Path) -> tuple[float, int, int]:
    """Wall time, exit code and peak RSS (KiB) of one process: the largest single process of its tree (the
    kernel's ru_maxrss of a waited-for child covers the children it waited for, e.g. the cilium stand-ins)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, os.waitstatus_to_exitcode(status), int(usage.ru_maxrss)


def installed_kbmc() -> str | None:
    """The kbmc installed next to this Python (the wheel nox installs), else the one on PATH."""
    beside = Path(sys.executable).with_name("kbmc")
    return str(beside) if beside.exists() else shutil.which("kbmc")


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def stop_on_sigterm() -> None:
    """Turn SIGTERM (`timeout`, a CI cancel), SIGINT (Ctrl-C) and SIGHUP (a closed terminal) into SystemExit, so
    `finally:` stops the bed. Only the first: once stopping, every later one is ignored (`timeout` and run.py both
    send one, an impatient user presses Ctrl-C twice), or a second SystemExit raised inside the clean-up would cut
    it short and leave the bed running."""

    def handler(signum: int, _frame: object) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        print("stopping: the bed is being shut down", file=sys.stderr, flush=True)
        sys.exit(128 + signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)
