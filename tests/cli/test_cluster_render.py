"""`kbmc cluster create etcd` offline: golden manifests, the runbook's examples, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
PLACED = ("--placement", "k8s-1,k8s-2,k8s-3")

VARIANTS: dict[str, tuple[str, ...]] = {
    "cilium": PLACED,
    "aliyun-intranet": (*PLACED, "--network", "cloud-lb", "--cloud", "aliyun"),
    "aliyun-volcengine-internet": (*PLACED, "--network", "cloud-lb", "--cloud", "aliyun", "--cloud", "volcengine",
                                   "--subnet-id", "<subnet-id>"),
    "v1-cilium": (*PLACED, "--api", "v1"),
    "v1-aliyun-intranet": (*PLACED, "--api", "v1", "--network", "cloud-lb", "--cloud", "aliyun"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_golden(kbmc, no_kubeconfig, variant: str) -> None:
    r = kbmc("cluster", "create", "etcd", *VARIANTS[variant])
    assert r.code == 0, r.stderr
    golden = GOLDEN / f"etcd-{variant}.yaml"
    if os.environ.get("KBMC_UPDATE_GOLDEN"):
        golden.write_text(r.stdout)
    assert r.stdout == golden.read_text(), f"rendered output differs from {golden.name}"
    assert r.stderr == ""


@pytest.mark.parametrize("variant", ["cilium", "aliyun-intranet", "aliyun-volcengine-internet"])
def test_matches_the_runbooks_examples(kbmc, no_kubeconfig, variant: str) -> None:
    """Structurally equal to the runbook's example (its first cloud example as corrected)."""
    r = kbmc("cluster", "create", "etcd", *VARIANTS[variant])
    expected = yaml.safe_load((GOLDEN / "runbook" / f"{variant}.yaml").read_text())
    assert yaml.safe_load(r.stdout) == expected


def test_v1_follows_kubeblocks_1_0(kbmc, no_kubeconfig) -> None:
    doc = yaml.safe_load(kbmc("cluster", "create", "etcd", "--api", "v1", "--service-version", "3.5.15").stdout)
    assert doc["apiVersion"] == "apps.kubeblocks.io/v1"
    comp = doc["spec"]["componentSpecs"][0]
    assert comp["componentDef"] == "etcd" and comp["serviceVersion"] == "3.5.15"


def test_json_output_and_options(kbmc, no_kubeconfig) -> None:
    r = kbmc("cluster", "create", "etcd", "-o", "json", "--name", "etcd-a", "-n", "db", "--replicas", "5",
             "--cpu", "500m", "--cpu-limit", "1", "--memory", "1Gi", "--storage", "5Gi", "--storage-class", "ssd",
             "--termination-policy", "Delete", "--label", "team=db", "--annotation", "owner=platform",
             "--no-placement", "--network", "none")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["metadata"] == {"name": "etcd-a", "namespace": "db", "labels": {"team": "db"},
                               "annotations": {"owner": "platform"}}
    comp = doc["spec"]["componentSpecs"][0]
    assert comp["replicas"] == 5
    assert comp["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}
    assert comp["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "ssd"
    assert comp["services"][0] == {"name": "peer", "serviceType": "ClusterIP", "podService": True}
    assert doc["spec"]["terminationPolicy"] == "Delete"


def test_values_cannot_inject_yaml(kbmc, no_kubeconfig) -> None:
    r = kbmc("cluster", "create", "etcd", "--annotation", "note=a: b\nevil: true", "--no-placement")
    doc = yaml.safe_load(r.stdout)
    assert doc["metadata"]["annotations"] == {"note": "a: b\nevil: true"}


def test_values_that_merely_look_like_credentials_render_unchanged(kbmc, no_kubeconfig) -> None:
    """Credential-shaped redaction is for messages: a rendered manifest keeps the user's values as given."""
    values = {"auth": "token=abc123def", "proxy": "https://svc:pw0rd@proxy.example:8443",
              "note": "Bearer of good news"}
    args = [f"--annotation={k}={v}" for k, v in values.items()]
    for fmt in ("yaml", "json"):
        r = kbmc("-o", fmt, "cluster", "create", "etcd", *args, "--no-placement")
        assert r.code == 0, r.output
        assert yaml.safe_load(r.stdout)["metadata"]["annotations"] == values


def topology_file(tmp_path: Path, *, disabled: str | None = None, version: str = "0.9.0") -> None:
    planes = [{"context": f"k8s-{i}", "enabled": f"k8s-{i}" != disabled} for i in (1, 2, 3)]
    (tmp_path / "kbmc.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kbmc.io/v1alpha1", "kind": "Topology",
        "controlPlane": {"context": "cp", "version": version}, "network": {"eastWest": "none"},
        "dataPlanes": planes}))


def test_defaults_come_from_the_topology(kbmc, no_kubeconfig, tmp_path: Path) -> None:
    topology_file(tmp_path, disabled="k8s-2", version="1.0.1")
    doc = yaml.safe_load(kbmc("cluster", "create", "etcd").stdout)
    assert doc["apiVersion"] == "apps.kubeblocks.io/v1"
    assert doc["metadata"]["annotations"]["apps.kubeblocks.io/multi-cluster-placement"] == "k8s-1,k8s-3"
    assert "annotations" not in doc["spec"]["componentSpecs"][0]["services"][0]  # eastWest none


BAD = {
    "bad quantity": (("--memory", "100MB"), "--memory: '100MB' is not a Kubernetes quantity"),
    "zero cpu": (("--cpu", "0"), "--cpu: '0' must be greater than zero"),
    "limit below request": (("--cpu", "1", "--cpu-limit", "500m"), "--cpu-limit 500m is below the request"),
    "replicas 0": (("--replicas", "0"), "--replicas 0 must be between 1 and 2147483647"),
    "unknown placement": (("--placement", "k8s-1,k8s-9"), "unknown context 'k8s-9'"),
    "disabled placement": (("--placement", "k8s-1,k8s-2"), "context 'k8s-2' is disabled"),
    "cloud with cilium": (("--network", "cilium", "--cloud", "aliyun"), "--cloud aliyun needs --network cloud-lb"),
    "unique without pod service": (("--service-placement", "unique", "--no-pod-service"),
                                   "--service-placement unique needs pod services"),
    "halt with v1": (("--api", "v1", "--termination-policy", "Halt"), "Halt was removed"),
    "uppercase name": (("--name", "Etcd"), "--name: 'Etcd' must be lowercase"),
    "volcengine without subnet": (("--network", "cloud-lb", "--cloud", "volcengine"), "needs --subnet-id"),
    "bad api": (("--api", "v2"), "--api 'v2' is not one of"),
    "bad label key": (("--label", "a b=c"), "--label key 'a b'"),
    "wait without apply": (("--wait",), "go with --apply"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input(kbmc, no_kubeconfig, tmp_path: Path, case: str) -> None:
    topology_file(tmp_path, disabled="k8s-2")
    args, message = BAD[case]
    r = kbmc("cluster", "create", "etcd", *args)
    assert r.code == 2
    assert r.stdout == ""
    assert message in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("error:"), r.stderr


def test_placement_checked_against_the_kubeconfig_without_a_topology(kbmc, tmp_path: Path) -> None:
    kube = tmp_path / "kubeconfig"
    kube.write_text(yaml.safe_dump({"contexts": [{"name": "a", "context": {"cluster": "a"}}],
                                    "clusters": [{"name": "a", "cluster": {"server": "https://a"}}]}))
    assert kbmc("cluster", "create", "etcd", "--placement", "a", kubeconfig=kube).code == 0
    r = kbmc("cluster", "create", "etcd", "--placement", "a,b", kubeconfig=kube)
    assert r.code == 2 and "unknown context 'b'" in r.stderr
