"""The bad-input corpus: every command, fed a wrong input, says so in one line and changes nothing anywhere.

Each case runs kbmc's real entry point against the real bed. Before and after it, a snapshot of every
object's resourceVersion in every bed cluster (all listable resources, found by discovery; leases and
events left out, as the apiservers and controllers renew those on their own) must be equal.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc.clients import ClientRegistry
from kbmc.fanout import fan_out
from tests.testbed.bed import TestBed

CLUSTERS = ["cp", "k8s-1", "k8s-2", "k8s-3"]
PLANES = "k8s-1,k8s-2,k8s-3"
# Renewed by the apiservers and controllers themselves, whatever kbmc does (and one synthesised list).
VOLATILE = {"leases", "events", "componentstatuses"}  # the last is synthesised, not stored


# ---- the snapshot ------------------------------------------------------------------------------------


def _listable(client: Any) -> list[str]:
    """Collection paths of every listable resource the cluster serves (preferred versions)."""
    groups = [("/api/v1", "v1")]
    for group in client.get("/apis")["groups"]:
        version = group["preferredVersion"]["groupVersion"]
        groups.append((f"/apis/{version}", version))
    paths = []
    for prefix, _ in groups:
        for res in client.get(prefix)["resources"]:
            if "/" in res["name"] or "list" not in res.get("verbs", []) or res["name"] in VOLATILE:
                continue
            paths.append(f"{prefix}/{res['name']}")
    return paths


@pytest.fixture(scope="module")
def resource_paths(registry: ClientRegistry) -> dict[str, list[str]]:
    return {ctx: _listable(registry.for_context(ctx)) for ctx in CLUSTERS}


def snapshot(registry: ClientRegistry, paths: dict[str, list[str]]) -> dict[tuple[str, str], dict[str, str]]:
    jobs = [(ctx, path) for ctx, ps in paths.items() for path in ps]

    def read(job: str) -> dict[str, str]:
        ctx, path = job.split("|", 1)
        items = registry.for_context(ctx).get(path)["items"]
        return {f"{i['metadata'].get('namespace', '')}/{i['metadata']['name']}": i["metadata"]["resourceVersion"]
                for i in items}

    results = fan_out([f"{ctx}|{path}" for ctx, path in jobs], read, workers=8)
    failed = [r.context for r in results if not r.ok]
    assert not failed, f"snapshot could not list {failed}"
    return {tuple(r.context.split("|", 1)): r.value or {} for r in results}  # type: ignore[misc]


def changes(before: dict[tuple[str, str], dict[str, str]], after: dict[tuple[str, str], dict[str, str]]) -> list[str]:
    found = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, {}), after.get(key, {})
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                found.append(f"{key[0]} {key[1]} {name}: {old.get(name)} -> {new.get(name)}")
    return found


# ---- inputs the cases build ------------------------------------------------------------------------


@dataclass
class Env:
    bed: TestBed
    tmp: Path
    kubeconfig: dict[str, Any]

    def write_kubeconfig(self, doc: dict[str, Any], name: str = "kubeconfig") -> Path:
        path = self.tmp / name
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        return path

    def edited(self, edit: Callable[[dict[str, Any]], None]) -> Path:
        doc = yaml.safe_load(yaml.safe_dump(self.kubeconfig))
        edit(doc)
        return self.write_kubeconfig(doc, "edited-kubeconfig")

    def topology(self, **changes: Any) -> Path:
        doc: dict[str, Any] = {
            "apiVersion": "kbmc.io/v1alpha1", "kind": "Topology",
            "controlPlane": {"context": "cp", "version": "0.9.0"},
            "network": {"eastWest": "cilium", "northSouth": "metallb"},
            "dataPlanes": [{"context": f"k8s-{i}",
                            "cilium": {"clusterName": f"k8s-{i}", "clusterID": i, "podCIDR": f"10.{i}.0.0/16"},
                            "metallb": {"addresses": [f"10.{3 + i}.0.0/16"]}} for i in (1, 2, 3)],
        }
        for dotted, value in changes.items():
            target = doc
            *parents, last = dotted.split("__")
            for part in parents:
                target = target[int(part)] if part.isdigit() else target[part]
            target[last] = value
        path = self.tmp / "kbmc.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path


def _user(doc: dict[str, Any], ctx: str) -> dict[str, Any]:
    name = next(c["context"]["user"] for c in doc["contexts"] if c["name"] == ctx)
    return next(u["user"] for u in doc["users"] if u["name"] == name)


def _cluster(doc: dict[str, Any], ctx: str) -> dict[str, Any]:
    name = next(c["context"]["cluster"] for c in doc["contexts"] if c["name"] == ctx)
    return next(c["cluster"] for c in doc["clusters"] if c["name"] == name)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: nothing listens there


def _exec_user(doc: dict[str, Any]) -> None:
    _user(doc, "k8s-2").clear()
    _user(doc, "k8s-2")["exec"] = {"apiVersion": "client.authentication.k8s.io/v1", "command": "aws",
                                   "args": ["eks", "get-token"], "interactionMode": "Never"}


def _unreachable(doc: dict[str, Any]) -> None:
    _cluster(doc, "k8s-3")["server"] = f"https://127.0.0.1:{_closed_port()}"


def _viewer_cp(env: Env) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        viewer = env.bed.viewer_context("cp")
        doc["users"].append({"name": "viewer", "user": viewer["user"]})
        next(c for c in doc["contexts"] if c["name"] == "cp")["context"]["user"] = "viewer"
    return edit


def _duplicate_context(doc: dict[str, Any]) -> None:
    doc["contexts"].append({"name": "k8s-1", "context": {"cluster": "k8s-2", "user": "k8s-2-admin"}})


def _cert_without_key(doc: dict[str, Any]) -> None:
    del _user(doc, "k8s-1")["client-key-data"]


def _insecure_with_ca(doc: dict[str, Any]) -> None:
    _cluster(doc, "k8s-1")["insecure-skip-tls-verify"] = True


def _token_with_newline(doc: dict[str, Any]) -> None:
    _user(doc, "k8s-2").clear()
    _user(doc, "k8s-2")["token"] = "abcdef0123456789\n"


# ---- the cases -----------------------------------------------------------------------------------------


@dataclass
class Case:
    args: list[str]
    says: str  # what the one error line must name
    code: int = 2
    kubeconfig: Callable[[Env], Path] | None = None
    topology: Callable[[Env], Path] | None = None
    env: dict[str, str] = field(default_factory=dict)
    standins: bool = False  # recording stand-ins for cilium/kbcli first on PATH


def kc_edit(edit: Callable[[dict[str, Any]], None]) -> Callable[[Env], Path]:
    return lambda env: env.edited(edit)


def raw_kubeconfig(content: bytes) -> Callable[[Env], Path]:
    def write(env: Env) -> Path:
        path = env.tmp / "raw-kubeconfig"
        path.write_bytes(content)
        return path
    return write


def topo(**changes: Any) -> Callable[[Env], Path]:
    return lambda env: env.topology(**changes)


def topo_text(text: bytes) -> Callable[[Env], Path]:
    def write(env: Env) -> Path:
        path = env.tmp / "kbmc.yaml"
        path.write_bytes(text)
        return path
    return write


def topo_dir(env: Env) -> Path:
    path = env.tmp / "kbmc.yaml"
    path.mkdir()
    return path


PREPARE = ["env", "prepare", "--context", "cp", "--data-planes", PLANES]
CHECK = ["env", "check", "--context", "cp", "--data-planes", PLANES]
ETCD = ["cluster", "create", "etcd", "--context", "cp", "--data-planes", PLANES]
INSTALL = ["operator", "install", "--context", "cp", "--data-planes", PLANES, "--no-wait", "--chart", "kubeblocks"]
SYNC = ["rbac", "sync", "--context", "cp", "--data-planes", PLANES]
CONTEXTS = ["--context", "cp", "contexts"]

CASES: dict[str, Case] = {
    # kubeconfig
    "kubeconfig not YAML": Case(CHECK, "kubeconfig", kubeconfig=raw_kubeconfig(b"clusters: [unclosed\n")),
    "kubeconfig not UTF-8": Case(CHECK, "UTF-8", kubeconfig=raw_kubeconfig(b"apiVersion: v1\nkind: Config\n\xff\xfe\n")),
    "kubeconfig is a directory": Case(CHECK, "kubeconfig", kubeconfig=lambda env: (env.tmp / "kdir").mkdir() or env.tmp / "kdir"),
    "unknown control-plane context": Case(["env", "check", "--context", "nope", "--data-planes", PLANES], "nope"),
    "unknown data-plane context": Case(["env", "check", "--context", "cp", "--data-planes", "k8s-1,k8s-9"], "k8s-9"),
    "duplicate context in one file": Case(CHECK, "duplicate", kubeconfig=kc_edit(_duplicate_context)),
    "client certificate without key": Case(CHECK, "k8s-1", kubeconfig=kc_edit(_cert_without_key)),
    "insecure together with a CA": Case(CHECK, "k8s-1", kubeconfig=kc_edit(_insecure_with_ca)),
    "inline token with a newline": Case(CHECK, "k8s-2", kubeconfig=kc_edit(_token_with_newline)),
    "exec user shipped to the operator": Case([*PREPARE, "--allow-loopback"], "k8s-2", kubeconfig=kc_edit(_exec_user)),
    "loopback server shipped to the operator": Case(["env", "prepare", "--context", "cp", "--data-planes", "k8s-1"],
                                                    "loopback"),
    "data plane unreachable": Case(CHECK, "k8s-3", code=1, kubeconfig=kc_edit(_unreachable)),
    "control plane forbids (403)": Case([*PREPARE, "--allow-loopback"], "forbidden", code=1,
                                        kubeconfig=lambda env: env.edited(_viewer_cp(env))),
    # global flags
    "unknown output format": Case(["-o", "xml", *CHECK], "xml"),
    "empty data-plane entry": Case(["env", "check", "--context", "cp", "--data-planes", "k8s-1,,k8s-2"], "empty"),
    "data plane twice": Case(["env", "check", "--context", "cp", "--data-planes", "k8s-1,k8s-1"], "twice"),
    "comma-free context list is not a context": Case(["env", "check", "--context", "cp", "--data-planes", "k8s-1 k8s-2"],
                                                     "k8s-1 k8s-2"),
    # env prepare flags
    "--server for an unknown context": Case([*PREPARE, "--server", "k8s-9=https://127.0.0.1:1"], "k8s-9"),
    "--server not a URL": Case([*PREPARE, "--server", "k8s-1=not a url"], "--server"),
    "bad namespace name": Case([*PREPARE, "-n", "Bad_NS"], "Bad_NS"),
    "bad Secret name": Case([*PREPARE, "--secret-name", "-secret"], "-secret"),
    # the topology file
    "kbmc.yaml not YAML": Case(["validate"], "kbmc.yaml", topology=topo_text(b"dataPlanes: [\n")),
    "kbmc.yaml not UTF-8": Case(["validate"], "UTF-8", topology=topo_text(b"kind: Topology\n\xff\n")),
    "kbmc.yaml is a directory": Case(["-f", "kbmc.yaml", "validate"], "kbmc.yaml", topology=topo_dir),
    "unknown key": Case(["validate"], "colour", topology=topo(colour="blue")),
    "overlapping pod CIDRs": Case(["validate"], "overlap", topology=topo(dataPlanes__1__cilium__podCIDR="10.1.128.0/17")),
    "pod CIDR with host bits": Case(["validate"], "10.2.0.1/16", topology=topo(dataPlanes__1__cilium__podCIDR="10.2.0.1/16")),
    "not a CIDR": Case(["validate"], "podCIDR", topology=topo(dataPlanes__1__cilium__podCIDR="10.2.0.0/33")),
    "cluster id 0": Case(["validate"], "clusterID", topology=topo(dataPlanes__0__cilium__clusterID=0)),
    "cluster id 256": Case(["validate"], "clusterID", topology=topo(dataPlanes__0__cilium__clusterID=256)),
    "cluster id twice": Case(["validate"], "clusterID", topology=topo(dataPlanes__2__cilium__clusterID=1)),
    "LB range inside a pod CIDR": Case(["validate"], "overlap",
                                       topology=topo(dataPlanes__0__metallb__addresses=["10.2.5.0/24"])),
    "data plane without context": Case(["validate"], "context", topology=topo(dataPlanes__1__context="")),
    # cluster create etcd
    "replicas 0": Case([*ETCD, "--replicas", "0"], "--replicas"),
    "bad cpu quantity": Case([*ETCD, "--cpu", "lots"], "--cpu"),
    "bad memory quantity": Case([*ETCD, "--memory", "1Zi"], "--memory"),
    "upper-case name": Case([*ETCD, "--name", "Etcd"], "Etcd"),
    "Halt with the v1 API": Case([*ETCD, "--api", "v1", "--termination-policy", "Halt"], "Halt"),
    "unknown placement context": Case([*ETCD, "--placement", "k8s-1,k8s-7", "--apply"], "k8s-7"),
    "apply into a missing namespace": Case([*ETCD, "-n", "no-such-ns-here", "--apply"], "no-such-ns-here"),
    # operator install
    "unknown installer": Case([*INSTALL, "--installer", "pip"], "pip"),
    "disabled context not in the contexts": Case([*INSTALL, "--contexts-disabled", "k8s-9"], "k8s-9"),
    "control plane disabled": Case(["operator", "install", "--context", "cp", "--data-planes", "cp,k8s-1",
                                    "--contexts-disabled", "cp", "--no-wait"], "cp"),
    "chart path missing": Case([*INSTALL[:-1], "./no-such-chart-dir"], "no-such-chart-dir"),
    "operator Secret missing": Case([*INSTALL, "-n", "no-kubeblocks-here"], "Secret"),
    "operator install: bad release": Case([*INSTALL, "--release", "Bad Release"], "Bad Release"),
    "operator status: bad namespace": Case(["operator", "status", "--context", "cp", "-n", "BAD_NS"], "BAD_NS"),
    # contexts: flags and context names, checked before the operator is read
    "contexts disable: bad release": Case([*CONTEXTS, "disable", "k8s-2", "--release", "Bad Release"], "Bad Release"),
    "contexts enable: bad namespace": Case([*CONTEXTS, "enable", "k8s-2", "-n", "BAD_NS"], "BAD_NS"),
    "contexts list: empty namespace": Case([*CONTEXTS, "list", "-n", ""], "--namespace"),
    "contexts disable: empty context": Case([*CONTEXTS, "disable", ""], "must not be empty"),
    "contexts disable: a comma list": Case([*CONTEXTS, "disable", "k8s-1,k8s-2"], "one context per argument"),
    "contexts add: a comma list": Case([*CONTEXTS, "add", "k8s-1,k8s-2"], "comma"),
    "contexts remove: empty context": Case([*CONTEXTS, "remove", ""], "must not be empty"),
    # cluster, network, doctor, env: -n is a namespace name
    "cluster delete: bad namespace": Case(["cluster", "delete", "e1", "--context", "cp", "--data-planes", PLANES,
                                           "-n", "BAD_NS"], "BAD_NS"),
    "cluster status: bad namespace": Case(["cluster", "status", "e1", "--context", "cp", "-n", "BAD_NS"], "BAD_NS"),
    "cluster list: bad namespace": Case(["cluster", "list", "--context", "cp", "-n", "BAD_NS"], "BAD_NS"),
    "network expose: bad namespace": Case(["network", "expose", "e1", "--context", "cp", "--data-planes", PLANES,
                                           "-n", "BAD_NS"], "BAD_NS"),
    "doctor: bad namespace": Case(["doctor", "--context", "cp", "--data-planes", PLANES, "-n", "BAD_NS"], "BAD_NS"),
    "doctor: bad release": Case(["doctor", "--context", "cp", "--data-planes", PLANES, "--release", "Bad Release"],
                                "Bad Release"),
    "env check --in-cluster: bad namespace": Case([*CHECK, "--in-cluster", "-n", "BAD_NS"], "BAD_NS"),
    # rbac sync
    "source role missing": Case([*SYNC, "--role", "no-such-pod-role"], "no-such-pod-role"),
    "rbac role name twice": Case([*SYNC, "--role", "a-role", "--role", "a-role"], "a-role"),
    # network
    "cilium not installed": Case(["network", "cilium"], "cilium", topology=topo()),
    "cilium fails (non-zero exit)": Case(["network", "cilium", "--step", "install"], "cilium", code=1,
                                         topology=topo(), standins=True,
                                         env={"KBMC_STANDIN_FAIL": "cilium install:1:Error: Unable to install Cilium"}),
    "MetalLB range holds the API server": Case(["network", "metallb"], "127.0.0.1", standins=True,
                                               topology=topo(dataPlanes__0__metallb__addresses=["127.0.0.0/24"])),
    "network without kbmc.yaml": Case(["network", "metallb", "--context", "cp", "--data-planes", PLANES], "kbmc.yaml",
                                      standins=True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_changes_nothing(name: str, kbmc, bed: TestBed, registry: ClientRegistry,
                                                   resource_paths, real_helm: Path, tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    case = CASES[name]
    if case.standins:
        request.getfixturevalue("standins")
    env = Env(bed, tmp_path, yaml.safe_load(bed.kubeconfig_path.read_text()))
    kubeconfig = case.kubeconfig(env) if case.kubeconfig else bed.kubeconfig_path
    if case.topology:
        case.topology(env)
    before = snapshot(registry, resource_paths)
    r = kbmc(*case.args, kubeconfig=kubeconfig, env={"PATH": f"{os.environ['PATH']}{os.pathsep}{real_helm.parent}",
                                                     **case.env})
    after = snapshot(registry, resource_paths)

    assert r.code == case.code, f"{name}: exit {r.code}\n{r.output}"
    assert "Traceback" not in r.output
    assert r.stdout == "", f"{name}: stdout should be empty: {r.stdout!r}"
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, f"{name}: expected one error line:\n{r.stderr}"
    assert case.says.lower() in errors[0].lower(), f"{name}: {errors[0]!r} does not name {case.says!r}"
    assert not changes(before, after), f"{name} changed the clusters: {changes(before, after)[:5]}"


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40


def test_the_snapshot_sees_a_change(registry: ClientRegistry, resource_paths, make_namespace) -> None:
    """The nothing-changed assertion can fail: a namespace created between two snapshots is seen."""
    before = snapshot(registry, resource_paths)
    ns = make_namespace("k8s-2")
    diff = changes(before, snapshot(registry, resource_paths))
    assert any(line.startswith("k8s-2 /api/v1/namespaces ") and f"/{ns}:" in line for line in diff), diff
