"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s typecheck`, `nox -s bench`."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite: unit, CLI, the real multi-cluster test bed, the built wheel."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "kbmc", "tests", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".", "mypy", "types-PyYAML")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Start-up against the stack's own floor, fan-out over 1-16 data planes and mesh scheduling for 3-10 on the test
    bed (ratios of medians); the report goes to bench-results/bench.md and bench.json. `nox -s bench -- --help`."""
    # Installed as a user installs it (a wheel, not editable): start-up is measured on what users run.
    session.install(".[test]")
    session.install("--force-reinstall", "--no-deps", ".")
    # stderr apart from stdout (nox would merge them): `nox -s bench -- -o json > report.json` stays clean JSON.
    session.run("python", "tests/bench/run.py", *session.posargs, stderr=None)
