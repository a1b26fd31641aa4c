"""`kbmc doctor` against the bed: healthy is all green; each seeded fault turns exactly its own row red."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kbmc.clients import ClientRegistry, KubeClient, resource_path
from kbmc.operator.status import ready
from tests.bed.test_contexts import DATA_PLANES, DP, NS, RELEASE, args_of, operator  # noqa: F401 - the module's install
from tests.bed.test_operator import CRD_API, run_kbmc, settle
from tests.testbed.crds import all_crds
from tests.testbed.kubelet import mark_pods_ready

SECRET = "kb-multi-cluster-kubeconfig"


def play_kubelet(cp: KubeClient, stop: threading.Event) -> None:
    """Mark the release's Deployment pods Running and Ready (the bed has no kubelet), so the operator is available."""
    while not stop.is_set():
        mark_pods_ready(cp, NS, f"app.kubernetes.io/instance={RELEASE}")
        time.sleep(0.3)


def wait_available(cp: KubeClient) -> None:
    for _ in range(120):
        deployments = [cp.get(resource_path("apps/v1", "deployments", NS, n)) for n in (RELEASE, DP)]
        if all(ready(d) for d in deployments):
            return
        time.sleep(0.5)
    raise AssertionError("the operator's Deployments never became available")


@pytest.fixture(scope="module")
def healthy(operator, bed, registry: ClientRegistry) -> Iterator[None]:  # noqa: F811
    cp = registry.for_context("cp")
    r = run_kbmc(bed, operator["env"], "rbac", "sync", "--context", "cp", "--data-planes", DATA_PLANES)
    assert r.returncode == 0, r.stderr
    stop = threading.Event()
    kubelet = threading.Thread(target=play_kubelet, args=(cp, stop), daemon=True)
    kubelet.start()
    try:
        wait_available(cp)
        yield
    finally:
        stop.set()
        kubelet.join()


def doctor(kbmc, bed) -> tuple[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    r = kbmc("doctor", "--allow-loopback", "-o", "json", kubeconfig=bed.kubeconfig_path)
    return r.code, json.loads(r.stdout)


def red(report: dict[str, Any]) -> dict[tuple[str, str], str | None]:
    return {(c["check"], c["scope"]): c["fix"] for c in report["checks"] if c["status"] == "fail"}


@pytest.fixture
def topology(kbmc, bed) -> None:  # type: ignore[no-untyped-def]
    r = kbmc("--context", "cp", "--data-planes", DATA_PLANES, "init", kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr


def test_healthy_bed_is_all_green(healthy, topology, kbmc, bed) -> None:
    code, report = doctor(kbmc, bed)
    assert code == 0 and report["ok"] is True, report
    assert all(c["status"] == "ok" for c in report["checks"]), report
    checks = {(c["check"], c["scope"]) for c in report["checks"]}
    for dp in DATA_PLANES.split(","):
        assert {("data plane reachable", dp), ("pod RBAC", dp), ("no KubeBlocks CRDs in data plane", dp)} <= checks
    assert {("kubeconfig Secret", "cp"), ("operator available", "cp"), ("operator flags consistent", "cp"),
            ("Secret usable in a pod", "cp"), ("Cilium ids/CIDRs, MetalLB ranges", "-")} <= checks
    # The bed's servers are loopback ones, accepted by --allow-loopback: the row says so, not "no loopback".
    usable = next(c for c in report["checks"] if c["check"] == "Secret usable in a pod")
    assert "loopback servers accepted (--allow-loopback), not checked: k8s-1,k8s-2,k8s-3" in usable["detail"]
    assert "no loopback" not in usable["detail"]
    r = kbmc("doctor", "--allow-loopback", kubeconfig=bed.kubeconfig_path)  # the table, for people
    assert r.code == 0 and r.stdout == "" and "all checks passed" in r.stderr
    # Without --allow-loopback the bed's loopback servers are what a pod could not reach.
    r = kbmc("doctor", "-o", "json", kubeconfig=bed.kubeconfig_path)
    assert r.code == 1 and set(red(json.loads(r.stdout))) == {("Secret usable in a pod", "cp")}


def test_secret_key_missing(healthy, topology, kbmc, bed, registry: ClientRegistry) -> None:
    cp = registry.for_context("cp")
    path = resource_path("v1", "secrets", NS, SECRET)
    original = cp.get(path)
    broken = copy.deepcopy(original)
    broken["data"] = {"config": broken["data"]["kubeconfig"]}
    cp.replace(path, broken)
    try:
        code, report = doctor(kbmc, bed)
        assert code == 1
        assert red(report) == {("kubeconfig Secret", "cp"): f"kbmc env prepare --force --secret-name {SECRET}"}
    finally:
        restored = cp.get(path)
        restored["data"] = original["data"]
        cp.replace(path, restored)


def test_empty_pod_role_in_one_data_plane(healthy, topology, kbmc, bed, registry: ClientRegistry) -> None:
    k8s2 = registry.for_context("k8s-2")
    path = resource_path("rbac.authorization.k8s.io/v1", "clusterroles", name="kubeblocks-cluster-pod-role")
    k8s2.patch(path, {"rules": []})
    code, report = doctor(kbmc, bed)
    assert code == 1 and red(report) == {("pod RBAC", "k8s-2"): "kbmc rbac sync"}
    r = kbmc("rbac", "sync", kubeconfig=bed.kubeconfig_path)  # the fix it names
    assert r.code == 0, r.stderr
    assert doctor(kbmc, bed)[0] == 0


def test_disabled_context_not_in_the_contexts(healthy, topology, kbmc, bed, registry: ClientRegistry,
                                              operator) -> None:  # noqa: F811
    cp = registry.for_context("cp")
    path = resource_path("apps/v1", "deployments", NS, RELEASE)  # the manager only, as the runbook does it
    d = cp.get(path)
    d["spec"]["template"]["spec"]["containers"][0]["args"].append("--multi-cluster-contexts-disabled=k8s-9")
    cp.replace(path, d)
    try:
        wait_available(cp)
        code, report = doctor(kbmc, bed)
        assert code == 1
        # Not `kbmc operator install` (which changes nothing here): enabling the stray drops it everywhere.
        assert red(report) == {("operator flags consistent", "cp"): "kbmc contexts enable k8s-9"}
        row = next(c for c in report["checks"] if c["check"] == "operator flags consistent")
        assert f"Deployment {DP} runs other multi-cluster flags" in row["detail"]
    finally:
        r = kbmc("contexts", "enable", "k8s-9", env=operator["env"], kubeconfig=bed.kubeconfig_path)  # the fix
    assert r.code == 0, r.stderr
    assert not any("k8s-9" in a for name in (RELEASE, DP) for a in args_of(cp, name))
    wait_available(cp)
    assert doctor(kbmc, bed)[0] == 0


def test_cluster_namespace_missing_in_one_data_plane(healthy, topology, kbmc, bed, registry: ClientRegistry,
                                                     make_namespace) -> None:
    cp = registry.for_context("cp")
    ns = make_namespace("cp", "k8s-1")
    cp.create(resource_path("apps.kubeblocks.io/v1alpha1", "clusters", ns), {
        "apiVersion": "apps.kubeblocks.io/v1alpha1", "kind": "Cluster",
        "metadata": {"name": "pg", "annotations": {"apps.kubeblocks.io/multi-cluster-placement": "k8s-1,k8s-2"}},
        "spec": {"terminationPolicy": "Delete", "componentSpecs": [{"name": "pg", "replicas": 2}]}})
    try:
        code, report = doctor(kbmc, bed)
        assert code == 1
        fixes = red(report)
        assert list(fixes) == [("Cluster namespaces", "k8s-2")]
        assert f"create namespace {ns}" in str(fixes[("Cluster namespaces", "k8s-2")])
        detail = next(c["detail"] for c in report["checks"]
                      if c["check"] == "Cluster namespaces" and c["scope"] == "k8s-2")
        assert detail == f"missing: {ns} (Cluster pg)"
    finally:  # at once (the namespace's own deletion is asynchronous): the next test must not see it
        cp.delete(resource_path("apps.kubeblocks.io/v1alpha1", "clusters", ns, "pg"), propagation=None)


def test_kubeblocks_crd_in_one_data_plane(healthy, topology, kbmc, bed, registry: ClientRegistry) -> None:
    """The runbook's trap: with the InstanceSet CRD there, that data plane's garbage collector deletes the
    operator's pods. Only that data plane's row turns red, naming the CRD and the kubectl command that removes it."""
    name = "instancesets.workloads.kubeblocks.io"
    crd = next(c for c in all_crds() if c["metadata"]["name"] == name)
    k8s2 = registry.for_context("k8s-2")
    path = resource_path(CRD_API, "customresourcedefinitions", name=name)
    k8s2.apply(path, crd)
    try:
        settle(k8s2, path)
        code, report = doctor(kbmc, bed)
        fix = f"kubectl --context k8s-2 delete crd {name}"
        assert code == 1 and report["ok"] is False
        assert red(report) == {("no KubeBlocks CRDs in data plane", "k8s-2"): fix}
        row = next(c for c in report["checks"]
                   if c["check"] == "no KubeBlocks CRDs in data plane" and c["scope"] == "k8s-2")
        assert name in row["detail"] and "garbage collector" in row["detail"]
        # The fix it names works as given.
        env = {**os.environ, "KUBECACHEDIR": tempfile.mkdtemp(), "KUBECONFIG": str(bed.kubeconfig_path)}
        done = subprocess.run(fix.split(), env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        code, report = doctor(kbmc, bed)
        assert code == 0, red(report)
    finally:
        if k8s2.get_or_none(path) is not None:
            k8s2.delete(path)
        for _ in range(60):  # the CRD's finalizer takes a moment: leave k8s-2 as it was
            if k8s2.get_or_none(path) is None:
                break
            time.sleep(0.5)


def test_the_control_plane_as_a_data_plane_may_have_the_crds(healthy, kbmc, bed) -> None:
    r = kbmc("--context", "cp", "--data-planes", "k8s-1,cp", "doctor", "--allow-loopback", "-o", "json",
             kubeconfig=bed.kubeconfig_path)
    rows = {c["scope"]: c for c in json.loads(r.stdout)["checks"] if c["check"] == "no KubeBlocks CRDs in data plane"}
    assert rows["cp"]["status"] == "ok" and "control plane's own cluster" in rows["cp"]["detail"]
    assert rows["k8s-1"]["status"] == "ok" and rows["k8s-1"]["detail"] == "none"


def test_one_data_plane_down_fails_its_rows_only(healthy, topology, kbmc, bed) -> None:
    bed.stop_apiserver("k8s-3")
    try:
        code, report = doctor(kbmc, bed)
        assert code == 1
        # Only "reachable" is red; what needs the data plane says "not checked", with no fix that cannot work.
        assert red(report) == {("data plane reachable", "k8s-3"): "kbmc env check (or kbmc contexts disable k8s-3)"}
        rows = {c["check"]: c for c in report["checks"] if c["scope"] == "k8s-3"}
        for check in ("pod RBAC", "no KubeBlocks CRDs in data plane"):
            assert rows[check]["status"] == "skip" and rows[check]["fix"] is None, rows[check]
            assert rows[check]["detail"] == "not checked (unreachable)"
        others = [c for c in report["checks"] if c["scope"] in ("k8s-1", "k8s-2")]
        assert others and all(c["status"] == "ok" for c in others)
        r = kbmc("doctor", "--allow-loopback", kubeconfig=bed.kubeconfig_path)  # the table
        assert r.code == 1 and "1 check(s) failed" in r.stderr and "not checked" in r.stderr
    finally:
        bed.start_apiserver("k8s-3")


def test_a_data_plane_down_and_disabled_is_the_failover_state_not_a_failure(
        healthy, topology, kbmc, bed, operator, registry: ClientRegistry) -> None:  # noqa: F811
    """The failover done right (the plane down AND disabled through kbmc): doctor passes, and says so."""
    env = operator["env"]
    bed.stop_apiserver("k8s-3")
    try:
        r = kbmc("contexts", "disable", "k8s-3", "--context", "cp", env=env, kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        wait_available(registry.for_context("cp"))
        code, report = doctor(kbmc, bed)
        assert code == 0 and red(report) == {}, report
        row = next(c for c in report["checks"] if c["scope"] == "k8s-3" and c["check"] == "data plane reachable")
        assert row["status"] == "warn" and "disabled in the operator" in row["detail"]
        assert row["fix"] == "when it is back: kbmc contexts enable k8s-3"
        assert not any("disable" in (c["fix"] or "").replace("enable", "") for c in report["checks"])
    finally:
        bed.start_apiserver("k8s-3")
        r = kbmc("contexts", "enable", "k8s-3", "--context", "cp", env=env, kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    wait_available(registry.for_context("cp"))
    assert doctor(kbmc, bed)[0] == 0


def test_operator_context_missing_from_the_kubeconfig_is_a_failing_row(healthy, kbmc, bed, tmp_path) -> None:
    """The data plane is gone from the user's kubeconfig but still in the operator's contexts: never left out."""
    import yaml

    doc = yaml.safe_load(bed.kubeconfig_path.read_text())
    doc["contexts"] = [c for c in doc["contexts"] if c["name"] != "k8s-3"]
    partial = tmp_path / "partial-kubeconfig"
    partial.write_text(yaml.safe_dump(doc))
    partial.chmod(0o600)
    r = kbmc("--context", "cp", "--data-planes", "k8s-1,k8s-2", "doctor", "--allow-loopback", "-o", "json",
             kubeconfig=partial)
    report = json.loads(r.stdout)
    assert r.code == 1 and report["ok"] is False
    assert set(red(report)) == {("data plane in kubeconfig", "k8s-3")}
    row = next(c for c in report["checks"] if c["scope"] == "k8s-3")
    assert row["detail"] == "operator context k8s-3 is not in your kubeconfig: not checked"
    assert "kbmc contexts remove k8s-3 --force" in row["fix"]
    others = [c for c in report["checks"] if c["scope"] in ("k8s-1", "k8s-2")]
    assert others and all(c["status"] == "ok" for c in others)


def test_disable_wait_reports_the_new_live_flags(healthy, kbmc, bed, operator) -> None:  # noqa: F811
    """With a (played) kubelet the rollout completes: --wait follows it and prints the flags the manager runs with."""
    env = operator["env"]
    try:
        r = kbmc("contexts", "disable", "k8s-2", "--context", "cp", "--wait", "--timeout", "120", env=env,
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        assert ("kubeblocks runs with: --multi-cluster-kubeconfig=/var/run/secrets/kubeblocks.io/multicluster/"
                "kubeconfig --multi-cluster-contexts=k8s-1,k8s-2,k8s-3 --multi-cluster-contexts-disabled=k8s-2"
                in r.stderr)
    finally:
        r = kbmc("contexts", "enable", "k8s-2", "--context", "cp", "--wait", "--timeout", "120", env=env,
                 kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    assert "kubeblocks runs with: --multi-cluster-kubeconfig=" in r.stderr and "disabled" not in r.stderr.split(
        "kubeblocks runs with:")[1].splitlines()[0]
