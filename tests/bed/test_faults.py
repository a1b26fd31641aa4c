"""Faults during multi-cluster writes: a data plane that dies mid-run, and one that stops answering.

Each data plane's link runs through a loopback proxy (tests/testbed/proxy.py) that can drop every
connection after a few server chunks (the apiserver dies mid-run) or hold them open forwarding nothing
(a hung cluster). The command must finish the other clusters, name the failed one, end within its
request timeout, exit 1; after recovery a re-run converges with no write to the clusters that had
already succeeded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc.clients import ClientRegistry
from kbmc.rbac.source import DEFAULT_ROLES, role_path
from tests.testbed.bed import TestBed
from tests.testbed.proxy import DelayProxy

PLANES = ["k8s-1", "k8s-2", "k8s-3"]
FAULTY = "k8s-2"
# A hung run must end by itself: its request timeout plus start-up, with a wide margin for a loaded machine.
HANG_LIMIT = 120


@pytest.fixture
def proxied(bed: TestBed, tmp_path: Path) -> Iterator[tuple[Path, dict[str, DelayProxy]]]:
    """A kubeconfig whose data planes are reached through one proxy each."""
    doc = yaml.safe_load(bed.kubeconfig_path.read_text())
    proxies = {}
    for name in PLANES:
        proxies[name] = DelayProxy(int(bed.server(name).rsplit(":", 1)[1]), 0.0).__enter__()
        next(c for c in doc["clusters"] if c["name"] == name)["cluster"]["server"] = proxies[name].url
    path = tmp_path / "proxied-kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    try:
        yield path, proxies
    finally:
        for proxy in proxies.values():
            proxy.close()


@pytest.fixture
def no_copies(kubeblocks_chart_release: Any, registry: ClientRegistry) -> None:
    """The chart's roles in the control plane, and no copy yet in any data plane."""
    for name in PLANES:
        for role in DEFAULT_ROLES:
            registry.for_context(name).delete(role_path(role))


def run_kbmc(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A child process: a hung run must be seen to end by itself, not by the test giving up."""
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), NO_COLOR="1", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "kbmc", *args], capture_output=True, text=True, env=env,
                          timeout=HANG_LIMIT)


def versions(registry: ClientRegistry, name: str) -> dict[str, str | None]:
    found = {}
    for role in DEFAULT_ROLES:
        obj = registry.for_context(name).get_or_none(role_path(role))
        found[role] = None if obj is None else obj["metadata"]["resourceVersion"]
    return found


def sync(kubeconfig: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_kbmc(kubeconfig, "--context", "cp", "--data-planes", ",".join(PLANES), "-o", "json", *extra,
                    "rbac", "sync")


def assert_only_faulty_failed(result: subprocess.CompletedProcess[str]) -> None:
    import json

    assert result.returncode == 1, result.stderr
    assert FAULTY in result.stderr
    rows = {r["context"]: r for r in json.loads(result.stdout)["contexts"]}
    assert rows[FAULTY]["result"] == "failed", rows[FAULTY]
    assert all(rows[name]["result"] == "created" for name in PLANES if name != FAULTY), rows


@pytest.mark.parametrize("fault", ["dies mid-run", "hangs"])
def test_rbac_sync_survives_a_faulty_data_plane_and_a_rerun_converges(
        fault: str, no_copies: None, proxied: tuple[Path, dict[str, DelayProxy]], registry: ClientRegistry) -> None:
    kubeconfig, proxies = proxied
    if fault == "dies mid-run":
        proxies[FAULTY].fail_after(1)  # the first chunk of the TLS handshake gets through, then nothing
        first = sync(kubeconfig)
    else:
        proxies[FAULTY].hang()
        first = sync(kubeconfig, "--request-timeout", "3")  # subprocess.run's own limit proves it ended
    assert_only_faulty_failed(first)
    done = {name: versions(registry, name) for name in PLANES if name != FAULTY}
    assert all(v is not None for vs in done.values() for v in vs.values()), done
    assert all(v is None for v in versions(registry, FAULTY).values())

    proxies[FAULTY].heal()
    second = sync(kubeconfig)
    assert second.returncode == 0, second.stderr
    assert {name: versions(registry, name) for name in done} == done, "a re-run wrote to a cluster already done"
    assert all(v is not None for v in versions(registry, FAULTY).values())
