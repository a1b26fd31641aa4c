"""Run one operation against many contexts at once, one result per context.

A failure on one cluster is captured in its own result; it never hides the
others' results and never cancels them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from kbmc.errors import KbmcError, OperationError

T = TypeVar("T")

# Per-cluster work is round trips to remote API servers, not CPU: one thread per cluster, so 16 data planes take
# about as long as one. Past 32 clusters they queue (and each client keeps its own connection pool).
DEFAULT_WORKERS = 32


@dataclass
class ContextResult(Generic[T]):
    context: str
    value: T | None = None
    error: str | None = None
    exception: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def reason(self) -> str:
        """The error without a leading `<context>: ` (API errors carry it): for a row or line that names the context."""
        text = self.error or ""
        prefix = f"{self.context}: "
        while text.startswith(prefix):
            text = text[len(prefix):]
        return text

    @property
    def labelled(self) -> str:
        """The error with its context named exactly once: `<context>: <reason>`."""
        return f"{self.context}: {self.reason}"


def fan_out(
    contexts: Iterable[str],
    operation: Callable[[str], T],
    *,
    workers: int = DEFAULT_WORKERS,
    on_done: Callable[[ContextResult[T]], None] | None = None,
) -> list[ContextResult[T]]:
    """Call `operation(context)` for each context concurrently; results keep the input order."""
    names = list(dict.fromkeys(contexts))
    if not names:
        return []

    def call(name: str) -> ContextResult[T]:
        try:
            result: ContextResult[T] = ContextResult(name, value=operation(name))
        except KbmcError as exc:
            result = ContextResult(name, error=str(exc), exception=exc)
        except Exception as exc:  # noqa: BLE001 - any failure belongs to this context's row
            result = ContextResult(name, error=f"{type(exc).__name__}: {exc}", exception=exc)
        if on_done is not None:
            on_done(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names)))) as pool:
        return list(pool.map(call, names))


def raise_failures(results: list[ContextResult[T]], what: str) -> None:
    """One OperationError naming every failed context, if any failed."""
    failed = [r for r in results if not r.ok]
    if failed:
        raise OperationError(f"{what}: " + "; ".join(r.labelled for r in failed))
