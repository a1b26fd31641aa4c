"""Bad input to `kbmc network`: one line, exit 2, nothing run, no object changed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kbmc.clients import ClientRegistry
from tests.bed.network_helpers import cilium_config, clear_cilium, metallb_snapshot, write_topology

PLANES = ["k8s-1", "k8s-2", "k8s-3"]


@pytest.fixture
def cilium_env(bed, registry: ClientRegistry, standins, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("KBMC_STANDIN_CLUSTERS", "1")
    clear_cilium(registry, PLANES)
    yield standins
    clear_cilium(registry, PLANES)


TOPOLOGIES = {
    "overlapping pod CIDRs": ({"cilium": {"k8s-2": {"podCIDR": "10.1.128.0/17"}}}, "overlaps"),
    "pod CIDR overlapping an LB range": (
        {"metallb": {"k8s-1": ["10.2.0.0/24"]}, "north_south": "nodeport"}, "overlaps"),
    "LB ranges overlapping across clusters": (
        {"metallb": {"k8s-1": ["10.40.0.0/16"], "k8s-2": ["10.40.1.0-10.40.1.9"]}}, "overlaps"),
    "duplicate cluster id": ({"cilium": {"k8s-3": {"clusterID": 1}}}, "duplicate Cilium cluster id 1"),
    "cluster id 0": ({"cilium": {"k8s-1": {"clusterID": 0}}}, "0 is out of range 1..255"),
    "cluster id 256": ({"cilium": {"k8s-1": {"clusterID": 256}}}, "256 is out of range 1..255"),
    "cluster id 512 with 511": ({"cilium": {"k8s-1": {"clusterID": 512}}, "max_connected": 511},
                                "512 is out of range 1..511"),
    "IPv6 pod CIDR": ({"cilium": {"k8s-1": {"podCIDR": "fd00:10:1::/48"}}}, "is not an IPv4 CIDR"),
    "uppercase name": ({"cilium": {"k8s-1": {"clusterName": "K8s-1"}}}, "must be lowercase"),
    "33-character name": ({"cilium": {"k8s-1": {"clusterName": "a" * 33}}}, "longer than 32 characters"),
}


@pytest.mark.parametrize("command", ["cilium", "metallb"])
@pytest.mark.parametrize("case", list(TOPOLOGIES))
def test_bad_topology_is_refused_before_any_cluster(kbmc, bed, registry, tmp_path: Path, cilium_env,
                                                    case: str, command: str) -> None:
    extra, message = TOPOLOGIES[case]
    write_topology(tmp_path / "kbmc.yaml", PLANES, **extra)
    metallb_before = {ctx: metallb_snapshot(registry, ctx) for ctx in PLANES}
    r = kbmc("network", command, kubeconfig=bed.kubeconfig_path)
    assert r.code == 2, r.output
    assert message in r.stderr and "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert cilium_env() == []  # neither cilium nor helm ran
    assert all(cilium_config(registry, ctx) is None for ctx in PLANES)
    assert {ctx: metallb_snapshot(registry, ctx) for ctx in PLANES} == metallb_before


def test_cilium_missing_from_path_says_how_to_install_it(kbmc, bed, registry, tmp_path: Path, cilium_env,
                                                         monkeypatch) -> None:
    write_topology(tmp_path / "kbmc.yaml", PLANES)
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                               if "standin-bin" not in p and not Path(p, "cilium").exists()))
    r = kbmc("network", "cilium", kubeconfig=bed.kubeconfig_path)
    assert r.code == 2, r.output
    assert "cilium is not installed or not on PATH" in r.stderr and "install cilium-cli" in r.stderr
    assert all(cilium_config(registry, ctx) is None for ctx in PLANES)


def test_unknown_mesh_service_type_is_a_usage_error(kbmc, bed, tmp_path: Path, cilium_env) -> None:
    write_topology(tmp_path / "kbmc.yaml", PLANES)
    r = kbmc("network", "cilium", "--service-type", "ExternalName", kubeconfig=bed.kubeconfig_path)
    assert r.code == 2 and "ExternalName" in r.stderr
    assert cilium_env() == []


@pytest.mark.parametrize("command", ["cilium", "metallb", "expose"])
@pytest.mark.parametrize("value", ["inf", "nan", "0"])
def test_a_timeout_that_is_not_a_finite_positive_number_is_refused(kbmc, bed, tmp_path: Path, cilium_env,
                                                                   command: str, value: str) -> None:
    write_topology(tmp_path / "kbmc.yaml", PLANES)
    args = ["expose", "some-cluster", "--wait"] if command == "expose" else [command]
    r = kbmc("network", *args, "--timeout", value, kubeconfig=bed.kubeconfig_path)
    assert r.code == 2, r.output
    said = f"--timeout {value} must be greater than zero" if value == "0" else f"--timeout {value!r} is not a duration"
    assert said in r.stderr and "Traceback" not in r.output
    assert cilium_env() == []
