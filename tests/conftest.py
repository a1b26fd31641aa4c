"""Shared fixtures: the real multi-cluster test bed, kbmc runs, stand-ins for external CLIs."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kbmc import kubeconfig as kc
from kbmc.clients import ClientRegistry, KubeClient, resource_path
from tests.standins import write_launchers
from tests.testbed.bed import TestBed
from tests.testbed.build import BuildUnavailable, ensure_binaries

# CI sets this so that a missing Go toolchain fails the run instead of skipping the bed tests.
REQUIRE_BED = "KBMC_REQUIRE_BED"
# Reuse a bed started by hand (`python -m tests.testbed up`) instead of starting one.
REUSE_BED = "KBMC_TESTBED_REUSE"


@pytest.fixture(scope="session", autouse=True)
def private_kbmc_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """kbmc's per-user cache (compiled templates, parsed kbmc.yaml files) in a folder of this run's own, for
    kbmc in-process and every kbmc the tests start: never the developer's cache, never one left by an older run."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBed]:
    if os.environ.get(REUSE_BED):
        from tests.testbed.__main__ import default_root

        running = TestBed.attach(default_root())
        if running is None:
            pytest.fail(f"{REUSE_BED} is set but no test bed is running; start one with `python -m tests.testbed up`")
        yield running
        return
    try:
        ensure_binaries()
    except BuildUnavailable as exc:
        if os.environ.get(REQUIRE_BED):
            pytest.fail(f"the test bed is required ({REQUIRE_BED}) but cannot be built: {exc}")
        pytest.skip(f"test bed unavailable: {exc}")
    root = tmp_path_factory.mktemp("bed")
    bed = TestBed.start(root, data_planes=3)
    try:
        yield bed
    finally:
        bed.stop()


@pytest.fixture(scope="session")
def bed_operator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBed]:
    """A bed of its own (cp + k8s-1..3) whose operator runner runs the real KubeBlocks manager.

    Opt-in and shared by every test that asks for it: the manager starts once the tests install the
    chart (the runner plays kubelet for the manager Deployment in cp's kb-system). Kept apart from
    the `bed` fixture, whose tests swap KubeBlocks CRDs in and out that the manager would act on.
    """
    from tests.testbed.build import ensure_manager

    try:
        ensure_manager()
    except BuildUnavailable as exc:
        if os.environ.get(REQUIRE_BED):
            pytest.fail(f"the test bed is required ({REQUIRE_BED}) but cannot be built: {exc}")
        pytest.skip(f"test bed unavailable: {exc}")
    bed = TestBed.start(tmp_path_factory.mktemp("bed-operator"), data_planes=3)
    try:
        bed.start_operator()
        yield bed
    finally:
        bed.stop()


@pytest.fixture(scope="session")
def bed_kubeconfig(bed: TestBed) -> kc.KubeConfig:
    return kc.load(str(bed.kubeconfig_path))


@pytest.fixture(scope="session")
def registry(bed_kubeconfig: kc.KubeConfig) -> Iterator[ClientRegistry]:
    reg = ClientRegistry(bed_kubeconfig)
    yield reg
    reg.close()


@pytest.fixture
def make_namespace(bed: TestBed, registry: ClientRegistry) -> Iterator[Callable[..., str]]:
    """Create a fresh namespace in the given clusters; every one is deleted after the test."""
    made: list[tuple[str, str]] = []

    def make(*contexts: str, name: str | None = None) -> str:
        ns = name or f"t-{secrets.token_hex(4)}"
        for ctx in contexts:
            registry.for_context(ctx).create(resource_path("v1", "namespaces"),
                                             {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            made.append((ctx, ns))
        return ns

    yield make
    for ctx, ns in made:
        try:
            registry.for_context(ctx).delete(resource_path("v1", "namespaces", name=ns))
        except Exception:  # noqa: S110 - best-effort clean-up; the cluster may have been stopped by the test
            pass


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{secrets.token_hex(3)}"


# ---- running kbmc ---------------------------------------------------------------------------------


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def kbmc(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         tmp_path: Path) -> Callable[..., Result]:
    """Run kbmc's real entry point in-process; returns exit code, stdout and stderr."""
    from kbmc.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")

    def run(*args: str, kubeconfig: str | Path | None = None, env: dict[str, str] | None = None) -> Result:
        if kubeconfig is not None:
            monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture
def no_kubeconfig(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No kubeconfig anywhere: KUBECONFIG unset and HOME empty."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))


def client(registry: ClientRegistry, context: str) -> KubeClient:
    return registry.for_context(context)


# ---- stand-ins for external CLIs ----------------------------------------------------------------------

@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[dict[str, object]]]:
    """Put recording stand-ins for cilium, kbcli and helm first on PATH; returns a reader of their calls."""
    import json

    bindir = write_launchers(tmp_path / "standin-bin")
    log = tmp_path / "standin-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KBMC_STANDIN_LOG", str(log))

    def calls() -> list[dict[str, object]]:
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line]

    return calls


@pytest.fixture(scope="session")
def real_helm(bed: TestBed) -> Path:
    """The real helm, built with the bed from helm.sh/helm/v3 (pinned in gobuild/go.mod)."""
    return ensure_binaries() / "helm"


# Figures the bed tests measure (record_property): shown at the end of the run, so CI's log carries them.
# They are reported, never asserted (the machine is shared and noisy).
_FIGURES: list[tuple[str, str, object]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        _FIGURES.extend((report.nodeid.split("::")[-1], str(k), v) for k, v in report.user_properties)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if _FIGURES:
        terminalreporter.section("measured figures")
        for test, key, value in _FIGURES:
            terminalreporter.write_line(f"{key} = {value}  ({test})")
