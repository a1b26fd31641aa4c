"""The one wait helper: poll until done, and on timeout say what was last seen."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kbmc.errors import OperationError, WaitTimeout


@dataclass
class Poll:
    done: bool
    reason: str | None = None
    failed: bool = False  # a terminal failure: stop waiting at once


def wait_for(
    what: str,
    check: Callable[[], Poll],
    *,
    timeout: float,
    interval: float = 1.0,
    backoff: float = 1.0,
    max_interval: float = 10.0,
    on_progress: Callable[[str | None], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Poll:
    """Call `check` until it reports done; raise WaitTimeout carrying the last reason.

    An exception from `check` counts as "not yet" with the exception as the reason,
    so a briefly unreachable server does not end the wait early. With `backoff` > 1 the
    pause grows by that factor after each try, up to `max_interval`.
    """
    deadline = clock() + timeout
    last: str | None = None
    while True:
        try:
            poll = check()
        except Exception as exc:  # noqa: BLE001 - recorded as the reason, retried
            poll = Poll(False, str(exc))
        if poll.done:
            return poll
        if poll.failed:
            raise OperationError(f"gave up waiting for {what}: {poll.reason}")
        if poll.reason != last and on_progress is not None:
            on_progress(poll.reason)
        last = poll.reason or last
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(what, timeout, last)
        sleep(min(interval, remaining))
        interval = min(interval * backoff, max(max_interval, interval))
