"""`kbmc init` and `kbmc validate`: offline, every rule reported with its field path."""

from __future__ import annotations

import copy
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

GOOD: dict[str, Any] = {
    "apiVersion": "kbmc.io/v1alpha1",
    "kind": "Topology",
    "controlPlane": {"context": "cp"},
    "network": {"eastWest": "cilium", "northSouth": "metallb"},
    "dataPlanes": [
        {"context": f"k8s-{i}", "cilium": {"clusterName": f"k8s-{i}", "clusterID": i, "podCIDR": f"10.{i}.0.0/16"},
         "metallb": {"addresses": [f"10.{i + 3}.0.0/16"]}}
        for i in (1, 2, 3)
    ],
}


def variant(**changes: Any) -> dict[str, Any]:
    """GOOD with dotted paths set (value None deletes the key)."""
    doc = copy.deepcopy(GOOD)
    for dotted, value in changes.items():
        node: Any = doc
        parts = dotted.split("__")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        if value is None:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return doc


def test_init_writes_the_runbook_example_and_it_validates(kbmc, no_kubeconfig, tmp_path: Path) -> None:
    r = kbmc("init", "--context", "cp", "--data-planes", "k8s-1,k8s-2,k8s-3")
    assert r.code == 0, r.stderr
    assert r.stdout == ""
    path = tmp_path / "kbmc.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = yaml.safe_load(path.read_text())
    assert [(d["context"], d["cilium"]["clusterID"], d["cilium"]["podCIDR"], d["metallb"]["addresses"])
            for d in doc["dataPlanes"]] == [
        ("k8s-1", 1, "10.1.0.0/16", ["10.4.0.0/16"]),
        ("k8s-2", 2, "10.2.0.0/16", ["10.5.0.0/16"]),
        ("k8s-3", 3, "10.3.0.0/16", ["10.6.0.0/16"]),
    ]
    r = kbmc("validate")
    assert r.code == 0 and "is valid" in r.stderr
    assert kbmc("init", "--context", "cp", "--data-planes", "k8s-1").code == 2  # exists: refuses without --force


def test_init_takes_contexts_from_the_kubeconfig(kbmc, tmp_path: Path) -> None:
    kube = tmp_path / "kubeconfig"
    kube.write_text(yaml.safe_dump({
        "clusters": [{"name": n, "cluster": {"server": f"https://{n}"}} for n in ("a", "b", "c")],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": n, "user": "u"}} for n in ("a", "b", "c")],
        "current-context": "b"}))
    r = kbmc("init", "--stdout", kubeconfig=kube)
    doc = yaml.safe_load(r.stdout)
    assert doc["controlPlane"]["context"] == "b"
    assert [d["context"] for d in doc["dataPlanes"]] == ["a", "c"]


def test_validate_json_summary(kbmc, tmp_path: Path) -> None:
    (tmp_path / "kbmc.yaml").write_text(yaml.safe_dump(variant(dataPlanes__1__enabled=False)))
    r = kbmc("validate", "-o", "json")
    assert r.code == 0
    assert yaml.safe_load(r.stdout)["disabled"] == ["k8s-2"]


BAD_CASES = {
    "unknown key": (variant(controlPlane={"context": "cp", "namspace": "x"}), "controlPlane.namspace: unknown key"),
    "unknown top key": (dict(GOOD, extra=1), "extra: unknown key"),
    "missing context": (variant(controlPlane={"namespace": "kb-system"}), "controlPlane.context: is required"),
    "wrong type": (variant(dataPlanes__0__cilium__clusterID="one"), "dataPlanes[0].cilium.clusterID: expected an integer"),
    "duplicate context": (variant(dataPlanes__2__context="k8s-1"), "dataPlanes[2].context: duplicate context 'k8s-1'"),
    "duplicate cilium name": (variant(dataPlanes__1__cilium__clusterName="k8s-1"),
                              "dataPlanes[1].cilium.clusterName: duplicate Cilium cluster name"),
    "duplicate id": (variant(dataPlanes__2__cilium__clusterID=1), "dataPlanes[2].cilium.clusterID: duplicate Cilium cluster id 1"),
    "id zero": (variant(dataPlanes__0__cilium__clusterID=0), "dataPlanes[0].cilium.clusterID: 0 is out of range 1..255"),
    "id 256": (variant(dataPlanes__0__cilium__clusterID=256), "dataPlanes[0].cilium.clusterID: 256 is out of range 1..255"),
    "id 512 with 511": (variant(network={"eastWest": "cilium", "northSouth": "metallb",
                                         "cilium": {"maxConnectedClusters": 511}}, dataPlanes__0__cilium__clusterID=512),
                        "dataPlanes[0].cilium.clusterID: 512 is out of range 1..511"),
    "bad maxConnected": (variant(network={"cilium": {"maxConnectedClusters": 300}}),
                         "network.cilium.maxConnectedClusters: must be 255 or 511"),
    "long name": (variant(dataPlanes__0__cilium__clusterName="a" * 33), "dataPlanes[0].cilium.clusterName: 'aaaa"),
    "upper name": (variant(dataPlanes__0__cilium__clusterName="K8s-1"),
                   "dataPlanes[0].cilium.clusterName: 'K8s-1' must be lowercase"),
    "bad cidr": (variant(dataPlanes__0__cilium__podCIDR="10.1.0.0/33"), "dataPlanes[0].cilium.podCIDR: '10.1.0.0/33' is not a valid CIDR"),
    "host bits": (variant(dataPlanes__0__cilium__podCIDR="10.1.2.3/16"), "did you mean 10.1.0.0/16"),
    "pod overlap": (variant(dataPlanes__1__cilium__podCIDR="10.1.128.0/17"),
                    "dataPlanes[1].cilium.podCIDR: overlaps dataPlanes[0].cilium.podCIDR"),
    "lb overlap": (variant(dataPlanes__1__metallb={"addresses": ["10.4.10.1-10.4.10.20"]}),
                   "dataPlanes[1].metallb.addresses[0]: overlaps dataPlanes[0].metallb.addresses[0]"),
    "pod vs lb": (variant(dataPlanes__2__metallb={"addresses": ["10.1.0.0/24"]}),
                  "dataPlanes[2].metallb.addresses[0]: overlaps dataPlanes[0].cilium.podCIDR"),
    "bad range": (variant(dataPlanes__0__metallb={"addresses": ["10.4.0.9-10.4.0.1"]}), "the range ends before it starts"),
    "bad eastWest": (variant(network={"eastWest": "calico"}), "network.eastWest: 'calico' is not one of"),
    "cilium missing": (variant(dataPlanes__0__cilium=None), "dataPlanes[0].cilium: is required when network.eastWest is cilium"),
    "bad namespace": (variant(controlPlane={"context": "cp", "namespace": "KB_System"}), "controlPlane.namespace:"),
    "bad version": (variant(controlPlane={"context": "cp", "version": "latest"}), "controlPlane.version: 'latest'"),
    "bad apiVersion": (variant(apiVersion="v1"), "apiVersion: must be kbmc.io/v1alpha1"),
    "no data planes": (variant(dataPlanes=[]), "dataPlanes: must list at least one data plane"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_validate_rejects_with_field_path(kbmc, tmp_path: Path, case: str) -> None:
    doc, expected = BAD_CASES[case]
    (tmp_path / "kbmc.yaml").write_text(yaml.safe_dump(doc))
    r = kbmc("validate")
    assert r.code == 2
    assert r.stdout == ""  # nothing but the errors, and those on stderr
    assert expected in r.stderr
    assert "Traceback" not in r.stderr


def test_validate_reports_every_problem_at_once(kbmc, tmp_path: Path) -> None:
    doc = variant(dataPlanes__0__cilium__clusterID=0, dataPlanes__1__cilium__podCIDR="nope", extra=True)
    (tmp_path / "kbmc.yaml").write_text(yaml.safe_dump(doc))
    r = kbmc("validate")
    assert r.code == 2
    for path in ("dataPlanes[0].cilium.clusterID", "dataPlanes[1].cilium.podCIDR", "extra"):
        assert path in r.stderr
    assert "3 problem(s)" in r.stderr


def test_control_plane_reused_as_data_plane_is_said_not_refused(kbmc, tmp_path: Path) -> None:
    (tmp_path / "kbmc.yaml").write_text(yaml.safe_dump(variant(controlPlane={"context": "k8s-1"})))
    r = kbmc("validate")
    assert r.code == 0
    assert "also a data plane" in r.stderr


def test_malformed_yaml_and_missing_file(kbmc, tmp_path: Path) -> None:
    (tmp_path / "kbmc.yaml").write_text("controlPlane: [\n")
    r = kbmc("validate")
    assert r.code == 2 and "not valid YAML" in r.stderr and r.stdout == ""
    r = kbmc("-f", str(tmp_path / "missing.yaml"), "validate")
    assert r.code == 2 and "does not exist" in r.stderr


def test_bad_output_format_is_exit_2(kbmc) -> None:
    r = kbmc("-o", "xml", "version")
    assert r.code == 2 and "--output 'xml'" in r.stderr


def test_version_and_help(kbmc) -> None:
    from kbmc import __version__

    assert kbmc("version").stdout.strip() == f"kbmc {__version__}"
    r = kbmc("--help")
    assert r.code == 0 and "validate" in r.stdout


def test_usage_errors_are_one_line_exit_2(kbmc) -> None:
    r = kbmc("cluster", "create", "etcd", "--replicas", "x")
    assert r.code == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "'--replicas': 'x' is not a valid integer" in lines[0]
    r = kbmc("env", "prepare", "--bogus")
    assert r.code == 2 and "No such option '--bogus'" in r.stderr


def test_global_options_after_the_command(kbmc, no_kubeconfig) -> None:
    r = kbmc("init", "--stdout", "--context", "cp", "--data-planes", "a,b")
    assert r.code == 0, r.stderr
    assert "context: cp" in r.stdout and "context: b" in r.stdout


def test_validate_warns_about_contexts_missing_from_the_kubeconfig(kbmc, tmp_path: Path) -> None:
    kube = tmp_path / "kubeconfig"
    kube.write_text(yaml.safe_dump({
        "clusters": [{"name": "c", "cluster": {"server": "https://c"}}],
        "contexts": [{"name": n, "context": {"cluster": "c"}} for n in ("cp", "k8s-1")]}))
    (tmp_path / "kbmc.yaml").write_text(yaml.safe_dump(GOOD))
    r = kbmc("validate", "-o", "json", kubeconfig=kube)
    assert r.code == 0  # a warning, not an error: the file may be meant for another machine
    warnings = yaml.safe_load(r.stdout)["warnings"]
    assert [w.split(":")[0] for w in warnings] == ["dataPlanes[1].context", "dataPlanes[2].context"]
    assert "context 'k8s-2' is not in the kubeconfig" in r.stderr


def test_unexpected_errors_are_one_line_unless_debug(kbmc, mocker, no_kubeconfig) -> None:  # type: ignore[no-untyped-def]
    mocker.patch("kbmc.topology.starter", side_effect=RuntimeError("boom"))
    r = kbmc("init", "--stdout", "--context", "cp", "--data-planes", "a")
    assert r.code == 1
    assert r.stderr.strip() == "error: unexpected RuntimeError: boom (rerun with --debug for details)"
    # --debug shows the traceback (through the redactor, like every other output), then the one line.
    r = kbmc("init", "--stdout", "--context", "cp", "--data-planes", "a", "--debug")
    assert r.code == 1
    assert "Traceback (most recent call last)" in r.stderr and "RuntimeError: boom" in r.stderr
    assert r.stderr.rstrip().endswith("error: unexpected RuntimeError: boom")


@pytest.mark.parametrize("args,message", [
    (("env", "prepare", "-n", "KB_System"), "namespace: 'KB_System' must be lowercase"),
    (("env", "prepare", "--secret-name", "Bad_Name"), "--secret-name: 'Bad_Name' must be lowercase"),
    (("env", "prepare", "--server", "k8s-1"), "--server 'k8s-1' must be CONTEXT=URL"),
    (("env", "prepare", "--server", "k8s-1=ftp://x"), "is not an http(s) URL"),
    (("env", "check", "--timeout", "0"), "--timeout 0 must be greater than zero"),
])
def test_env_bad_flags_are_refused_before_any_cluster_is_contacted(kbmc, tmp_path: Path, args, message) -> None:  # type: ignore[no-untyped-def]
    # The only server refuses connections: exit 2 (not 1) proves nothing was contacted.
    kube = tmp_path / "kubeconfig"
    kube.write_text(yaml.safe_dump({
        "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": "dead", "user": "u"}} for n in ("cp", "k8s-1")]}))
    r = kbmc(*args, "--context", "cp", "--data-planes", "k8s-1", kubeconfig=kube)
    assert r.code == 2, r.stderr
    assert message in r.stderr and r.stdout == ""
