"""`kbmc network metallb`: the real helm installs the real MetalLB chart into the bed's data planes.

The bed has no kubelet and MetalLB's own webhook server never runs: the test plays kubelet (it
marks the controller Deployment available) and points the chart's ValidatingWebhookConfiguration
at a TLS admission server on loopback, which refuses the first calls: the real API servers call
it for every pool and advertisement kbmc applies.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kbmc.clients import ClientRegistry, KubeClient, resource_path
from kbmc.wait import Poll, wait_for
from tests.bed.admission import AdmissionServer
from tests.bed.network_helpers import metallb_snapshot, write_topology
from tests.testbed.crds import CrdsUnavailable
from tests.testbed.kubelet import mark_pods_ready
from tests.testbed.metallb import chart_dir

PLANES = ["k8s-1", "k8s-2", "k8s-3"]
NS = "metallb-system"
VWC = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/metallb-webhook-configuration"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
# Documentation addresses (RFC 5737): never dialled by anything.
RANGES = {"k8s-1": ["198.51.100.0/28"], "k8s-2": ["198.51.100.16-198.51.100.31"], "k8s-3": ["203.0.113.0/28"]}


@pytest.fixture(scope="module")
def chart() -> Path:
    try:
        return chart_dir()
    except CrdsUnavailable as exc:
        if os.environ.get("KBMC_REQUIRE_BED"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def metallb_cleanup(bed, registry: ClientRegistry) -> Iterator[None]:
    yield
    clear_metallb(registry)


def clear_metallb(registry: ClientRegistry, wait: bool = False) -> None:
    """No MetalLB in any data plane: its webhook configuration, namespace (waited out with `wait`) and CRDs."""
    for ctx in PLANES:
        client = registry.for_context(ctx)
        client.delete(VWC)
        client.delete(resource_path("v1", "namespaces", name=NS))
        for crd in client.get(CRD_PATH)["items"]:
            if crd["spec"]["group"] == "metallb.io":
                client.delete(f"{CRD_PATH}/{crd['metadata']['name']}")
    def gone(client: KubeClient) -> Poll:
        left = client.get_or_none(resource_path("v1", "namespaces", name=NS)) is not None or any(
            crd["spec"]["group"] == "metallb.io" for crd in client.get(CRD_PATH)["items"])
        return Poll(not left, f"namespace {NS} or a metallb.io CRD still there")

    for ctx in PLANES if wait else []:
        wait_for(f"MetalLB gone from {ctx}", lambda c=ctx: gone(registry.for_context(c)), timeout=300, interval=0.5)


@pytest.fixture
def helm_env(real_helm: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", f"{real_helm.parent}{os.pathsep}{os.environ['PATH']}")
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))


def play_kubelet_and_webhook(registry: ClientRegistry, contexts: list[str], webhook: AdmissionServer | None,
                             stop: threading.Event) -> None:
    """Mark each controller pod Ready (no kubelet here), and aim the webhooks at the loopback server."""
    aimed: set[str] = set()
    while not stop.is_set():
        for ctx in contexts:
            client = registry.for_context(ctx)
            try:
                # As a kubelet would: the controllers then report the Deployment available themselves.
                mark_pods_ready(client, NS, "app.kubernetes.io/component=controller")
                if webhook is not None and ctx not in aimed:
                    vwc = client.get_or_none(VWC)
                    if vwc is not None:
                        for hook in vwc["webhooks"]:
                            path_ = hook["clientConfig"].get("service", {}).get("path", "/")
                            hook["clientConfig"] = {"url": webhook.url(path_), "caBundle": webhook.ca_bundle}
                        client.replace(VWC, vwc)
                        aimed.add(ctx)
            except Exception:  # noqa: BLE001, S110 - objects appear while helm runs; try again
                pass
        time.sleep(0.2)


@contextmanager
def cluster_actors(registry: ClientRegistry, webhook: AdmissionServer | None) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=play_kubelet_and_webhook, args=(registry, PLANES, webhook, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def metallb(kbmc, bed, tmp_path: Path, chart: Path, *args: str, ranges: dict[str, list[str]] = RANGES):  # type: ignore[no-untyped-def]
    write_topology(tmp_path / "kbmc.yaml", PLANES, metallb=ranges, north_south="metallb")
    return kbmc("network", "metallb", "--data-planes", ",".join(PLANES), "--chart", str(chart), *args,
                kubeconfig=bed.kubeconfig_path)


def pool_of(registry: ClientRegistry, ctx: str, kind: str = "ipaddresspools") -> dict | None:  # type: ignore[type-arg]
    return registry.for_context(ctx).get_or_none(resource_path("metallb.io/v1beta1", kind, NS, "kbmc"))


def test_real_chart_installs_pools_wait_out_the_webhook_race_and_reruns_change_nothing(
        kbmc, bed, registry, tmp_path, chart, helm_env, metallb_cleanup) -> None:
    with AdmissionServer(refuse_first=4) as webhook, cluster_actors(registry, webhook):
        r = metallb(kbmc, bed, tmp_path, chart, "-o", "json", "--timeout", "120")
    assert r.code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["done"] and {c["context"]: c["pool"] for c in summary["clusters"]} == dict.fromkeys(PLANES, "created")
    # The API servers called the webhook; the first calls were refused and kbmc retried until accepted.
    answers = [c["answer"] for c in webhook.calls]
    assert answers[:4] == ["refused"] * 4 and answers.count("allowed") >= 6
    assert {c["kind"] for c in webhook.calls if c["answer"] == "allowed"} == {"IPAddressPool", "L2Advertisement"}
    for ctx in PLANES:
        pool = pool_of(registry, ctx)
        assert pool is not None and pool["spec"]["addresses"] == RANGES[ctx]
        assert pool["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kbmc"
        assert pool_of(registry, ctx, "l2advertisements")["spec"]["ipAddressPools"] == ["kbmc"]  # type: ignore[index]
    # The real CRDs check the schema: a pool whose addresses are not a list is refused by the API server.
    with pytest.raises(Exception, match="addresses"):
        registry.for_context("k8s-1").create(resource_path("metallb.io/v1beta1", "ipaddresspools", NS), {
            "apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "bad"},
            "spec": {"addresses": 42}})

    versions = {ctx: pool_of(registry, ctx)["metadata"]["resourceVersion"] for ctx in PLANES}  # type: ignore[index]
    # A dry run now reads what is there (helm list, the pools) and plans what the re-run below does: no helm.
    dry = metallb(kbmc, bed, tmp_path, chart, "--dry-run", "-o", "json")
    assert dry.code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert {(d["context"], d["step"]): d["decision"] for d in plan["decisions"]} == {
        **{(ctx, "install"): "skip (already installed with the same chart version 0.15.2)" for ctx in PLANES},
        **{(ctx, "pool"): "unchanged" for ctx in PLANES}}
    assert [a["step"] for a in plan["actions"] if "argv" in a] == []
    with AdmissionServer() as webhook, cluster_actors(registry, None):
        _aim(registry, webhook)
        again = metallb(kbmc, bed, tmp_path, chart, "-o", "json")
        assert again.code == 0, again.output
        rows = {c["context"]: c for c in json.loads(again.stdout)["clusters"]}
        assert all(rows[ctx]["helm"].startswith("already installed") for ctx in PLANES)
        assert all(rows[ctx]["pool"] == rows[ctx]["advertisement"] == "unchanged" for ctx in PLANES)
        assert {ctx: pool_of(registry, ctx)["metadata"]["resourceVersion"] for ctx in PLANES} == versions  # type: ignore[index]

        changed = {**RANGES, "k8s-2": ["198.51.100.64/27"]}
        third = metallb(kbmc, bed, tmp_path, chart, "-o", "json", ranges=changed)
        assert third.code == 0, third.output
    assert pool_of(registry, "k8s-2")["spec"]["addresses"] == ["198.51.100.64/27"]  # type: ignore[index]
    after = {ctx: pool_of(registry, ctx)["metadata"]["resourceVersion"] for ctx in PLANES}  # type: ignore[index]
    assert after["k8s-1"] == versions["k8s-1"] and after["k8s-3"] == versions["k8s-3"]
    assert after["k8s-2"] != versions["k8s-2"]
    managers = [m["manager"] for m in pool_of(registry, "k8s-2")["metadata"]["managedFields"]]  # type: ignore[index]
    assert managers == ["kbmc"]


def _aim(registry: ClientRegistry, webhook: AdmissionServer, contexts: list[str] = PLANES) -> None:
    for ctx in contexts:
        client = registry.for_context(ctx)
        vwc = client.get(VWC)
        for hook in vwc["webhooks"]:
            path = hook["clientConfig"].get("service", {}).get("path") or "/" + hook["clientConfig"]["url"].split(
                "/", 3)[3]
            hook["clientConfig"] = {"url": webhook.url(path), "caBundle": webhook.ca_bundle}
        client.replace(VWC, vwc)


def _restore_service(registry: ClientRegistry, ctx: str) -> None:
    """Back to the chart's Service-based clientConfig: with no MetalLB pod, nothing answers."""
    client = registry.for_context(ctx)
    vwc = client.get(VWC)
    for hook in vwc["webhooks"]:
        path = "/" + hook["clientConfig"]["url"].split("/", 3)[3] if "url" in hook["clientConfig"] else \
            hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {"service": {"name": "metallb-webhook-service", "namespace": NS, "path": path}}
    client.replace(VWC, vwc)


def test_no_webhook_answering_times_out_naming_the_webhook(kbmc, bed, registry, tmp_path, chart, helm_env,
                                                           metallb_cleanup) -> None:
    with AdmissionServer() as webhook, cluster_actors(registry, webhook):
        assert metallb(kbmc, bed, tmp_path, chart, "--timeout", "120").code == 0
        _aim(registry, webhook)
        _restore_service(registry, "k8s-1")
        r = metallb(kbmc, bed, tmp_path, chart, "--timeout", "30", "-o", "json")
    assert r.code == 1, r.output
    rows = {c["context"]: c for c in json.loads(r.stdout)["clusters"]}
    failure = rows["k8s-1"]["pool"]
    # The row names its context; the message does not again.
    assert failure.startswith("failed: MetalLB's validating webhook ipaddresspoolvalidationwebhook.metallb.io "
                              "did not answer within 30s (--timeout) (last: "), failure  # the --timeout given
    assert "k8s-1: pool failed: MetalLB's validating webhook" in r.stderr and "k8s-1: k8s-1" not in r.output
    assert "no endpoints available" in failure  # what the API server last said: nothing behind the Service
    assert "#1540/#1612" in failure and "no LoadBalancer Service gets an address" in failure
    assert "Traceback" not in r.output
    # The others were not held up by k8s-1.
    assert rows["k8s-2"]["pool"] == rows["k8s-3"]["pool"] == "unchanged", rows


def test_dry_run_prints_helm_and_the_objects_per_cluster_and_changes_nothing(kbmc, bed, registry, tmp_path, chart,
                                                                             helm_env) -> None:
    before = {ctx: metallb_snapshot(registry, ctx) for ctx in PLANES}
    r = metallb(kbmc, bed, tmp_path, chart, "--dry-run", "-o", "json", ranges={**RANGES, "k8s-2": ["198.51.100.96/28"]})
    assert r.code == 0, r.output
    assert {ctx: metallb_snapshot(registry, ctx) for ctx in PLANES} == before
    plan = json.loads(r.stdout)
    actions = plan["actions"]
    # helm runs where the plan decided to install or upgrade, and only there (MetalLB may be there from an
    # earlier test); the pool and advertisement are applied everywhere.
    helm = {d["context"]: d["decision"] for d in plan["decisions"] if d["step"] == "install"}
    steps = [(a["context"], a["step"]) for a in actions]
    assert steps == [(ctx, step) for ctx in PLANES for step in ("install", "pool", "advertisement")
                     if step != "install" or not helm[ctx].startswith("skip")]
    for a in actions:
        if a["step"] == "install":
            assert a["argv"] == ["helm", "upgrade", "--install", "metallb", str(chart), "-n", NS,
                                 "--create-namespace", "--kube-context", a["context"]]
    objects = {(a["context"], a["step"]): a["apply"]["object"] for a in actions if "apply" in a}
    assert objects[("k8s-2", "pool")]["spec"] == {"addresses": ["198.51.100.96/28"]}
    assert objects[("k8s-2", "advertisement")]["spec"] == {"ipAddressPools": ["kbmc"]}


def test_a_range_holding_the_api_server_address_is_refused(kbmc, bed, registry, tmp_path, chart, helm_env) -> None:
    ranges = {**RANGES, "k8s-3": ["127.0.0.0/30"]}
    r = metallb(kbmc, bed, tmp_path, chart, ranges=ranges)
    assert r.code == 2, r.output
    assert "k8s-3: MetalLB range 127.0.0.0/30 contains the cluster's API server address 127.0.0.1" in r.stderr


def test_helm_missing_from_path_is_bad_input(kbmc, bed, registry, tmp_path, chart, monkeypatch) -> None:
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                               if not Path(p, "helm").exists()))
    before = {ctx: metallb_snapshot(registry, ctx) for ctx in PLANES}
    r = metallb(kbmc, bed, tmp_path, chart)
    assert r.code == 2, r.output
    assert "helm is not installed or not on PATH" in r.stderr and "helm.sh" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output, r.stderr
    assert {ctx: metallb_snapshot(registry, ctx) for ctx in PLANES} == before


def test_version_with_a_local_chart_of_another_version_is_refused(kbmc, bed, registry, tmp_path, chart,
                                                                  helm_env) -> None:
    before = {ctx: metallb_snapshot(registry, ctx) for ctx in PLANES}
    r = metallb(kbmc, bed, tmp_path, chart, "--version", "0.14.9")
    assert r.code == 2, r.output
    assert (f"--version 0.14.9 does not apply to the local chart {chart} as helm installs a local chart's own "
            "version, 0.15.2 (drop --version") in r.stderr
    assert "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1
    assert {ctx: metallb_snapshot(registry, ctx) for ctx in PLANES} == before
    # The chart's own version is no conflict.
    same = metallb(kbmc, bed, tmp_path, chart, "--version", "0.15.2", "--dry-run", "-o", "json")
    assert same.code == 0, same.output
