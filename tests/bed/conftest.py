"""Fixtures for the bed tests that need KubeBlocks' own objects in the control plane."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kbmc.clients import ClientRegistry, resource_path
from kbmc.wait import Poll, wait_for
from tests.testbed import crds
from tests.testbed.bed import CONTROL_PLANE, TestBed

CRD_API = "apiextensions.k8s.io/v1"


@dataclass
class ChartRelease:
    name: str
    namespace: str
    context: str
    chart: Path
    kubeconfig: Path


@pytest.fixture
def kubeblocks_chart_release(kubeblocks_chart_installer: Callable[[], ChartRelease]) -> ChartRelease:
    """The chart's release in the control plane, (re)installed when an earlier test removed it."""
    return kubeblocks_chart_installer()


@pytest.fixture(scope="session")
def kubeblocks_chart_installer(bed: TestBed, registry: ClientRegistry, real_helm: Path,
                               tmp_path_factory: pytest.TempPathFactory) -> Callable[[], ChartRelease]:
    home = tmp_path_factory.mktemp("helm-home")
    return lambda: _install_chart(bed, registry, real_helm, home)


def _install_chart(bed: TestBed, registry: ClientRegistry, real_helm: Path, home: Path) -> ChartRelease:
    """The real KubeBlocks chart (deploy/helm of the Go module) installed by the real helm in the control plane.

    As KubeBlocks' install guide does: every CRD first, server-side (the chart's templates look up Addon
    objects before helm would install its crds/), then `helm upgrade --install`. `--no-hooks`: the chart's
    hooks are Jobs (pre-upgrade, pre-delete), and the bed has no kubelet to run them.
    """
    try:
        chart = crds.chart_dir()
    except crds.CrdsUnavailable as exc:
        pytest.fail(f"the KubeBlocks chart is unavailable: {exc}")
    env = dict(os.environ, HELM_CACHE_HOME=str(home / "cache"), HELM_CONFIG_HOME=str(home / "config"),
               HELM_DATA_HOME=str(home / "data"))
    release = ChartRelease("kubeblocks", "kb-system", CONTROL_PLANE, chart, bed.kubeconfig_path)
    where = ["-n", release.namespace, "--kube-context", CONTROL_PLANE, "--kubeconfig", str(bed.kubeconfig_path)]
    # Already installed in this bed (a reused bed, or another test's install with its own values): keep it.
    status = subprocess.run([str(real_helm), "status", release.name, *where], capture_output=True, text=True, env=env,
                            timeout=120, check=False)
    if status.returncode == 0:
        return release
    cp = registry.for_context(CONTROL_PLANE)
    # An earlier test may have uninstalled it and deleted the namespace: helm cannot create into a
    # namespace that is still terminating.
    ns_path = resource_path("v1", "namespaces", name=release.namespace)
    wait_for(f"namespace {release.namespace} gone or active",
             lambda: Poll(not (cp.get_or_none(ns_path) or {}).get("metadata", {}).get("deletionTimestamp")),
             timeout=420, interval=0.5)
    # A release uninstalled by another test can leave its aggregated ClusterRole behind without helm's marks.
    crds.clear_orphan_chart_roles(cp)
    names = []
    for crd in crds.all_crds():
        name = crd["metadata"]["name"]
        path = resource_path(CRD_API, "customresourcedefinitions", name=name)
        # Another test may have left another release's CRD here (e.g. the v1 Cluster API, stored as v1): a
        # version once stored cannot be dropped by an update, so that CRD goes first.
        existing = cp.get_or_none(path)
        served = {v["name"] for v in crd["spec"]["versions"]}
        stale = existing is not None and set(existing.get("status", {}).get("storedVersions") or []) - served
        # ... and one an earlier module deleted may still be terminating: it cannot be applied until it is gone.
        terminating = existing is not None and existing["metadata"].get("deletionTimestamp")
        if stale or terminating:
            if stale and not terminating:
                cp.delete(path)
            wait_for(f"CRD {name} deleted", lambda p=path: Poll(cp.get_or_none(p) is None), timeout=420, interval=0.2)
        cp.apply(path, crd, force=True)
        names.append(name)

    def established() -> Poll:
        for name in names:
            crd = cp.get(resource_path(CRD_API, "customresourcedefinitions", name=name))
            conditions = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
            if conditions.get("Established") != "True":
                return Poll(False, f"CRD {name} not established")
        return Poll(True)

    wait_for("the KubeBlocks CRDs", established, timeout=120, interval=0.5)

    proc = subprocess.run(
        [str(real_helm), "upgrade", "--install", release.name, str(chart), "--create-namespace", "--no-hooks", *where],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    if proc.returncode != 0:
        pytest.fail(f"helm could not install the KubeBlocks chart: {proc.stderr.strip()[-2000:]}")
    return release
