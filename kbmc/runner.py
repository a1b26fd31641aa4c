"""The one seam through which kbmc runs external commands (helm, cilium, kbcli).

`sh` is used here and nowhere else, so tests can swap the runner or put
recording stand-ins first on PATH. Every call names the kube context
explicitly: an external tool must never fall back to the user's
current-context.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Protocol

from kbmc.errors import CommandError, InputError

STDERR_TAIL_LINES = 5


@dataclass(frozen=True)
class Completed:
    argv: list[str]
    stdout: str
    stderr: str


class Runner(Protocol):
    def run(self, tool: str, args: list[str], *, context: str | None, kubeconfig: str | None = None,
            timeout: float | None = None, env: dict[str, str] | None = None) -> Completed: ...


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    kept = [ln for ln in text.strip().splitlines() if ln.strip()][-lines:]
    return " | ".join(kept)


# The flag each tool names its kube context with (default --context).
CONTEXT_FLAGS = {"helm": "--kube-context"}


def command_line(tool: str, args: list[str], *, context: str | None, kubeconfig: str | None = None,
                 context_flag: dict[str, str] | None = None) -> list[str]:
    """The exact argv the runner executes (also what a dry run prints)."""
    argv = [tool, *args]
    if context is not None:
        argv += [(context_flag or CONTEXT_FLAGS).get(tool, "--context"), context]
    if kubeconfig is not None:
        argv += ["--kubeconfig", kubeconfig]
    return argv


@dataclass
class ShRunner:
    """Runs tools through `sh`, adding `--context` (and `--kubeconfig`) to every call."""

    context_flag: dict[str, str] = field(default_factory=lambda: dict(CONTEXT_FLAGS))

    def run(self, tool: str, args: list[str], *, context: str | None, kubeconfig: str | None = None,
            timeout: float | None = None, env: dict[str, str] | None = None) -> Completed:
        import sh  # imported on first use: most commands never run a tool

        path = shutil.which(tool)
        if path is None:
            raise InputError(f"{tool} is not installed or not on PATH", hint=f"install {tool} and retry")
        full = command_line(tool, args, context=context, kubeconfig=kubeconfig, context_flag=self.context_flag)
        argv = full[1:]
        try:
            result = sh.Command(path)(*argv, _timeout=timeout, _env=env, _err_to_out=False)
        except sh.ErrorReturnCode as exc:
            stderr = exc.stderr.decode(errors="replace")
            raise CommandError(full, exc.exit_code, tail(stderr)) from None
        except sh.TimeoutException:
            raise CommandError(full, -1, f"timed out after {timeout}s") from None
        return Completed(full, str(result), "")
