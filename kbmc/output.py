"""The one module that writes to the terminal.

Contract: stdout carries only data a program can parse (JSON, YAML, manifests)
or that the user asked for by name; everything for humans (tables, progress,
notes, warnings, errors) goes to stderr through rich. So `kbmc ... -o json | jq`
and `kbmc cluster create etcd | kubectl apply -f -` always work.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kbmc import redact

FORMATS = ("table", "json", "yaml")


@dataclass
class Output:
    fmt: str = "table"
    no_color: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        self._console: Any = None

    # -- stderr, for humans ----------------------------------------------------------------------

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            no_color = self.no_color or bool(os.environ.get("NO_COLOR"))
            self._console = Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True)
        return self._console

    def info(self, message: str) -> None:
        if not self.quiet:
            self._line("", "", message)

    def success(self, message: str) -> None:
        if not self.quiet:
            self._line("32", "✓ ", message)

    def warn(self, message: str) -> None:
        self._line("33", "warning: ", message)

    def error(self, message: str) -> None:
        self._line("31", "error: ", message)

    def _line(self, color: str, prefix: str, message: str) -> None:
        """One status line, written directly: importing rich costs more than the rest of `kbmc validate`.

        Written to sys.stderr as looked up now, so a running rich progress display (which redirects
        stderr) still places the line above itself.
        """
        stream = sys.stderr
        if prefix and color and self._color(stream):
            prefix = f"\x1b[{color}m{prefix.rstrip()}\x1b[0m" + prefix[len(prefix.rstrip()):]
        stream.write(f"{prefix}{redact.text(message)}\n")
        stream.flush()

    def _color(self, stream: Any) -> bool:
        """rich's rule, for one line: colour on a terminal unless NO_COLOR (or TERM=dumb); FORCE_COLOR forces it."""
        if self.no_color or os.environ.get("NO_COLOR"):
            return False
        if os.environ.get("FORCE_COLOR"):
            return True
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty()) and os.environ.get("TERM", "") != "dumb"

    def traceback(self, exc: BaseException) -> None:
        """A traceback for --debug, with credentials removed like every other output."""
        import traceback

        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        sys.stderr.write(redact.text(text))
        sys.stderr.flush()

    def table(self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]],
              styles: Sequence[str | None] | None = None) -> None:
        from rich.table import Table

        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
        for col in columns:
            table.add_column(col, overflow="fold")  # a word too long for its column wraps, never ends in "…"
        for i, row in enumerate(rows):
            style = styles[i] if styles else None
            table.add_row(*[_escape("" if c is None else str(c)) for c in row], style=style)
        console = self.console
        if console.is_terminal:
            console.print(table)
            return
        # A log or a pipe has no width: each row on one line, whole (grep finds a context and its reason).
        from rich.measure import Measurement

        wanted = Measurement.get(console, console.options.update_width(100_000), table).maximum
        width = console.width
        console.width = max(width, wanted)
        try:
            console.print(table)
        finally:
            console.width = width

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Any]:
        """A spinner/bar on stderr while long work runs; yields an `advance(text)` callable."""
        if self.quiet or not self.console.is_terminal:
            yield lambda text=None: None
            return
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=self.console, transient=True) as prog:
            task = prog.add_task(description, total=total)

            def advance(text: str | None = None) -> None:
                prog.update(task, advance=1, description=text or description)

            yield advance

    # -- stdout, for programs ------------------------------------------------------------------------

    @property
    def machine(self) -> bool:
        return self.fmt in ("json", "yaml")

    def data(self, payload: Any, *, reveal: bool = False) -> None:
        """Write `payload` to stdout in the chosen machine format (YAML for `table`).

        Credentials are replaced unless `reveal` (only for an explicit --show-secrets).
        """
        if not reveal:
            payload = redact.data(payload)
        if self.fmt == "json":
            text = json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n"
        else:
            from kbmc.yamlio import dump_yaml

            text = dump_yaml(payload)
        self.raw(text, reveal=True)  # already redacted above, as asked

    def manifest(self, text: str) -> None:
        """A document for another program (`| kubectl apply -f -`), written exactly as rendered.

        Manifests are built from flags and templates, never from kubeconfig credentials, so there is
        nothing to redact; rewriting a value that happens to equal a password (`kubeblocks` inside
        `apps.kubeblocks.io`) would corrupt what the user applies.
        """
        self.raw(text, reveal=True)

    def raw(self, text: str, *, reveal: bool = False) -> None:
        sys.stdout.write(text if reveal else redact.text(text))
        sys.stdout.flush()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(redact.text(text))
