"""`kbmc network cilium` against the bed: a recording cilium-cli stand-in that acts on the real API servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kbmc import kubeconfig as kc
from kbmc.clients import ClientRegistry
from tests.bed.network_helpers import (
    cilium_config,
    clear_cilium,
    mesh_peers,
    seed_cilium_config,
    write_topology,
)

PLANES = ["k8s-1", "k8s-2", "k8s-3"]
MUTATING = (["install"], ["clustermesh", "enable"], ["clustermesh", "connect"])
OLD_CLI = "v0.16.18"  # the last release with a single --destination-context


@pytest.fixture
def cilium_bed(bed, registry: ClientRegistry, standins, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Clean Cilium state in every data plane; the stand-in acting on the bed."""
    monkeypatch.setenv("KBMC_STANDIN_CLUSTERS", "1")
    monkeypatch.setenv("KUBECONFIG", str(bed.kubeconfig_path))
    clear_cilium(registry, bed.data_planes)
    yield standins
    clear_cilium(registry, bed.data_planes)


def run(kbmc, bed, tmp_path: Path, *args: str, planes: list[str] = PLANES, **topology: Any):  # type: ignore[no-untyped-def]
    write_topology(tmp_path / "kbmc.yaml", planes, **topology)
    return kbmc("network", "cilium", "--data-planes", ",".join(planes), *args, kubeconfig=bed.kubeconfig_path)


def mutating(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in calls if c["tool"] == "cilium" and c["command"] in MUTATING]


def test_clean_bed_runs_the_runbooks_sequence_then_a_rerun_only_reads(kbmc, bed, registry, tmp_path,
                                                                      cilium_bed) -> None:
    r = run(kbmc, bed, tmp_path)
    assert r.code == 0, r.output
    calls = cilium_bed()
    argvs = [c["argv"] for c in calls]
    assert argvs[0] == ["version", "--client"]
    installs = [a for a in argvs if a[0] == "install"]
    assert sorted(installs) == [
        ["install", "--set", f"cluster.name=k8s-{i}", "--set", f"cluster.id={i}",
         "--set", f"ipam.operator.clusterPoolIPv4PodCIDRList=10.{i}.0.0/16", "--context", f"k8s-{i}"]
        for i in (1, 2, 3)]
    for ctx in PLANES:
        own = [c["argv"] for c in calls if c["context"] == ctx and c["command"][0] != "version"]
        # Per cluster, in the runbook's order, with two ASCII dashes everywhere.
        steps = [a[:2] for a in own if a[:2] != ["clustermesh", "status"] or "--wait" in a]
        assert steps[:3] == [["install", "--set"], ["clustermesh", "enable"], ["clustermesh", "status"]], own
        assert ["clustermesh", "enable", "--service-type", "NodePort", "--context", ctx] in own
        assert all(not arg.startswith(("\u2014", "\u2013")) for a in own for arg in a)
        assert cilium_config(registry, ctx) == {"cluster-name": ctx, "cluster-id": ctx[-1],
                                                "cluster-pool-ipv4-cidr": f"10.{ctx[-1]}.0.0/16",
                                                "ipam": "cluster-pool"}
    # A new cilium-cli: one call meshes every cluster.
    connects = [a for a in argvs if a[:2] == ["clustermesh", "connect"]]
    assert connects == [["clustermesh", "connect", "--destination-context", "k8s-2,k8s-3", "--connection-mode",
                         "mesh", "--parallel", "2", "--context", "k8s-1"]]
    last_connect = max(i for i, a in enumerate(argvs) if a[:2] == ["clustermesh", "connect"])
    waited_after = {c["context"] for c in calls[last_connect + 1:]
                    if c["command"] == ["clustermesh", "status"] and "--wait" in c["argv"]}
    assert waited_after == set(PLANES)
    for ctx in PLANES:
        assert mesh_peers(registry, ctx) == [p for p in PLANES if p != ctx]
    assert "k8s-1 <-> k8s-2" in r.stderr and "connected" in r.stderr

    before = len(calls)
    again = run(kbmc, bed, tmp_path, "-o", "json")
    assert again.code == 0, again.output
    second = cilium_bed()[before:]
    assert second and mutating(second) == []
    assert {tuple(c["command"]) for c in second} <= {("version",), ("clustermesh", "status")}
    summary = json.loads(again.stdout)
    assert summary["done"] is True
    assert {c["context"]: c["peers"] for c in summary["clusters"]} == {
        ctx: [p for p in PLANES if p != ctx] for ctx in PLANES}
    assert all(p["state"] == "already connected" for p in summary["pairs"])


def test_existing_cilium_with_the_same_values_is_skipped(kbmc, bed, registry, tmp_path, cilium_bed) -> None:
    seed_cilium_config(registry, "k8s-1", "k8s-1", 1, "10.1.0.0/16")
    r = run(kbmc, bed, tmp_path, "--step", "install")
    assert r.code == 0, r.output
    installed = sorted(c["context"] for c in cilium_bed() if c["command"] == ["install"])
    assert installed == ["k8s-2", "k8s-3"]


def test_existing_cilium_with_another_cluster_id_is_refused_and_nothing_runs(kbmc, bed, registry, tmp_path,
                                                                             cilium_bed) -> None:
    seed_cilium_config(registry, "k8s-2", "k8s-2", 7, "10.2.0.0/16")
    r = run(kbmc, bed, tmp_path)
    assert r.code == 2, r.output
    assert "k8s-2 runs Cilium with cluster-id 7 (kbmc.yaml: 2)" in r.stderr
    assert "destructive" in r.stderr and "Traceback" not in r.output
    assert mutating(cilium_bed()) == []
    assert cilium_config(registry, "k8s-1") is None and cilium_config(registry, "k8s-3") is None
    assert cilium_config(registry, "k8s-2")["cluster-id"] == "7"  # type: ignore[index]


def test_existing_cilium_with_another_max_connected_clusters_is_refused(kbmc, bed, registry, tmp_path,
                                                                        cilium_bed) -> None:
    seed_cilium_config(registry, "k8s-2", "k8s-2", 2, "10.2.0.0/16")  # no key: Cilium's default, 255
    r = run(kbmc, bed, tmp_path, max_connected=511)
    assert r.code == 2, r.output
    assert "k8s-2 runs Cilium with max-connected-clusters 255 (kbmc.yaml: 511)" in r.stderr
    assert mutating(cilium_bed()) == []
    assert cilium_config(registry, "k8s-1") is None and cilium_config(registry, "k8s-3") is None


def test_dry_run_prints_every_command_in_order_and_runs_nothing(kbmc, bed, registry, tmp_path, cilium_bed) -> None:
    r = run(kbmc, bed, tmp_path, "--dry-run", "-o", "json", "--service-type", "LoadBalancer")
    assert r.code == 0, r.output
    plan = json.loads(r.stdout)
    assert [(a["step"], a["context"]) for a in plan["actions"]][:3] == [
        ("install", "k8s-1"), ("install", "k8s-2"), ("install", "k8s-3")]
    assert ["cilium", "clustermesh", "enable", "--service-type", "LoadBalancer", "--context", "k8s-3"] in [
        a["argv"] for a in plan["actions"]]
    assert [a["step"] for a in plan["actions"]][-3:] == ["status"] * 3
    wait = ["cilium", "clustermesh", "status", "--wait", "--wait-duration", "900s", "--context", "k8s-2"]
    assert plan["perCluster"]["k8s-2"] == [
        ["cilium", "install", "--set", "cluster.name=k8s-2", "--set", "cluster.id=2",
         "--set", "ipam.operator.clusterPoolIPv4PodCIDRList=10.2.0.0/16", "--context", "k8s-2"],
        ["cilium", "clustermesh", "enable", "--service-type", "LoadBalancer", "--context", "k8s-2"], wait, wait]
    assert plan["perCluster"]["k8s-1"][3] == ["cilium", "clustermesh", "connect", "--destination-context",
                                              "k8s-2,k8s-3", "--connection-mode", "mesh", "--parallel", "2",
                                              "--context", "k8s-1"]
    assert mutating(cilium_bed()) == []
    assert all(cilium_config(registry, ctx) is None for ctx in PLANES)


def test_max_connected_clusters_511_is_passed_to_every_install(kbmc, bed, tmp_path, cilium_bed) -> None:
    r = run(kbmc, bed, tmp_path, "--dry-run", "-o", "json", "--step", "install", max_connected=511,
            cilium={"k8s-3": {"clusterID": 300}})
    assert r.code == 0, r.output
    installs = [a["argv"] for a in json.loads(r.stdout)["actions"]]
    assert len(installs) == 3 and all(a[-4:-2] == ["--set", "clustermesh.maxConnectedClusters=511"] for a in installs)
    assert "cluster.id=300" in installs[2]


def test_max_connected_clusters_511_reaches_cilium_config(kbmc, bed, registry, tmp_path, cilium_bed) -> None:
    # The stand-in refuses a value key the chart does not read (helm would ignore it and install 255).
    r = run(kbmc, bed, tmp_path, "--step", "install", max_connected=511, cilium={"k8s-3": {"clusterID": 300}})
    assert r.code == 0, r.output
    for ctx in PLANES:
        assert (cilium_config(registry, ctx) or {}).get("max-connected-clusters") == "511"


def test_an_unreachable_data_plane_stops_everything_before_it_starts(kbmc, bed, registry, tmp_path,
                                                                     cilium_bed) -> None:
    bed.stop_apiserver("k8s-3")
    try:
        r = run(kbmc, bed, tmp_path)
    finally:
        bed.start_apiserver("k8s-3")
    assert r.code == 1, r.output
    assert "not every data plane is reachable, nothing was run: k8s-3" in r.stderr
    assert cilium_bed() == []
    assert cilium_config(registry, "k8s-1") is None


def test_one_clusters_failure_stops_only_what_depends_on_it_and_a_rerun_resumes(kbmc, bed, registry, tmp_path,
                                                                                cilium_bed, monkeypatch) -> None:
    monkeypatch.setenv("KBMC_STANDIN_FAIL", "cilium install@k8s-2:1:Error: install timed out")
    r = run(kbmc, bed, tmp_path, "-o", "json")
    assert r.code == 1, r.output
    summary = json.loads(r.stdout)
    state = {c["context"]: c for c in summary["clusters"]}
    assert state["k8s-2"]["install"].startswith("failed") and "install timed out" in state["k8s-2"]["install"]
    assert state["k8s-2"]["mesh"].startswith("blocked")
    assert state["k8s-1"]["mesh"] == state["k8s-3"]["mesh"] == "enabled"
    pairs = {tuple(p["pair"]): p["state"] for p in summary["pairs"]}
    assert pairs[("k8s-1", "k8s-3")] == "connected"
    assert pairs[("k8s-1", "k8s-2")].startswith("blocked") and pairs[("k8s-2", "k8s-3")].startswith("blocked")
    assert mesh_peers(registry, "k8s-1") == ["k8s-3"]
    assert not any(c["context"] == "k8s-2" or "k8s-2" in ",".join(c["argv"])
                   for c in mutating(cilium_bed()) if c["command"] != ["install"])

    monkeypatch.delenv("KBMC_STANDIN_FAIL")
    before = len(cilium_bed())
    again = run(kbmc, bed, tmp_path, "-o", "json")
    assert again.code == 0, again.output
    redo = mutating(cilium_bed()[before:])
    assert [c["context"] for c in redo if c["command"] == ["install"]] == ["k8s-2"]
    assert [c["context"] for c in redo if c["command"] == ["clustermesh", "enable"]] == ["k8s-2"]
    for ctx in PLANES:
        assert mesh_peers(registry, ctx) == [p for p in PLANES if p != ctx]


@pytest.mark.parametrize("count", [3, 4, 6])
def test_an_old_cilium_cli_connects_pairs_in_rounds_of_disjoint_pairs(kbmc, bed, registry, tmp_path, cilium_bed,
                                                                      monkeypatch, count: int) -> None:
    planes = [f"k8s-{i}" for i in range(1, count + 1)]
    added = [p for p in planes if p not in bed.names]
    for name in added:
        bed.add_data_plane(name)
    registry = ClientRegistry(kc.load(str(bed.kubeconfig_path)))  # one that knows the added planes
    try:
        clear_cilium(registry, planes)
        monkeypatch.setenv("KBMC_STANDIN_CILIUM_VERSION", OLD_CLI)
        dry = run(kbmc, bed, tmp_path, "--dry-run", "-o", "json", planes=planes)
        assert dry.code == 0, dry.output
        rounds = [[tuple(p) for p in r] for r in json.loads(dry.stdout)["rounds"]]
        assert len(rounds) == (count - 1 if count % 2 == 0 else count)
        every = [p for r in rounds for p in r]
        assert sorted(every) == sorted((a, b) for i, a in enumerate(planes) for b in planes[i + 1:])
        for r in rounds:
            members = [c for p in r for c in p]
            assert len(members) == len(set(members)), f"a cluster in two connects of one round: {r}"

        result = run(kbmc, bed, tmp_path, planes=planes)
        assert result.code == 0, result.output
        # One progress line per round, listing each of its pairs once, as scheduled.
        progress = [line for line in result.stderr.splitlines() if line.startswith("round ")]
        assert progress == [f"round {i}/{len(rounds)}: " + ", ".join(f"{a} <-> {b}" for a, b in r) + " connected"
                            for i, r in enumerate(rounds, start=1)]
        connects = [c for c in cilium_bed() if c["command"] == ["clustermesh", "connect"]]
        recorded = [(c["context"], c["flags"]["--destination-context"]) for c in connects]
        assert all(len(d) == 1 and "," not in d[0] for _, d in recorded)
        assert sorted((a, d[0]) for a, d in recorded) == sorted(every)
        # Rounds run one after another: each starts after the previous one ended.
        by_pair = {(c["context"], c["flags"]["--destination-context"][0]): c for c in connects}
        for earlier, later in zip(rounds, rounds[1:], strict=False):
            assert max(by_pair[p]["ended"] for p in earlier) <= min(by_pair[p]["started"] for p in later)
        for ctx in planes:
            assert mesh_peers(registry, ctx) == sorted(p for p in planes if p != ctx)
    finally:
        registry.close()
        for name in added:
            bed.remove_cluster(name)


def decisions(plan: dict[str, Any], step: str) -> dict[str, str]:
    return {d["context"]: d["decision"] for d in plan["decisions"] if d["step"] == step}


def test_dry_run_decides_per_cluster_exactly_as_the_run_does(kbmc, bed, registry, tmp_path, cilium_bed) -> None:
    seed_cilium_config(registry, "k8s-1", "k8s-1", 1, "10.1.0.0/16")
    dry = run(kbmc, bed, tmp_path, "--dry-run", "-o", "json", "--step", "install")
    assert dry.code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert decisions(plan, "install") == {"k8s-1": "skip (already installed with the same values)",
                                          "k8s-2": "install", "k8s-3": "install"}
    assert [a["context"] for a in plan["actions"]] == ["k8s-2", "k8s-3"]
    # The dry run made only read-only calls.
    assert mutating(cilium_bed()) == [] and cilium_config(registry, "k8s-2") is None
    table = run(kbmc, bed, tmp_path, "--dry-run", "--step", "install")
    assert "skip (already installed with the same values)" in table.stderr

    before = len(cilium_bed())
    real = run(kbmc, bed, tmp_path, "--step", "install")
    assert real.code == 0, real.output
    ran = sorted(c["context"] for c in cilium_bed()[before:] if c["command"] == ["install"])
    assert ran == sorted(c for c, d in decisions(plan, "install").items() if d == "install")


def test_dry_run_shows_a_refusal_in_its_cluster_row_and_exits_2_like_the_run(kbmc, bed, registry, tmp_path,
                                                                             cilium_bed) -> None:
    seed_cilium_config(registry, "k8s-1", "k8s-1", 1, "10.1.0.0/16")
    seed_cilium_config(registry, "k8s-2", "k8s-2", 7, "10.2.0.0/16")
    dry = run(kbmc, bed, tmp_path, "--dry-run", "-o", "json")
    assert dry.code == 2, dry.output
    plan = json.loads(dry.stdout)
    assert decisions(plan, "install") == {
        "k8s-1": "skip (already installed with the same values)",
        "k8s-2": "refuse (runs Cilium with cluster-id 7 (kbmc.yaml: 2))", "k8s-3": "install"}
    assert plan["refused"] == ["k8s-2 runs Cilium with cluster-id 7 (kbmc.yaml: 2)"]
    assert "k8s-2 runs Cilium with cluster-id 7 (kbmc.yaml: 2); nothing was run" in dry.stderr
    assert mutating(cilium_bed()) == []
    real = run(kbmc, bed, tmp_path)
    assert real.code == 2 and "k8s-2 runs Cilium with cluster-id 7 (kbmc.yaml: 2); nothing was run" in real.stderr
    assert mutating(cilium_bed()) == [] and cilium_config(registry, "k8s-3") is None


def test_service_type_differing_from_an_enabled_clustermesh_is_refused(kbmc, bed, registry, tmp_path,
                                                                       cilium_bed) -> None:
    first = run(kbmc, bed, tmp_path, "--step", "install", "--step", "enable")
    assert first.code == 0, first.output
    before = len(cilium_bed())
    other = run(kbmc, bed, tmp_path, "--step", "enable", "--service-type", "LoadBalancer")
    assert other.code == 2, other.output
    assert ("k8s-1: clustermesh already enabled with service type NodePort; --service-type LoadBalancer not "
            "applied") in other.stderr
    assert "cilium clustermesh disable" in other.stderr and "Traceback" not in other.output
    assert mutating(cilium_bed()[before:]) == []
    # The dry run says the same in each cluster's row.
    dry = run(kbmc, bed, tmp_path, "--step", "enable", "--service-type", "LoadBalancer", "--dry-run", "-o", "json")
    assert dry.code == 2
    assert set(decisions(json.loads(dry.stdout), "enable").values()) == {
        "refuse (clustermesh already enabled with service type NodePort; --service-type LoadBalancer not applied)"}
    # Without --service-type (or with the running one) the enabled mesh is kept and said so.
    for extra in ([], ["--service-type", "NodePort"]):
        keep = run(kbmc, bed, tmp_path, "--step", "enable", "--dry-run", "-o", "json", *extra)
        assert keep.code == 0, keep.output
        assert set(decisions(json.loads(keep.stdout), "enable").values()) == {
            "skip (clustermesh already enabled with service type NodePort)"}
    again = run(kbmc, bed, tmp_path, "--step", "enable")
    assert again.code == 0 and mutating(cilium_bed()[before:]) == []


def test_the_summary_names_the_steps_that_ran(kbmc, bed, registry, tmp_path, cilium_bed) -> None:
    partial = run(kbmc, bed, tmp_path, "--step", "install", "--step", "enable")
    assert partial.code == 0, partial.output
    assert "ClusterMesh complete" not in partial.stderr
    assert ("install, enable done on k8s-1, k8s-2, k8s-3 (not run: connect, status; run without --step for the "
            "whole ClusterMesh)") in partial.stderr
    whole = run(kbmc, bed, tmp_path)
    assert whole.code == 0, whole.output
    assert "ClusterMesh complete on k8s-1, k8s-2, k8s-3: install, enable, connect and status done" in whole.stderr


def test_a_multi_destination_connect_lists_each_pair_once(kbmc, bed, registry, tmp_path, cilium_bed) -> None:
    r = run(kbmc, bed, tmp_path)
    assert r.code == 0, r.output
    lines = [line for line in r.stderr.splitlines() if ": connect: " in line]
    assert lines == ["k8s-1: connect: k8s-1 <-> k8s-2, k8s-1 <-> k8s-3, k8s-2 <-> k8s-3 connected"]
