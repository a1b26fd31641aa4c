"""The one error hierarchy of kbmc, and the exit code each kind maps to.

Exit codes (documented in docs/exit-codes.md):
    0  success
    1  an operation failed on at least one cluster (the others' results are still reported)
    2  bad input: flags, topology file, kubeconfig, manifests; nothing was changed
    130 interrupted
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130


class KbmcError(Exception):
    """Base of every error kbmc raises on purpose. Its message is one line for the user."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class InputError(KbmcError):
    """Bad input found before anything was changed: a flag, a file, a kubeconfig."""

    exit_code = EXIT_INPUT


class ValidationError(InputError):
    """Several problems found in one input (e.g. the topology file), each with a field path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        count = len(problems)
        first = problems[0] if problems else "invalid"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(f"{source}: {first}{more}")


class OperationError(KbmcError):
    """An operation against a cluster or an external command failed."""

    exit_code = EXIT_FAILED


class CommandError(OperationError):
    """An external command exited non-zero; carries the command line and the tail of stderr."""

    def __init__(self, argv: list[str], exit_code: int, stderr_tail: str) -> None:
        self.argv = argv
        self.returncode = exit_code
        self.stderr_tail = stderr_tail
        tail = f": {stderr_tail}" if stderr_tail else ""
        super().__init__(f"`{' '.join(argv)}` exited {exit_code}{tail}")


class WaitTimeout(OperationError):
    """A wait ran out of time; the message carries the last observed reason."""

    def __init__(self, what: str, timeout: float, last_reason: str | None) -> None:
        self.what = what
        self.timeout = timeout
        self.last_reason = last_reason
        reason = last_reason or "no status observed"
        super().__init__(f"timed out after {timeout:g}s waiting for {what}: last seen: {reason}")
