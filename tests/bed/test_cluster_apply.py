"""`kbmc cluster create etcd --apply` against the bed, with the real KubeBlocks CRDs installed in `cp`."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc.clients import ApiError, ClientRegistry, resource_path
from kbmc.wait import Poll, wait_for
from tests.cli.test_cluster_render import GOLDEN, VARIANTS
from tests.testbed.crds import CrdsUnavailable, load_crds

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class Crds:
    """Installs one KubeBlocks release's CRDs in the control plane, swapping releases on demand."""

    def __init__(self, registry: ClientRegistry) -> None:
        self.cp = registry.for_context("cp")
        self.current: str | None = None

    def use(self, api: str) -> None:
        if self.current == api:
            return
        try:
            crds = load_crds(api)
        except CrdsUnavailable as exc:
            if os.environ.get("KBMC_REQUIRE_BED"):
                pytest.fail(str(exc))
            pytest.skip(str(exc))
        for crd in crds:
            name = crd["metadata"]["name"]
            if self.cp.get_or_none(f"{CRD_PATH}/{name}") is not None:
                self.cp.delete(f"{CRD_PATH}/{name}")
                wait_for(f"CRD {name} deleted", lambda n=name: Poll(self.cp.get_or_none(f"{CRD_PATH}/{n}") is None),
                         timeout=60, interval=0.2)
        for crd in crds:
            self.cp.create(CRD_PATH, crd)
        for crd in crds:
            name = crd["metadata"]["name"]

            def established(n: str = name) -> Poll:
                conditions = self.cp.get(f"{CRD_PATH}/{n}").get("status", {}).get("conditions", [])
                return Poll(any(c["type"] == "Established" and c["status"] == "True" for c in conditions))

            wait_for(f"CRD {name} established", established, timeout=60, interval=0.2)
        self.current = api


@pytest.fixture(scope="module")
def crds(registry: ClientRegistry) -> Iterator[Crds]:
    installed = Crds(registry)
    yield installed
    # Leave the control plane without them: a later module installs the operator's own release of these CRDs,
    # and a CRD that once stored v1 cannot be replaced by one serving only v1alpha1.
    for crd in load_crds(installed.current) if installed.current else []:
        path = f"{CRD_PATH}/{crd['metadata']['name']}"
        installed.cp.delete(path)
        wait_for(f"{path} deleted", lambda p=path: Poll(installed.cp.get_or_none(p) is None), timeout=120, interval=0.2)


def api_of(variant: str) -> str:
    return "v1" if variant.startswith("v1-") else "v1alpha1"


def run_apply(kbmc, bed, *args: str) -> Any:  # type: ignore[no-untyped-def]
    return kbmc("cluster", "create", "etcd", "--context", "cp", *args, "--apply", kubeconfig=bed.kubeconfig_path)


def test_the_runbooks_malformed_example_is_rejected_by_the_same_path(bed, registry, crds, make_namespace) -> None:
    crds.use("v1alpha1")
    ns = make_namespace("cp")
    broken = yaml.safe_load((GOLDEN / "runbook" / "malformed-aliyun.yaml").read_text())
    broken["metadata"]["namespace"] = ns
    with pytest.raises(ApiError) as info:
        registry.for_context("cp").create(resource_path("apps.kubeblocks.io/v1alpha1", "clusters", ns), broken,
                                          dry_run=True)
    assert info.value.status in (400, 422)
    assert "serviceType" in str(info.value)


def test_create_namespace_everywhere_and_rerun_is_harmless(kbmc, bed, registry, crds, unique_name) -> None:
    crds.use("v1alpha1")
    ns = unique_name("db")
    args = ("--placement", "k8s-1,k8s-3", "-n", ns, "--name", "etcd-main", "--create-namespace")
    try:
        r = run_apply(kbmc, bed, *args)
        assert r.code == 0, r.stderr
        assert "created namespace" in r.stderr and "cp, k8s-1, k8s-3" in r.stderr
        ns_path = resource_path("v1", "namespaces", name=ns)
        for ctx, exists in (("cp", True), ("k8s-1", True), ("k8s-2", False), ("k8s-3", True)):
            assert (registry.for_context(ctx).get_or_none(ns_path) is not None) is exists, ctx
        r = run_apply(kbmc, bed, *args)
        assert r.code == 0, r.stderr
        assert "unchanged" in r.stderr and "created namespace" not in r.stderr
        r = run_apply(kbmc, bed, "--placement", "k8s-1,k8s-3", "-n", ns, "--name", "etcd-main", "--replicas", "5")
        assert r.code == 2 and "already exists with a different spec" in r.stderr
    finally:
        for ctx in ("cp", "k8s-1", "k8s-3"):
            registry.for_context(ctx).delete(resource_path("v1", "namespaces", name=ns))


def test_missing_namespace_in_a_data_plane_is_refused_and_nothing_created(kbmc, bed, registry, crds,
                                                                          make_namespace) -> None:
    crds.use("v1alpha1")
    ns = make_namespace("cp", "k8s-1")
    r = run_apply(kbmc, bed, "--placement", "k8s-1,k8s-2", "-n", ns)
    assert r.code == 2
    assert f"namespace '{ns}' does not exist in k8s-2" in r.stderr and "--create-namespace" in r.stderr
    assert registry.for_context("cp").get(resource_path("apps.kubeblocks.io/v1alpha1", "clusters", ns))["items"] == []


def test_dry_run_with_no_namespace_anywhere_still_validates(kbmc, bed, registry, crds, unique_name) -> None:
    crds.use("v1alpha1")
    ns = unique_name("dry")
    r = run_apply(kbmc, bed, "--placement", "k8s-1", "-n", ns, "--create-namespace", "--dry-run")
    assert r.code == 0, r.stderr
    assert "would create namespace" in r.stderr and "validated the Cluster in namespace 'default'" in r.stderr
    assert registry.for_context("cp").get_or_none(resource_path("v1", "namespaces", name=ns)) is None
    r = run_apply(kbmc, bed, "--placement", "k8s-1", "-n", ns, "--create-namespace", "--dry-run", "--replicas", "2",
                  "--api", "v1alpha1", "--termination-policy", "Halt")
    assert r.code == 0, r.stderr  # Halt is valid for v1alpha1


def test_missing_cluster_api_is_a_clear_error(kbmc, bed, make_namespace) -> None:
    ns = make_namespace("k8s-2", "k8s-1")  # k8s-2 as control plane: no KubeBlocks CRDs there
    r = kbmc("cluster", "create", "etcd", "--context", "k8s-2", "--placement", "k8s-1", "-n", ns, "--apply",
             kubeconfig=bed.kubeconfig_path)
    assert r.code == 2
    assert "k8s-2 has no apps.kubeblocks.io/v1alpha1 Cluster API" in r.stderr


def test_dry_run_creates_nothing(kbmc, bed, registry, crds, make_namespace) -> None:
    crds.use("v1alpha1")
    ns = make_namespace("cp")
    r = run_apply(kbmc, bed, "--placement", "k8s-1", "-n", ns, "--create-namespace", "--dry-run", "-o", "json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["kind"] == "Cluster"
    assert "would create namespace" in r.stderr
    assert registry.for_context("k8s-1").get_or_none(resource_path("v1", "namespaces", name=ns)) is None
    assert registry.for_context("cp").get(resource_path("apps.kubeblocks.io/v1alpha1", "clusters", ns))["items"] == []


@pytest.fixture
def operator(registry: ClientRegistry, make_namespace):  # type: ignore[no-untyped-def]
    """A stand-in KubeBlocks Deployment in cp (no pods run on the bed; kbmc reads only its args)."""
    ns = make_namespace("cp")
    cp = registry.for_context("cp")

    def deploy(contexts: str, disabled: str = "", release: str = "kubeblocks") -> str:
        args = [f"--multi-cluster-contexts={contexts}"] + ([f"--multi-cluster-contexts-disabled={disabled}"]
                                                           if disabled else [])
        # Named and labelled as the chart does: `kubeblocks.fullname` and the manager's labels.
        name = release if "kubeblocks" in release else f"{release}-kubeblocks"
        labels = {"app.kubernetes.io/name": "kubeblocks", "app.kubernetes.io/instance": release,
                  "app.kubernetes.io/component": "apps"}
        cp.create(resource_path("apps/v1", "deployments", ns), {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"selector": {"matchLabels": {"app": "kb"}}, "template": {
                "metadata": {"labels": {"app": "kb"}},
                "spec": {"containers": [{"name": "manager", "image": "apecloud/kubeblocks:0.9.0", "args": args}]}}}})
        return ns

    return deploy


def topology(tmp_path: Path, kb_namespace: str) -> None:
    (tmp_path / "kbmc.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kbmc.io/v1alpha1", "kind": "Topology",
        "controlPlane": {"context": "cp", "namespace": kb_namespace}, "network": {"eastWest": "cilium"},
        "dataPlanes": [{"context": c, "cilium": {"clusterName": c, "clusterID": i, "podCIDR": f"10.{i}.0.0/16"}}
                       for i, c in enumerate(("k8s-1", "k8s-2", "k8s-3"), start=1)]}))


def test_placement_must_be_known_to_the_operator(kbmc, bed, registry, crds, operator, make_namespace,
                                                 tmp_path: Path) -> None:
    crds.use("v1alpha1")
    kb_ns = operator("k8s-1,k8s-2", disabled="k8s-2")
    topology(tmp_path, kb_ns)
    ns = make_namespace("cp", "k8s-1", "k8s-2", "k8s-3")
    r = run_apply(kbmc, bed, "--placement", "k8s-1,k8s-3", "-n", ns)
    assert r.code == 2 and "the operator does not know context(s) k8s-3" in r.stderr
    r = run_apply(kbmc, bed, "--placement", "k8s-1,k8s-2", "-n", ns)
    assert r.code == 2 and "k8s-2 are disabled in the operator" in r.stderr
    r = run_apply(kbmc, bed, "--placement", "k8s-1", "-n", ns)
    assert r.code == 0, r.stderr
    assert "ComponentDefinition 'etcd-0.9.0' not found" in r.stderr and "install the etcd addon" in r.stderr


def test_operator_installed_under_another_release_name_is_found(kbmc, bed, registry, crds, operator,
                                                                make_namespace, tmp_path: Path) -> None:
    """`operator install --release kb` makes kb-kubeblocks: found by the chart's labels, not by name."""
    crds.use("v1alpha1")
    kb_ns = operator("k8s-1,k8s-2", disabled="k8s-2", release="kb")
    topology(tmp_path, kb_ns)
    ns = make_namespace("cp", "k8s-1", "k8s-2", "k8s-3")
    r = run_apply(kbmc, bed, "--placement", "k8s-1,k8s-3", "-n", ns)
    assert r.code == 2 and "the operator does not know context(s) k8s-3" in r.stderr, r.output
    r = run_apply(kbmc, bed, "--placement", "k8s-1,k8s-2", "-n", ns)
    assert r.code == 2 and "k8s-2 are disabled in the operator" in r.stderr, r.output
    r = run_apply(kbmc, bed, "--placement", "k8s-1", "-n", ns, "--name", "kbrel")
    assert r.code == 0 and "operator not found" not in r.stderr, r.output
    # `cluster status` reads the same Deployment: a Cluster without placement goes where the operator
    # may place it (its enabled contexts), not to every data plane of kbmc.yaml.
    r = kbmc("cluster", "create", "etcd", "--no-placement", "--name", "kbfree", "-n", ns, "-o", "json")
    assert r.code == 0, r.output
    registry.for_context("cp").create(resource_path("apps.kubeblocks.io/v1alpha1", "clusters", ns), json.loads(r.stdout))
    r = kbmc("cluster", "status", "kbfree", "-n", ns, "--context", "cp", "-o", "json", kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.output
    assert json.loads(r.stdout)["placement"] == ["k8s-1"]


@contextmanager
def fake_operator(registry: ClientRegistry, path: str, phases: list[str]) -> Iterator[None]:
    """Stand in for the operator the bed lacks: once the Cluster exists, move its status through `phases`."""
    cp = registry.for_context("cp")
    stop = threading.Event()

    def drive() -> None:
        deadline = time.monotonic() + 30
        while cp.get_or_none(path) is None and time.monotonic() < deadline and not stop.is_set():
            time.sleep(0.1)
        for phase in phases:
            if stop.wait(0.5):
                return
            cp.patch(f"{path}/status", {"status": {"phase": phase, "conditions": [{
                "type": "Ready", "status": "False" if phase != "Running" else "True", "reason": phase,
                "message": f"pods are {phase.lower()}", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_wait_follows_the_phase_until_running(kbmc, bed, registry, crds, make_namespace) -> None:
    crds.use("v1alpha1")
    ns = make_namespace("cp", "k8s-1")
    path = resource_path("apps.kubeblocks.io/v1alpha1", "clusters", ns, "etcd-w")
    with fake_operator(registry, path, ["Creating", "Updating", "Running"]):
        r = run_apply(kbmc, bed, "--placement", "k8s-1", "-n", ns, "--name", "etcd-w", "--wait", "--timeout", "60")
    assert r.code == 0, r.stderr
    assert "etcd-w is Running" in r.stderr


def test_wait_timeout_reports_the_last_phase(kbmc, bed, registry, crds, make_namespace) -> None:
    crds.use("v1alpha1")
    ns = make_namespace("cp", "k8s-1")
    path = resource_path("apps.kubeblocks.io/v1alpha1", "clusters", ns, "etcd-t")
    with fake_operator(registry, path, ["Creating"]):
        r = run_apply(kbmc, bed, "--placement", "k8s-1", "-n", ns, "--name", "etcd-t", "--wait", "--timeout", "4")
    assert r.code == 1
    assert "timed out after 4s waiting for Cluster" in r.stderr
    assert "last seen: Creating: pods are creating" in r.stderr


# v1alpha1 first, v1 last: each switch of CRD release costs a delete and a create.
@pytest.mark.parametrize("variant", sorted(VARIANTS, key=lambda v: api_of(v) == "v1"))
def test_every_variant_passes_the_real_schema(kbmc, bed, registry, crds, make_namespace, variant: str) -> None:
    crds.use(api_of(variant))
    ns = make_namespace("cp", "k8s-1", "k8s-2", "k8s-3")
    cp = registry.for_context("cp")
    golden = yaml.safe_load((GOLDEN / f"etcd-{variant}.yaml").read_text())
    golden["metadata"]["namespace"] = ns
    clusters = resource_path(f"apps.kubeblocks.io/{api_of(variant)}", "clusters", ns)
    cp.create(clusters, golden, dry_run=True)  # server-side dry run, strict field validation
    assert cp.get(clusters)["items"] == []
    # And for real, through kbmc itself.
    r = run_apply(kbmc, bed, *VARIANTS[variant], "-n", ns)
    assert r.code == 0, r.stderr
    name = r.stdout.strip()
    assert name.startswith("etcd")
    created = cp.get(f"{clusters}/{name}")
    assert created["spec"]["componentSpecs"][0]["services"][0]["name"] == "peer"


def test_v1_refuses_halt_on_the_server_too(bed, registry, crds, make_namespace) -> None:
    """kbmc refuses Halt with v1 offline; the 1.0 CRD agrees."""
    crds.use("v1")
    ns = make_namespace("cp")
    doc = yaml.safe_load((GOLDEN / "etcd-v1-cilium.yaml").read_text())
    doc["metadata"]["namespace"] = ns
    doc["spec"]["terminationPolicy"] = "Halt"
    with pytest.raises(ApiError, match="Halt"):
        registry.for_context("cp").create(resource_path("apps.kubeblocks.io/v1", "clusters", ns), doc, dry_run=True)
