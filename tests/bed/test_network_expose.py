"""`kbmc network expose` against pods and nodes laid out in the bed's data planes the way the operator does."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from kbmc.clients import ClientRegistry, resource_path
from tests.bed.test_cluster_apply import Crds
from tests.cli.test_cluster_render import GOLDEN

PLANES = ["k8s-1", "k8s-2", "k8s-3"]
# Documentation addresses (RFC 5737) in Node status: shown to clients, never dialled here.
INTERNAL = {"k8s-1": "192.0.2.11", "k8s-2": "192.0.2.12", "k8s-3": "192.0.2.13"}
EXTERNAL = {"k8s-1": "198.51.100.11", "k8s-2": "198.51.100.12", "k8s-3": "198.51.100.13"}
ROLES = {0: "leader", 1: "follower"}  # pod 2: no role label yet


# A second node in k8s-2, listed before the pod's own node: an endpoint must use the pod's own node.
SPARE = {"InternalIP": "192.0.2.22", "ExternalIP": "198.51.100.22"}


def add_node(registry: ClientRegistry, ctx: str, node: str, internal: str, external: str) -> None:
    client = registry.for_context(ctx)
    client.create(resource_path("v1", "nodes"), {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    client.patch(resource_path("v1", "nodes", name=node) + "/status", {"status": {"addresses": [
        {"type": "InternalIP", "address": internal}, {"type": "ExternalIP", "address": external},
        {"type": "Hostname", "address": node}]}})


@pytest.fixture
def layout(bed, registry: ClientRegistry, make_namespace) -> Iterator[dict[str, Any]]:
    """A v1alpha1 etcd Cluster in cp; its pods 0,1,2 in k8s-1,2,3 (ordinal N -> placement[N % 3]); one node each,
    and in k8s-2 a second node, without pods, that the API lists first."""
    Crds(registry).use("v1alpha1")
    ns = make_namespace("cp", *PLANES)
    name = f"etcd-{secrets.token_hex(3)}"
    cluster = yaml.safe_load((GOLDEN / "etcd-cilium.yaml").read_text())
    cluster["metadata"] = {"name": name, "namespace": ns}
    registry.for_context("cp").create(resource_path("apps.kubeblocks.io/v1alpha1", "clusters", ns), cluster)
    nodes = {}
    for i, ctx in enumerate(PLANES):
        client = registry.for_context(ctx)
        node = f"node-{name}-{i}"
        add_node(registry, ctx, node, INTERNAL[ctx], EXTERNAL[ctx])
        nodes[ctx] = node
        pod = f"{name}-etcd-{i}"
        labels = {"app.kubernetes.io/instance": name, "app.kubernetes.io/managed-by": "kubeblocks",
                  "apps.kubeblocks.io/component-name": "etcd", "apps.kubeblocks.io/pod-name": pod}
        if i in ROLES:
            labels["kubeblocks.io/role"] = ROLES[i]
        client.create(resource_path("v1", "pods", ns), {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "etcd", "image": "etcd:3.5", "ports": [
                {"name": "client", "containerPort": 2379}, {"name": "peer", "containerPort": 2380}]}]}})
    spare = f"node-{name}-0-spare"  # sorts before node-<name>-1, the pod's own node in k8s-2
    add_node(registry, "k8s-2", spare, SPARE["InternalIP"], SPARE["ExternalIP"])
    assert [n["metadata"]["name"] for n in registry.for_context("k8s-2").get(resource_path("v1", "nodes"))["items"]
            if n["metadata"]["name"] in (spare, nodes["k8s-2"])] == [spare, nodes["k8s-2"]]
    yield {"name": name, "ns": ns, "nodes": nodes}
    for ctx, node in [*nodes.items(), ("k8s-2", spare)]:
        registry.for_context(ctx).delete(resource_path("v1", "nodes", name=node))


def expose(kbmc, bed, layout, *args: str):  # type: ignore[no-untyped-def]
    return kbmc("network", "expose", layout["name"], "-n", layout["ns"], "--context", "cp",
                "--data-planes", ",".join(PLANES), *args, kubeconfig=bed.kubeconfig_path)


def services(registry: ClientRegistry, ctx: str, ns: str) -> dict[str, dict[str, Any]]:
    items = registry.for_context(ctx).get(resource_path("v1", "services", ns))["items"]
    return {s["metadata"]["name"]: s for s in items}


def test_nodeport_services_land_beside_their_pods_and_the_table_is_right(kbmc, bed, registry, layout) -> None:
    r = expose(kbmc, bed, layout, "-o", "json")
    assert r.code == 0, r.output
    name, ns = layout["name"], layout["ns"]
    rows = json.loads(r.stdout)["endpoints"]
    assert len(rows) == 6
    for i, ctx in enumerate(PLANES):
        pod = f"{name}-etcd-{i}"
        here = services(registry, ctx, ns)
        assert list(here) == [f"{pod}-ext"]  # only this data plane's pod
        svc = here[f"{pod}-ext"]
        assert svc["spec"]["type"] == "NodePort"
        assert svc["spec"]["selector"] == {"app.kubernetes.io/instance": name,
                                           "apps.kubeblocks.io/component-name": "etcd",
                                           "apps.kubeblocks.io/pod-name": pod}
        ports = {p["name"]: p for p in svc["spec"]["ports"]}
        assert {n: (p["port"], p["targetPort"]) for n, p in ports.items()} == {"client": (2379, 2379),
                                                                              "peer": (2380, 2380)}
        mine = {row["port"]: row for row in rows if row["pod"] == pod}
        assert all(row["context"] == ctx and row["role"] == ROLES.get(i, "-") for row in mine.values())
        assert mine["client"]["address"] == f"{INTERNAL[ctx]}:{ports['client']['nodePort']}"
        assert mine["peer"]["address"] == f"{INTERNAL[ctx]}:{ports['peer']['nodePort']}"

    versions = {ctx: {n: s["metadata"]["resourceVersion"] for n, s in services(registry, ctx, ns).items()}
                for ctx in PLANES}
    again = expose(kbmc, bed, layout, "--address-type", "ExternalIP")
    assert again.code == 0, again.output
    assert {ctx: {n: s["metadata"]["resourceVersion"] for n, s in services(registry, ctx, ns).items()}
            for ctx in PLANES} == versions
    assert f"{EXTERNAL['k8s-2']}:" in again.stderr and "leader" in again.stderr


def test_loadbalancer_addresses_pending_then_waited_for_and_delete_keeps_user_services(kbmc, bed, registry,
                                                                                       layout) -> None:
    name, ns = layout["name"], layout["ns"]
    pending = expose(kbmc, bed, layout, "--type", "LoadBalancer", "--port", "client", "-o", "json")
    assert pending.code == 0, pending.output
    assert [row["address"] for row in json.loads(pending.stdout)["endpoints"]] == ["pending"] * 3

    def load_balancer(stop: threading.Event) -> None:  # what MetalLB's controller would do
        while not stop.is_set():
            for i, ctx in enumerate(PLANES):
                path = resource_path("v1", "services", ns, f"{name}-etcd-{i}-ext") + "/status"
                registry.for_context(ctx).patch(path, {"status": {"loadBalancer": {"ingress": [
                    {"ip": f"203.0.113.{10 + i}"}]}}})
            time.sleep(0.5)

    stop = threading.Event()
    thread = threading.Thread(target=load_balancer, args=(stop,), daemon=True)
    thread.start()
    try:
        r = expose(kbmc, bed, layout, "--type", "LoadBalancer", "--port", "client", "--wait", "--timeout", "60",
                   "-o", "json")
    finally:
        stop.set()
        thread.join()
    assert r.code == 0, r.output
    assert {row["pod"]: row["address"] for row in json.loads(r.stdout)["endpoints"]} == {
        f"{name}-etcd-{i}": f"203.0.113.{10 + i}:2379" for i in range(3)}

    own = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "my-etcd"},
           "spec": {"selector": {"app.kubernetes.io/instance": name, "apps.kubeblocks.io/component-name": "etcd",
                                 "apps.kubeblocks.io/pod-name": f"{name}-etcd-0"},
                    "ports": [{"port": 2379}]}}
    registry.for_context("k8s-1").create(resource_path("v1", "services", ns), own)
    gone = expose(kbmc, bed, layout, "--delete")
    assert gone.code == 0, gone.output
    assert list(services(registry, "k8s-1", ns)) == ["my-etcd"]
    assert services(registry, "k8s-2", ns) == {} and services(registry, "k8s-3", ns) == {}


def test_dry_run_shows_the_services_and_creates_none(kbmc, bed, registry, layout) -> None:
    r = expose(kbmc, bed, layout, "--dry-run", "-o", "json")
    assert r.code == 0, r.output
    actions = json.loads(r.stdout)["actions"]
    assert [(a["context"], a["apply"]["name"]) for a in actions] == [
        (ctx, f"{layout['name']}-etcd-{i}-ext") for i, ctx in enumerate(PLANES)]
    assert all(services(registry, ctx, layout["ns"]) == {} for ctx in PLANES)


def test_a_cluster_that_does_not_exist_is_bad_input(kbmc, bed, registry, layout) -> None:
    r = kbmc("network", "expose", "nope", "-n", layout["ns"], "--context", "cp", "--data-planes", ",".join(PLANES),
             kubeconfig=bed.kubeconfig_path)
    assert r.code == 2, r.output
    assert "Cluster 'nope' not found" in r.stderr and "Traceback" not in r.output
    assert all(services(registry, ctx, layout["ns"]) == {} for ctx in PLANES)


def test_unknown_service_type_is_a_usage_error(kbmc, bed, registry, layout) -> None:
    r = expose(kbmc, bed, layout, "--type", "ClusterIP")
    assert r.code == 2 and "ClusterIP" in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output, r.stderr
    assert all(services(registry, ctx, layout["ns"]) == {} for ctx in PLANES)


def add_pod(registry: ClientRegistry, layout: dict[str, Any], ctx: str, pod: str,
            ports: list[dict[str, Any]] | None = None) -> None:
    labels = {"app.kubernetes.io/instance": layout["name"], "apps.kubeblocks.io/component-name": "etcd",
              "apps.kubeblocks.io/pod-name": pod}
    registry.for_context(ctx).create(resource_path("v1", "pods", layout["ns"]), {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "labels": labels},
        "spec": {"nodeName": layout["nodes"][ctx], "containers": [{"name": "etcd", "image": "etcd:3.5", "ports":
                                                                   ports or [{"name": "client",
                                                                              "containerPort": 2379}]}]}})


def test_long_pod_names_sharing_a_prefix_get_one_valid_service_each(kbmc, bed, registry, layout) -> None:
    stem = (layout["name"] + "-" + "x" * 63)[:60]
    pods = [f"{stem}-a", f"{stem}-b"]  # 62 characters: `<pod>-ext` would be cut to the same 63
    for pod in pods:
        add_pod(registry, layout, "k8s-1", pod)
    r = expose(kbmc, bed, layout, "--port", "client", "-o", "json")
    assert r.code == 0, r.output
    here = services(registry, "k8s-1", layout["ns"])
    own = {s["spec"]["selector"]["apps.kubeblocks.io/pod-name"]: n for n, s in here.items()}
    assert set(own) == {f"{layout['name']}-etcd-0", *pods}
    assert len(set(own.values())) == 3 and all(len(n) <= 63 and n.endswith("-ext") for n in own.values())
    rows = {row["pod"]: row["service"] for row in json.loads(r.stdout)["endpoints"]}
    assert all(rows[p] == own[p] for p in pods)
    again = expose(kbmc, bed, layout, "--port", "client")
    assert again.code == 0, again.output
    assert services(registry, "k8s-1", layout["ns"]).keys() == here.keys()


def test_a_service_of_that_name_not_exposing_the_pod_is_left_alone(kbmc, bed, registry, layout) -> None:
    name, ns = layout["name"], layout["ns"]
    theirs = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{name}-etcd-0-ext"},
              "spec": {"selector": {"app": "someone-else"}, "ports": [{"port": 80}]}}
    registry.for_context("k8s-1").create(resource_path("v1", "services", ns), theirs)
    r = expose(kbmc, bed, layout)
    assert r.code == 1, r.output
    assert f"k8s-1: Service {name}-etcd-0-ext already exists and does not expose pod {name}-etcd-0" in r.stderr
    assert services(registry, "k8s-1", ns)[f"{name}-etcd-0-ext"]["spec"]["selector"] == {"app": "someone-else"}
    assert list(services(registry, "k8s-2", ns)) == [f"{name}-etcd-1-ext"]  # the others are still exposed


def test_wait_that_times_out_still_shows_the_endpoints_and_fails(kbmc, bed, registry, layout) -> None:
    r = expose(kbmc, bed, layout, "--type", "LoadBalancer", "--port", "client", "--wait", "--timeout", "2",
               "-o", "json")
    assert r.code == 1, r.output
    rows = json.loads(r.stdout)["endpoints"]
    assert [(row["pod"], row["address"]) for row in rows] == [(f"{layout['name']}-etcd-{i}", "pending")
                                                              for i in range(3)]
    assert "LoadBalancer addresses" in r.stderr and "Traceback" not in r.output
    table = expose(kbmc, bed, layout, "--type", "LoadBalancer", "--port", "client", "--wait", "--timeout", "1")
    assert table.code == 1 and "pending" in table.stderr and f"{layout['name']}-etcd-2" in table.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--port", "\u00b2"], "--port '\u00b2' is neither a port number"),
    (["--port", "\u0663"], "--port '\u0663' is neither a port number"),
    (["--port", "0"], "--port 0 must be between 1 and 65535"),
    (["--port", "99999"], "--port 99999 must be between 1 and 65535"),
    (["--component", "a b"], "--component 'a b' must be lowercase"),
    (["--component", ""], "--component may not be empty"),
    (["--timeout", "inf"], "--timeout 'inf' is not a duration"),
    (["--timeout", "nan", "--wait", "--type", "LoadBalancer"], "--timeout 'nan' is not a duration"),
])
def test_bad_flags_are_refused_before_any_cluster(kbmc, bed, registry, layout, args: list[str], message: str) -> None:
    for extra in ([], ["--dry-run"]):
        r = expose(kbmc, bed, layout, *args, *extra)
        assert r.code == 2, r.output
        assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert all(services(registry, ctx, layout["ns"]) == {} for ctx in PLANES)


def test_an_empty_cluster_name_is_refused(kbmc, bed) -> None:
    r = kbmc("network", "expose", "", "--context", "cp", "--data-planes", ",".join(PLANES),
             kubeconfig=bed.kubeconfig_path)
    assert r.code == 2 and "Cluster name may not be empty" in r.stderr, r.output


def test_an_apply_conflict_is_one_line_with_its_owner_and_the_fix(kbmc, bed, registry, layout) -> None:
    name, ns = layout["name"], layout["ns"]
    assert expose(kbmc, bed, layout).code == 0
    svc = f"{name}-etcd-1-ext"
    path = resource_path("v1", "services", ns, svc)
    # Someone changes a field kbmc set, with their own field manager (as `kubectl edit` would).
    registry.for_context("k8s-2").apply(path, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": svc, "namespace": ns},
        "spec": {"ports": [{"port": 2379, "protocol": "TCP", "targetPort": 12379}]}}, field_manager="kubectl-edit",
        force=True)
    r = expose(kbmc, bed, layout)
    assert r.code == 1, r.output
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert lines == [f'error: k8s-2: Service {svc}: apply conflict: .spec.ports[port=2379,protocol="TCP"].targetPort '
                     'owned by field manager "kubectl-edit"; kbmc does not take over another manager\'s fields: undo '
                     f'that change, or delete Service {svc} (kbmc re-creates it; its node port may change), then '
                     're-run'], r.stderr
    assert "k8s-2: k8s-2" not in r.stderr and "Traceback" not in r.output
    assert "not exposed: apply conflict: " in r.stderr  # the pod's row says why
    ports = {p["port"]: p for p in registry.for_context("k8s-2").get(path)["spec"]["ports"]}
    assert ports[2379]["targetPort"] == 12379  # theirs stays
    assert f"{name}-etcd-0-ext" in services(registry, "k8s-1", ns)  # the other clusters were not held up


def test_unnamed_ports_of_one_number_get_one_valid_service_in_plan_and_run(kbmc, bed, registry, layout) -> None:
    name, ns = layout["name"], layout["ns"]
    pod = f"{name}-dns-0"
    add_pod(registry, layout, "k8s-3", pod, ports=[{"containerPort": 53, "protocol": "TCP"},
                                                   {"containerPort": 53, "protocol": "UDP"},
                                                   {"containerPort": 9153}])
    # The dry run asks the API server (server-side dry run), so it accepts what the run then applies.
    dry = expose(kbmc, bed, layout, "--dry-run", "-o", "json")
    assert dry.code == 0, dry.output
    planned = {a["apply"]["name"]: a["apply"]["object"] for a in json.loads(dry.stdout)["actions"]}
    assert services(registry, "k8s-3", ns) == {}
    r = expose(kbmc, bed, layout, "-o", "json")
    assert r.code == 0, r.output
    svc = services(registry, "k8s-3", ns)[f"{pod}-ext"]
    assert [(p["name"], p["port"], p["protocol"]) for p in svc["spec"]["ports"]] == [
        ("port-53-tcp", 53, "TCP"), ("port-53-udp", 53, "UDP"), ("port-9153", 9153, "TCP")]
    assert [p["name"] for p in planned[f"{pod}-ext"]["spec"]["ports"]] == ["port-53-tcp", "port-53-udp", "port-9153"]
    rows = [row for row in json.loads(r.stdout)["endpoints"] if row["pod"] == pod]
    assert [(row["port"], row["address"].split(":")[0], row["error"]) for row in rows] == [
        (n, INTERNAL["k8s-3"], None) for n in ("port-53-tcp", "port-53-udp", "port-9153")]


def wait_for_quota(registry: ClientRegistry, ctx: str, ns: str, name: str) -> None:
    """Until the quota controller has counted the namespace (before that, admission refuses every Service)."""
    path = resource_path("v1", "resourcequotas", ns, name)
    for _ in range(300):
        if (registry.for_context(ctx).get(path).get("status") or {}).get("hard"):
            return
        time.sleep(0.1)
    raise AssertionError(f"ResourceQuota {ns}/{name} in {ctx} has no status after 30s")


def test_a_pod_whose_service_the_api_server_refuses_fails_alone(kbmc, bed, registry, layout) -> None:
    name, ns = layout["name"], layout["ns"]
    late = f"{name}-etcd-3"
    add_pod(registry, layout, "k8s-1", late)  # sorts after etcd-0, also in k8s-1
    # Room for one Service in k8s-1: the API server refuses the second (403, exceeded quota).
    registry.for_context("k8s-1").create(resource_path("v1", "resourcequotas", ns), {
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "one-service"},
        "spec": {"hard": {"services": "1"}}})
    wait_for_quota(registry, "k8s-1", ns, "one-service")
    r = expose(kbmc, bed, layout, "-o", "json")
    assert r.code == 1, r.output
    rows = json.loads(r.stdout)["endpoints"]
    # Every other pod, in k8s-1 too, is exposed and listed; the refused pod's row says why.
    assert [(row["pod"], row["context"], row["port"]) for row in rows] == [
        (f"{name}-etcd-0", "k8s-1", "client"), (f"{name}-etcd-0", "k8s-1", "peer"),
        (late, "k8s-1", "-"),
        (f"{name}-etcd-1", "k8s-2", "client"), (f"{name}-etcd-1", "k8s-2", "peer"),
        (f"{name}-etcd-2", "k8s-3", "client"), (f"{name}-etcd-2", "k8s-3", "peer")]
    failed = next(row for row in rows if row["pod"] == late)
    assert failed["address"] == "not exposed" and "exceeded quota" in failed["error"], failed
    assert all(row["error"] is None and row["address"].startswith("192.0.2.") for row in rows if row is not failed)
    assert list(services(registry, "k8s-1", ns)) == [f"{name}-etcd-0-ext"]
    assert list(services(registry, "k8s-2", ns)) == [f"{name}-etcd-1-ext"]
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: k8s-1: Service {late}-ext for pod {late}: forbidden"
                                                     ) and "exceeded quota" in errors[0], r.stderr
    assert "Traceback" not in r.output
    # The dry run asks the API server too: it plans what the run does and fails where the run fails.
    dry = expose(kbmc, bed, layout, "--dry-run", "-o", "json")
    assert dry.code == 1, dry.output
    assert [a["apply"]["name"] for a in json.loads(dry.stdout)["actions"]] == [
        f"{name}-etcd-{i}-ext" for i in range(3)]
    assert f"k8s-1: Service {late}-ext for pod {late}: forbidden" in dry.stderr
    table = expose(kbmc, bed, layout)
    assert table.code == 1 and "not exposed: forbidden (403)" in table.stderr, table.output


def test_a_pod_that_moved_leaves_no_service_behind(kbmc, bed, registry, layout) -> None:
    name, ns = layout["name"], layout["ns"]
    moved = f"{name}-etcd-1"
    assert expose(kbmc, bed, layout).code == 0
    # Services kbmc must leave alone in k8s-2: the user's own, and kbmc's for another Cluster.
    k8s2 = registry.for_context("k8s-2")
    k8s2.create(resource_path("v1", "services", ns), {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{moved}-mine"},
        "spec": {"selector": {"apps.kubeblocks.io/pod-name": moved}, "ports": [{"port": 2379}]}})
    k8s2.create(resource_path("v1", "services", ns), {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "other-etcd-0-ext", "labels": {
            "app.kubernetes.io/managed-by": "kbmc", "kbmc.io/expose": "other", "kbmc.io/pod": "other-etcd-0"}},
        "spec": {"selector": {"apps.kubeblocks.io/pod-name": "other-etcd-0"}, "ports": [{"port": 2379}]}})
    # The pod moves to k8s-3 (as after a change of placement).
    # No kubelet here to confirm a graceful deletion: the pod goes at once.
    k8s2.request("DELETE", resource_path("v1", "pods", ns, moved),
                 body={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
    assert k8s2.get_or_none(resource_path("v1", "pods", ns, moved)) is None
    add_pod(registry, layout, "k8s-3", moved)
    before = set(services(registry, "k8s-2", ns))

    dry = expose(kbmc, bed, layout, "--dry-run", "-o", "json")
    assert dry.code == 0, dry.output
    assert json.loads(dry.stdout)["remove"] == {"k8s-2": {f"{moved}-ext": moved}}
    assert f"k8s-2: would remove stale Service {moved}-ext (pod {moved} is no longer in k8s-2)" in dry.stderr
    assert set(services(registry, "k8s-2", ns)) == before

    r = expose(kbmc, bed, layout, "-o", "json")
    assert r.code == 0, r.output
    out = json.loads(r.stdout)
    assert out["removed"] == {"k8s-2": {f"{moved}-ext": moved}}
    assert f"k8s-2: removed stale Service {moved}-ext (pod {moved} is no longer in k8s-2)" in r.stderr
    assert set(services(registry, "k8s-2", ns)) == {f"{moved}-mine", "other-etcd-0-ext"}
    assert set(services(registry, "k8s-3", ns)) == {f"{moved}-ext", f"{name}-etcd-2-ext"}
    assert {row["context"] for row in out["endpoints"] if row["pod"] == moved} == {"k8s-3"}
    again = expose(kbmc, bed, layout, "-o", "json")
    assert again.code == 0 and json.loads(again.stdout)["removed"] == {}, again.output
    # --component narrows what is exposed, not which pods count as still there: the other Services stay.
    proxy = f"{name}-proxy-0"
    add_pod(registry, layout, "k8s-1", proxy)
    registry.for_context("k8s-1").patch(resource_path("v1", "pods", ns, proxy), {"metadata": {"labels": {
        "apps.kubeblocks.io/component-name": "proxy"}}})
    one = expose(kbmc, bed, layout, "--component", "proxy", "-o", "json")
    assert one.code == 0 and json.loads(one.stdout)["removed"] == {}, one.output
    assert set(services(registry, "k8s-1", ns)) == {f"{name}-etcd-0-ext", f"{proxy}-ext"}
    assert set(services(registry, "k8s-3", ns)) == {f"{moved}-ext", f"{name}-etcd-2-ext"}
