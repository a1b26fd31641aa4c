"""Faults during multi-cluster writes: a data plane that dies mid-run, and one that stops answering.

Each data plane's link runs through a loopback proxy (tests/testbed/proxy.py) that can drop every
connection after a few server chunks (the apiserver dies mid-run) or hold them open forwarding nothing
(a hung cluster). The command must finish the other clusters, name the failed one, end within its
request timeout, exit 1; after recovery a re-run converges with no write to the clusters that had
already succeeded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc.clients import ClientRegistry, resource_path
from kbmc.rbac.source import DEFAULT_ROLES, role_path
from tests.bed import test_network_expose, test_network_metallb
from tests.bed.admission import AdmissionServer
from tests.bed.network_helpers import write_topology
from tests.bed.test_network_metallb import NS as METALLB_NS
from tests.bed.test_network_metallb import RANGES, cluster_actors
from tests.testbed.bed import TestBed
from tests.testbed.proxy import DelayProxy

PLANES = ["k8s-1", "k8s-2", "k8s-3"]
# Fixtures of the network modules: a Cluster's pods laid out in the planes; the MetalLB chart, helm, the clean-up.
layout = test_network_expose.layout
chart, helm_env = test_network_metallb.chart, test_network_metallb.helm_env
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


def assert_only_faulty_failed(result: subprocess.CompletedProcess[str], states: dict[str, str], ok: str,
                              failed: str = "failed") -> None:
    """Exit 1, the faulty plane named, and `states` (per context, from the JSON output) `failed` only there."""
    assert result.returncode == 1, result.stderr
    assert FAULTY in result.stderr
    assert states == {name: failed if name == FAULTY else ok for name in PLANES}, result.stdout + result.stderr


def with_fault(fault: str, proxy: DelayProxy, run: Callable[..., subprocess.CompletedProcess[str]],
               when: Callable[[], bool] | None = None) -> subprocess.CompletedProcess[str]:
    """`run` while the faulty plane dies mid-run or hangs (then with a short request timeout: the run must end).

    Commands that first check every data plane answers (and then change none if one does not) get the fault only
    once `when()` holds, e.g. once another plane has been written to: the faulty link is slowed meanwhile (0.3 s
    each way) so it is still mid-run then.
    """
    def strike() -> None:
        if fault == "dies mid-run":
            proxy.fail_after(1)  # the next chunk from the server gets through, then nothing
        else:
            proxy.hang()

    extra = () if fault == "dies mid-run" else ("--request-timeout", "3")  # subprocess.run's limit proves it ended
    if when is None:
        strike()
        return run(*extra)
    struck, done = threading.Event(), threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                if when():
                    strike()
                    struck.set()
                    return
            except Exception:  # noqa: BLE001, S110 - not there yet (e.g. a CRD the chart has not installed)
                pass
            time.sleep(0.05)

    proxy.delay = 0.3
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        return run(*extra)
    finally:
        done.set()
        watcher.join()
        proxy.delay = 0.0
        assert struck.is_set(), "the fault never struck: the run ended before the condition held"


FAULTS = ["dies mid-run", "hangs"]


@pytest.mark.parametrize("fault", FAULTS)
def test_rbac_sync_survives_a_faulty_data_plane_and_a_rerun_converges(
        fault: str, no_copies: None, proxied: tuple[Path, dict[str, DelayProxy]], registry: ClientRegistry) -> None:
    kubeconfig, proxies = proxied
    first = with_fault(fault, proxies[FAULTY], lambda *extra: sync(kubeconfig, *extra))
    assert_only_faulty_failed(first, {r["context"]: r["result"] for r in json.loads(first.stdout)["contexts"]},
                              "created")
    done = {name: versions(registry, name) for name in PLANES if name != FAULTY}
    assert all(v is not None for vs in done.values() for v in vs.values()), done
    assert all(v is None for v in versions(registry, FAULTY).values())

    proxies[FAULTY].heal()
    second = sync(kubeconfig)
    assert second.returncode == 0, second.stderr
    assert {name: versions(registry, name) for name in done} == done, "a re-run wrote to a cluster already done"
    assert all(v is not None for v in versions(registry, FAULTY).values())


# ---- network expose: one Service per pod, in the pod's data plane ------------------------------------------------


def services(registry: ClientRegistry, name: str, ns: str) -> dict[str, str]:
    """The Services of `ns` in data plane `name`, with their resourceVersions."""
    items = registry.for_context(name).get(resource_path("v1", "services", ns))["items"]
    return {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in items}


@pytest.mark.parametrize("fault", FAULTS)
def test_network_expose_survives_a_faulty_data_plane_and_a_rerun_converges(
        fault: str, layout: dict[str, Any], proxied: tuple[Path, dict[str, DelayProxy]],
        registry: ClientRegistry) -> None:
    kubeconfig, proxies = proxied
    ns = layout["ns"]

    def expose(*extra: str) -> subprocess.CompletedProcess[str]:
        return run_kbmc(kubeconfig, "--context", "cp", "--data-planes", ",".join(PLANES), "-o", "json", *extra,
                        "network", "expose", layout["name"], "-n", ns)

    first = with_fault(fault, proxies[FAULTY], expose, when=lambda: bool(services(registry, "k8s-1", ns)))
    errors = json.loads(first.stdout)["errors"] if first.stdout else {}
    assert_only_faulty_failed(first, {name: "failed" if name in errors else "exposed" for name in PLANES}, "exposed")
    done = {name: services(registry, name, ns) for name in PLANES if name != FAULTY}
    assert all(len(svcs) == 1 for svcs in done.values()), done  # its one pod's Service, in each
    assert services(registry, FAULTY, ns) == {}

    proxies[FAULTY].heal()
    second = expose()
    assert second.returncode == 0, second.stderr
    assert {name: services(registry, name, ns) for name in done} == done, "a re-run wrote to a cluster already done"
    assert len(services(registry, FAULTY, ns)) == 1
    assert {e["context"] for e in json.loads(second.stdout)["endpoints"]} == set(PLANES)


# ---- network metallb: the real chart by the real helm, then the pool and advertisement ----------------------------


def metallb_writes(registry: ClientRegistry, name: str) -> dict[str, str]:
    """What `network metallb` writes in a data plane: helm's release records, the pool, the advertisement."""
    client = registry.for_context(name)
    found = {}
    for plural, api, selector in (("secrets", "v1", "owner=helm,name=metallb"),
                                  ("ipaddresspools", "metallb.io/v1beta1", None),
                                  ("l2advertisements", "metallb.io/v1beta1", None)):
        try:
            items = client.get(resource_path(api, plural, METALLB_NS), **(
                {"labelSelector": selector} if selector else {}))["items"]
        except Exception:  # noqa: BLE001 - the CRDs are not there before the chart
            items = []
        found |= {f"{plural}/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in items}
    return found


@pytest.mark.parametrize("fault", FAULTS)
def test_network_metallb_survives_a_faulty_data_plane_and_a_rerun_converges(
        fault: str, chart: Path, helm_env: None, proxied: tuple[Path, dict[str, DelayProxy]],
        registry: ClientRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    test_network_metallb.clear_metallb(registry, wait=True)  # the first write to k8s-1 below is this run's
    try:
        metallb_faulty_run_and_rerun(fault, chart, proxied, registry, tmp_path, monkeypatch)
    finally:
        test_network_metallb.clear_metallb(registry, wait=True)  # gone, not terminating, for whoever comes next


def metallb_faulty_run_and_rerun(fault: str, chart: Path, proxied: tuple[Path, dict[str, DelayProxy]],
                                 registry: ClientRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig, proxies = proxied
    monkeypatch.chdir(tmp_path)
    write_topology(tmp_path / "kbmc.yaml", PLANES, metallb=RANGES, north_south="metallb")

    def metallb(*extra: str) -> subprocess.CompletedProcess[str]:
        return run_kbmc(kubeconfig, "--data-planes", ",".join(PLANES), "-o", "json", *extra, "network", "metallb",
                        "--chart", str(chart), "--timeout", "60")

    with AdmissionServer() as webhook, cluster_actors(registry, webhook):
        first = with_fault(fault, proxies[FAULTY], metallb,
                           when=lambda: "ipaddresspools/kbmc" in metallb_writes(registry, "k8s-1"))
        rows = json.loads(first.stdout)["clusters"] if first.stdout else []
        assert_only_faulty_failed(first, {r["context"]: "done" if metallb_ok(r) else "failed" for r in rows}, "done")
        done = {name: metallb_writes(registry, name) for name in PLANES if name != FAULTY}
        assert all(len(w) == 3 for w in done.values()), done  # one release record, the pool, the advertisement

        proxies[FAULTY].heal()
        second = metallb()
        assert second.returncode == 0, second.stderr
    assert {name: metallb_writes(registry, name) for name in done} == done, "a re-run wrote to a cluster already done"
    assert {k.split("/")[0] for k in metallb_writes(registry, FAULTY)} == {"secrets", "ipaddresspools",
                                                                           "l2advertisements"}


def metallb_ok(row: dict[str, str]) -> bool:
    return not any(row[k].startswith(("failed", "not run")) for k in ("helm", "pool", "advertisement"))


# ---- cluster delete: what the operator leaves in every data plane ------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
def test_cluster_delete_survives_a_faulty_data_plane_and_a_rerun_converges(
        fault: str, proxied: tuple[Path, dict[str, DelayProxy]], registry: ClientRegistry, make_namespace: Any,
        unique_name: Callable[[str], str]) -> None:
    """The Cluster is already gone from the control plane: kbmc cleans what it left in each data plane."""
    kubeconfig, proxies = proxied
    ns = make_namespace(*PLANES)
    name = unique_name("etcd")
    labels = {"app.kubernetes.io/instance": name, "app.kubernetes.io/managed-by": "kubeblocks"}
    for plane in PLANES:
        client = registry.for_context(plane)
        client.create(resource_path("v1", "configmaps", ns), {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-env", "labels": labels,
                                                                  "finalizers": ["cluster.kubeblocks.io/finalizer"]}})
        # A user's object with the instance label only: never touched, its resourceVersion proves no write.
        client.create(resource_path("v1", "configmaps", ns), {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{name}-mine", "labels": {"app.kubernetes.io/instance": name}}})

    def configmaps(plane: str) -> dict[str, str]:
        items = registry.for_context(plane).get(resource_path("v1", "configmaps", ns))["items"]
        return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in items
                if o["metadata"]["name"].startswith(name)}

    def delete(*extra: str) -> subprocess.CompletedProcess[str]:
        return run_kbmc(kubeconfig, "--context", "cp", "--data-planes", ",".join(PLANES), "-o", "json", *extra,
                        "cluster", "delete", name, "-n", ns)

    first = with_fault(fault, proxies[FAULTY], delete)
    planes = json.loads(first.stdout)["dataPlanes"] if first.stdout else []
    assert_only_faulty_failed(first, {p["context"]: "removed" if p["ok"] else "failed" for p in planes}, "removed")
    done = {plane: configmaps(plane) for plane in PLANES if plane != FAULTY}
    assert all(list(cms) == [f"{name}-mine"] for cms in done.values()), done
    assert sorted(configmaps(FAULTY)) == [f"{name}-env", f"{name}-mine"]

    proxies[FAULTY].heal()
    second = delete()
    assert second.returncode == 0, second.stderr
    assert {plane: configmaps(plane) for plane in done} == done, "a re-run wrote to a cluster already done"
    assert {p["context"]: p["removed"] for p in json.loads(second.stdout)["dataPlanes"]} == {
        "k8s-1": [], "k8s-2": ["configmap/" + f"{name}-env"], "k8s-3": []}
    assert list(configmaps(FAULTY)) == [f"{name}-mine"]
