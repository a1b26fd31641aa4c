"""`kbmc rbac sync` against the chart-created roles in the bed's control plane.

The bed's data planes run a real kube-controller-manager, aggregation controller included: these
tests show the runbook's as-is copy losing its rules there, and kbmc's flattened copy keeping them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc.clients import ApiError, ClientRegistry, KubeClient
from kbmc.rbac.source import CLUSTER_POD_ROLE, DEFAULT_ROLES, VOLUME_PROTECTION_ROLE, aggregate, role_path
from kbmc.wait import Poll, wait_for
from tests.testbed.bed import TestBed

DATA_PLANES = ["k8s-1", "k8s-2", "k8s-3"]
PROBE = "kbmc-test-probe"  # a ClusterRole carrying the aggregation labels, created in a data plane
CANARY = "kbmc-test-canary"  # an aggregated ClusterRole of our own: shows the controller has acted
PROBE_RULE = {"apiGroups": ["probe.kbmc.test"], "resources": ["probes"], "verbs": ["get"]}
EXTRA = "kbmc-test:Extra_Role"  # a ClusterRole name that is no DNS name, as the API server allows
SCRATCH = (*DEFAULT_ROLES, PROBE, CANARY, "kbmc-test-read-roles", EXTRA)
WAIT = 60.0  # seconds for the controller manager to act (it takes well under one)


def sync(kbmc: Any, bed: TestBed, *args: str, planes: list[str] = DATA_PLANES, kubeconfig: Any = None) -> Any:
    return kbmc("--context", "cp", "--data-planes", ",".join(planes), "rbac", "sync", *args,
                kubeconfig=kubeconfig or bed.kubeconfig_path)


def rules_of(client: KubeClient, name: str) -> Any:
    role = client.get_or_none(role_path(name))
    return None if role is None else (role.get("rules") or [])


def wait_until(what: str, check: Any) -> None:
    wait_for(what, lambda: Poll(bool(check()), "not yet"), timeout=WAIT, interval=0.2)


def rv(client: KubeClient, name: str) -> str:
    return str(client.get(role_path(name))["metadata"]["resourceVersion"])


@pytest.fixture(scope="module")
def cp_role(kubeblocks_chart_installer: Any, registry: ClientRegistry) -> dict[str, Any]:
    """The chart's aggregated role in the control plane, once the control plane's controller has aggregated it."""
    kubeblocks_chart_installer()
    cp = registry.for_context("cp")

    def settled() -> bool:
        role = cp.get(role_path(CLUSTER_POD_ROLE))
        return bool(role.get("rules")) and role["rules"] == aggregate(cp, role)[0]

    wait_until("the control plane's aggregated pod role", settled)
    return dict(cp.get(role_path(CLUSTER_POD_ROLE)))


@pytest.fixture(autouse=True)
def clean_data_planes(registry: ClientRegistry) -> Iterator[None]:
    """Every test starts with no copies (and no probes) in the data planes, and leaves none."""
    def clean() -> None:
        for ctx in DATA_PLANES:
            client = registry.for_context(ctx)
            try:
                for name in SCRATCH:
                    client.delete(role_path(name))
                client.delete("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kbmc-test-read-roles")
            except ApiError:
                pass  # a data plane a test stopped: that test restarts it

    clean()
    yield
    clean()


def labelled_probe(cp_role: dict[str, Any]) -> dict[str, Any]:
    labels = cp_role["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": PROBE, "labels": dict(labels)}, "rules": [PROBE_RULE]}


def test_flattened_copy_keeps_granting_the_control_planes_rules(kbmc, bed, registry: ClientRegistry,
                                                                cp_role: dict[str, Any]) -> None:
    r = sync(kbmc, bed)
    assert r.code == 0, r.stderr
    expected = cp_role["rules"]
    for ctx in DATA_PLANES:
        copy = registry.for_context(ctx).get(role_path(CLUSTER_POD_ROLE))
        assert copy["rules"] == expected
        assert "aggregationRule" not in copy

    # In k8s-1: a role with the aggregation labels appears, then goes. A canary aggregated role with the same
    # selector shows when the data plane's controller manager has acted on each change.
    k1 = registry.for_context("k8s-1")
    canary = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": CANARY},
              "aggregationRule": cp_role["aggregationRule"]}
    k1.create(role_path(), canary)
    k1.create(role_path(), labelled_probe(cp_role))
    wait_until("the canary to aggregate the probe", lambda: PROBE_RULE in (rules_of(k1, CANARY) or []))
    assert rules_of(k1, CLUSTER_POD_ROLE) == expected
    k1.delete(role_path(PROBE))
    wait_until("the canary to drop the probe", lambda: PROBE_RULE not in (rules_of(k1, CANARY) or [PROBE_RULE]))
    assert rules_of(k1, CLUSTER_POD_ROLE) == expected


def test_runbook_as_is_copy_loses_its_rules_and_sync_repairs_it(kbmc, bed, registry: ClientRegistry,
                                                                cp_role: dict[str, Any]) -> None:
    # The runbook's recipe: the control plane's role, server fields and helm's ownership marks stripped,
    # aggregationRule kept.
    as_is = {k: v for k, v in cp_role.items() if k != "metadata"}
    as_is["metadata"] = {k: v for k, v in cp_role["metadata"].items()
                         if k in ("name", "labels", "annotations")}
    as_is["metadata"]["labels"] = {k: v for k, v in as_is["metadata"]["labels"].items()
                                   if k != "app.kubernetes.io/managed-by"}
    as_is["metadata"]["annotations"] = {k: v for k, v in as_is["metadata"].get("annotations", {}).items()
                                        if not k.startswith("meta.helm.sh/")}
    k2 = registry.for_context("k8s-2")
    k2.create(role_path(), as_is)
    k2.create(role_path(), labelled_probe(cp_role))
    wait_until("the data plane to replace the copy's rules", lambda: rules_of(k2, CLUSTER_POD_ROLE) == [PROBE_RULE])
    k2.delete(role_path(PROBE))
    wait_until("the data plane to empty the copy's rules", lambda: rules_of(k2, CLUSTER_POD_ROLE) == [])

    r = sync(kbmc, bed, "-o", "json")
    assert r.code == 0, r.stderr
    rows = {c["context"]: c for c in json.loads(r.stdout)["contexts"]}
    roles = {x["name"]: x["action"] for x in rows["k8s-2"]["roles"]}
    assert roles == {CLUSTER_POD_ROLE: "updated", VOLUME_PROTECTION_ROLE: "created"}
    repaired = k2.get(role_path(CLUSTER_POD_ROLE))
    assert "aggregationRule" not in repaired and repaired["rules"] == cp_role["rules"]


def test_copy_metadata_is_stripped_and_marked(kbmc, bed, registry: ClientRegistry, cp_role: dict[str, Any]) -> None:
    cp = registry.for_context("cp")
    source = cp.get(role_path(VOLUME_PROTECTION_ROLE))
    # What the chart's release put there, and what kubectl would add: none of it may reach a copy.
    assert source["metadata"]["annotations"]["meta.helm.sh/release-name"] == "kubeblocks"
    assert source["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    last_applied = "kubectl.kubernetes.io/last-applied-configuration"
    cp.patch(role_path(VOLUME_PROTECTION_ROLE), {"metadata": {"annotations": {last_applied: "{}"}}})
    try:
        r = sync(kbmc, bed, "--role", VOLUME_PROTECTION_ROLE)
    finally:
        cp.patch(role_path(VOLUME_PROTECTION_ROLE), {"metadata": {"annotations": {last_applied: None}}})
    assert r.code == 0, r.stderr
    for ctx in DATA_PLANES:
        copy = registry.for_context(ctx).get(role_path(VOLUME_PROTECTION_ROLE))
        meta = copy["metadata"]
        assert meta["uid"] != source["metadata"]["uid"]
        assert not [k for k in meta.get("annotations", {}) if k.startswith("meta.helm.sh/") or k == last_applied]
        assert "ownerReferences" not in meta
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "kbmc"
        assert meta["annotations"]["kbmc.io/source-context"] == "cp"
        # The rest is kept: the chart's own labels (the aggregation labels among them) and the rules.
        kept = {k: v for k, v in source["metadata"]["labels"].items() if k != "app.kubernetes.io/managed-by"}
        assert {k: meta["labels"].get(k) for k in kept} == kept
        assert copy["rules"] == source["rules"]
    # The cluster-pod role was not asked for.
    assert registry.for_context("k8s-1").get_or_none(role_path(CLUSTER_POD_ROLE)) is None


def test_unchanged_rerun_writes_nothing(kbmc, bed, registry: ClientRegistry, cp_role: dict[str, Any]) -> None:
    assert sync(kbmc, bed).code == 0
    before = {(ctx, n): rv(registry.for_context(ctx), n) for ctx in DATA_PLANES for n in DEFAULT_ROLES}
    r = sync(kbmc, bed, "-o", "json")
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    assert [c["result"] for c in report["contexts"]] == ["unchanged"] * 3
    after = {(ctx, n): rv(registry.for_context(ctx), n) for ctx in DATA_PLANES for n in DEFAULT_ROLES}
    assert after == before


def test_a_stopped_data_plane_fails_its_row_only_and_a_rerun_converges(kbmc, bed: TestBed, registry: ClientRegistry,
                                                                        cp_role: dict[str, Any]) -> None:
    bed.stop_apiserver("k8s-2")
    try:
        r = sync(kbmc, bed, "-o", "json")
    finally:
        bed.start_apiserver("k8s-2")
    assert r.code == 1
    rows = {c["context"]: c for c in json.loads(r.stdout)["contexts"]}
    assert rows["k8s-2"]["result"] == "failed" and "unreachable" in rows["k8s-2"]["reason"]
    assert rows["k8s-1"]["result"] == rows["k8s-3"]["result"] == "created"
    assert "k8s-2" in r.stderr
    assert registry.for_context("k8s-2").get_or_none(role_path(CLUSTER_POD_ROLE)) is None

    again = sync(kbmc, bed, "-o", "json")
    assert again.code == 0, again.stderr
    rows = {c["context"]: c["result"] for c in json.loads(again.stdout)["contexts"]}
    assert rows == {"k8s-1": "unchanged", "k8s-2": "created", "k8s-3": "unchanged"}
    assert rules_of(registry.for_context("k8s-2"), CLUSTER_POD_ROLE) == cp_role["rules"]


def test_a_data_plane_forbidding_the_write_fails_its_row_only(kbmc, bed: TestBed, registry: ClientRegistry,
                                                              cp_role: dict[str, Any], tmp_path: Path) -> None:
    # k8s-3 as a user who may read ClusterRoles but not write them.
    k3 = registry.for_context("k8s-3")
    k3.create(role_path(), {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                            "metadata": {"name": "kbmc-test-read-roles"},
                            "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                                       "verbs": ["get", "list"]}, READ_IDENTITY]})
    k3.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
              {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "kbmc-test-read-roles"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "kbmc-test-read-roles"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "kbmc-viewer"}]})
    doc = yaml.safe_load(bed.kubeconfig_path.read_text())
    viewer = bed.viewer_context("k8s-3")
    doc["clusters"].append({"name": "k8s-3-viewer", "cluster": viewer["cluster"]})
    doc["users"].append({"name": "k8s-3-viewer", "user": viewer["user"]})
    doc["contexts"].append({"name": "k8s-3-viewer", "context": {"cluster": "k8s-3-viewer", "user": "k8s-3-viewer"}})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(doc))
    kubeconfig.chmod(0o600)

    r = sync(kbmc, bed, planes=["k8s-1", "k8s-2", "k8s-3-viewer"], kubeconfig=kubeconfig)
    assert r.code == 1
    line = next(x for x in r.stderr.splitlines() if x.startswith("k8s-3-viewer"))
    assert "failed" in line and "403" in line
    for ctx in ("k8s-1", "k8s-2"):
        assert rules_of(registry.for_context(ctx), CLUSTER_POD_ROLE) == cp_role["rules"]
    assert k3.get_or_none(role_path(CLUSTER_POD_ROLE)) is None


def test_dry_run_writes_nothing(kbmc, bed, registry: ClientRegistry, cp_role: dict[str, Any]) -> None:
    r = sync(kbmc, bed, "--dry-run")
    assert r.code == 0, r.stderr
    rows = [x for x in r.stderr.splitlines() if x.startswith("k8s-")]
    assert len(rows) == 3 and all("would create" in x for x in rows) and "nothing was written" in r.stderr
    for ctx in DATA_PLANES:
        for name in DEFAULT_ROLES:
            assert registry.for_context(ctx).get_or_none(role_path(name)) is None

    assert sync(kbmc, bed).code == 0
    k1 = registry.for_context("k8s-1")
    role = k1.get(role_path(CLUSTER_POD_ROLE))
    role["rules"] = role["rules"][:-1]
    k1.replace(role_path(CLUSTER_POD_ROLE), role)
    before = rv(k1, CLUSTER_POD_ROLE)
    r = sync(kbmc, bed, "--dry-run")
    assert r.code == 0, r.stderr
    assert "would update" in next(x for x in r.stderr.splitlines() if x.startswith("k8s-1"))
    assert rv(k1, CLUSTER_POD_ROLE) == before


def test_diff_shows_the_change_per_data_plane(kbmc, bed, registry: ClientRegistry, cp_role: dict[str, Any]) -> None:
    assert sync(kbmc, bed).code == 0
    k1 = registry.for_context("k8s-1")
    role = k1.get(role_path(CLUSTER_POD_ROLE))
    removed = role["rules"].pop()
    k1.replace(role_path(CLUSTER_POD_ROLE), role)

    r = sync(kbmc, bed, "--diff", "--dry-run")
    assert r.code == 0, r.stderr
    assert f"--- k8s-1: ClusterRole/{CLUSTER_POD_ROLE} (live)" in r.stdout
    assert f"+++ k8s-1: ClusterRole/{CLUSTER_POD_ROLE} (after sync)" in r.stdout
    added = "\n".join(x for x in r.stdout.splitlines() if x.startswith("+") and not x.startswith("+++"))
    assert all(res in added for res in removed["resources"])
    assert not [x for x in r.stdout.splitlines() if x.startswith("-") and not x.startswith("---")]
    assert "k8s-2:" not in r.stdout and "k8s-3:" not in r.stdout  # nothing changes there
    assert k1.get(role_path(CLUSTER_POD_ROLE))["rules"] == role["rules"]

    r = sync(kbmc, bed, "--diff")
    assert r.code == 0, r.stderr
    assert f"--- k8s-1: ClusterRole/{CLUSTER_POD_ROLE} (live)" in r.stdout
    assert k1.get(role_path(CLUSTER_POD_ROLE))["rules"] == cp_role["rules"]


def test_json_output(kbmc, bed, registry: ClientRegistry, cp_role: dict[str, Any]) -> None:
    preview = json.loads(sync(kbmc, bed, "-o", "json", "--dry-run", "--diff").stdout)
    assert preview["dryRun"] is True
    for row in preview["contexts"]:
        assert {c["action"] for c in row["roles"]} == {"created"}
        assert all(c["diff"].startswith("--- /dev/null") and c["resourceVersion"] is None for c in row["roles"])

    r = sync(kbmc, bed, "-o", "json")
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["controlPlane"] == "cp" and report["ok"] is True and report["dryRun"] is False
    roles = {x["name"]: x for x in report["roles"]}
    assert roles[CLUSTER_POD_ROLE]["flattened"] is True
    assert roles[CLUSTER_POD_ROLE]["rules"] == len(cp_role["rules"])
    assert VOLUME_PROTECTION_ROLE in roles[CLUSTER_POD_ROLE]["aggregatedFrom"]
    assert roles[VOLUME_PROTECTION_ROLE]["flattened"] is False
    for row in report["contexts"]:
        assert row["result"] == "created" and row["reason"] is None
        for change in row["roles"]:
            assert change["resourceVersion"] == rv(registry.for_context(row["context"]), change["name"])


def test_disabled_data_plane_is_skipped(kbmc, bed, registry: ClientRegistry, cp_role: dict[str, Any],
                                        tmp_path: Path) -> None:
    (tmp_path / "kbmc.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kbmc.io/v1alpha1", "kind": "Topology", "controlPlane": {"context": "cp"},
        "dataPlanes": [{"context": "k8s-1"}, {"context": "k8s-2"}, {"context": "k8s-3", "enabled": False},
                       {"context": "k8s-gone", "enabled": False}],  # disabled, and not even in the kubeconfig
    }))
    r = kbmc("rbac", "sync", kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    for ctx in ("k8s-3", "k8s-gone"):
        line = next(x for x in r.stderr.splitlines() if x.startswith(ctx))
        assert "skipped" in line and "disabled" in line
    assert registry.for_context("k8s-3").get_or_none(role_path(CLUSTER_POD_ROLE)) is None
    assert rules_of(registry.for_context("k8s-2"), CLUSTER_POD_ROLE) == cp_role["rules"]


def test_missing_source_role_is_one_clear_error_and_nothing_is_written(kbmc, bed, registry: ClientRegistry,
                                                                       cp_role: dict[str, Any]) -> None:
    r = sync(kbmc, bed, "--role", CLUSTER_POD_ROLE, "--role", "kbmc-no-such-role")
    assert r.code == 2
    errors = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(errors) == 1
    assert "kbmc-no-such-role" in errors[0] and "check the --role names" in errors[0]
    # The operator's chart does not bring a role of the user's own: installing it is no fix.
    assert "kbmc operator install" not in errors[0]
    for ctx in DATA_PLANES:
        assert registry.for_context(ctx).get_or_none(role_path(CLUSTER_POD_ROLE)) is None


def test_control_plane_named_as_a_data_plane_is_never_written(kbmc, bed, registry: ClientRegistry,
                                                              cp_role: dict[str, Any]) -> None:
    # The control plane reused as a data plane holds the source itself: flattening it would strip the chart's role.
    r = sync(kbmc, bed, planes=["k8s-1", "cp"])
    assert r.code == 0, r.stderr
    line = next(x for x in r.stderr.splitlines() if x.startswith("cp "))
    assert "skipped" in line and "control plane" in line
    now = registry.for_context("cp").get(role_path(CLUSTER_POD_ROLE))
    assert now["metadata"]["resourceVersion"] == cp_role["metadata"]["resourceVersion"]
    assert now["aggregationRule"] == cp_role["aggregationRule"]


def test_a_role_name_that_is_no_dns_name_is_copied(kbmc, bed, registry: ClientRegistry,
                                                   cp_role: dict[str, Any]) -> None:
    # ClusterRole names are path segments (`system:...`, upper case, '_'): --role takes what the API server takes.
    cp = registry.for_context("cp")
    cp.create(role_path(), {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                            "metadata": {"name": EXTRA}, "rules": [PROBE_RULE]})
    try:
        r = sync(kbmc, bed, "--role", EXTRA)
    finally:
        cp.delete(role_path(EXTRA))
    assert r.code == 0, r.stderr
    for ctx in DATA_PLANES:
        assert rules_of(registry.for_context(ctx), EXTRA) == [PROBE_RULE]


def kubeconfig_with(bed: TestBed, path: Path, contexts: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> Path:
    """A copy of the bed's kubeconfig with more contexts: name -> (cluster, user)."""
    doc = yaml.safe_load(bed.kubeconfig_path.read_text())
    for name, (cluster, user) in contexts.items():
        doc["clusters"].append({"name": name, "cluster": cluster})
        doc["users"].append({"name": name, "user": user})
        doc["contexts"].append({"name": name, "context": {"cluster": name, "user": name}})
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


@pytest.fixture
def grant_viewer(registry: ClientRegistry) -> Iterator[Any]:
    """Give the bed's token user (kbmc-viewer) some rules in a cluster, for this test only."""
    made: list[tuple[KubeClient, str]] = []

    def grant(ctx: str, name: str, rules: list[dict[str, Any]]) -> None:
        client = registry.for_context(ctx)
        client.create(role_path(), {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                                    "metadata": {"name": name}, "rules": rules})
        made.append((client, name))
        client.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                      {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                       "metadata": {"name": name},
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                       "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "kbmc-viewer"}]})

    yield grant
    for client, name in made:
        client.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}")
        client.delete(role_path(name))


# What kbmc reads to tell clusters apart: the kube-system namespace (its UID).
READ_IDENTITY = {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["kube-system"], "verbs": ["get"]}


def test_a_control_plane_user_who_may_get_but_not_list_roles_is_an_operation_failure(
        kbmc, bed: TestBed, registry: ClientRegistry, cp_role: dict[str, Any], grant_viewer: Any,
        tmp_path: Path) -> None:
    grant_viewer("cp", "kbmc-test-get-roles", [
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["get"]}, READ_IDENTITY])
    viewer = bed.viewer_context("cp")
    kubeconfig = kubeconfig_with(bed, tmp_path / "kubeconfig", {"cp-get-only": (viewer["cluster"], viewer["user"])})
    r = kbmc("--context", "cp-get-only", "--data-planes", "k8s-1", "rbac", "sync", kubeconfig=kubeconfig)
    # Flattening the aggregated role lists the labelled roles: forbidden, said in the server's words, exit 1.
    assert r.code == 1, r.stderr
    assert 'User "kbmc-viewer" cannot list resource "clusterroles"' in r.stderr
    assert "list on clusterroles" in r.stderr and "Traceback" not in r.stderr
    assert registry.for_context("k8s-1").get_or_none(role_path(CLUSTER_POD_ROLE)) is None


def alias_of(bed: TestBed, ctx: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bed's admin context for `ctx`, its server named https://localhost:PORT (the serving cert covers it)."""
    doc = yaml.safe_load(bed.kubeconfig_path.read_text())
    cluster = dict(next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx))
    user = next(u["user"] for u in doc["users"] if u["name"] == f"{ctx}-admin")
    assert cluster["server"].startswith("https://127.0.0.1:")
    cluster["server"] = cluster["server"].replace("https://127.0.0.1:", "https://localhost:")
    return cluster, user


def test_an_alias_of_the_control_plane_is_never_written(kbmc, bed: TestBed, registry: ClientRegistry,
                                                        cp_role: dict[str, Any], tmp_path: Path) -> None:
    # The same API server under another address: the context names and the URLs differ, the cluster does not.
    kubeconfig = kubeconfig_with(bed, tmp_path / "kubeconfig", {"cp-alias": alias_of(bed, "cp")})
    r = sync(kbmc, bed, planes=["k8s-1", "cp-alias"], kubeconfig=kubeconfig)
    assert r.code == 0, r.stderr
    line = next(x for x in r.stderr.splitlines() if x.startswith("cp-alias"))
    assert "skipped" in line and "control plane" in line
    now = registry.for_context("cp").get(role_path(CLUSTER_POD_ROLE))
    assert now["metadata"]["resourceVersion"] == cp_role["metadata"]["resourceVersion"]
    assert now["aggregationRule"] == cp_role["aggregationRule"]
    assert now["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert rules_of(registry.for_context("k8s-1"), CLUSTER_POD_ROLE) == cp_role["rules"]


def test_one_data_plane_under_two_names_is_refused_naming_both(kbmc, bed: TestBed, registry: ClientRegistry,
                                                               cp_role: dict[str, Any], tmp_path: Path) -> None:
    kubeconfig = kubeconfig_with(bed, tmp_path / "kubeconfig", {"k8s-2-alias": alias_of(bed, "k8s-2")})
    r = sync(kbmc, bed, planes=["k8s-1", "k8s-2", "k8s-2-alias"], kubeconfig=kubeconfig)
    assert r.code == 2, r.stderr
    errors = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(errors) == 1 and "k8s-2 and k8s-2-alias are one cluster" in errors[0]
    for ctx in ("k8s-1", "k8s-2"):
        for name in DEFAULT_ROLES:
            assert registry.for_context(ctx).get_or_none(role_path(name)) is None


def test_a_data_plane_whose_credential_plugin_fails_says_so(kbmc, bed: TestBed, registry: ClientRegistry,
                                                            cp_role: dict[str, Any], tmp_path: Path) -> None:
    # kubectl: "getting credentials: exec: executable ... failed with exit code 1"; never "anonymous".
    plugin = tmp_path / "get-token"
    plugin.write_text("#!/bin/sh\necho 'contacting the login service' >&2\n"
                      "echo 'error: the session of alice expired; log in again' >&2\nexit 1\n")
    plugin.chmod(0o755)
    cluster, _ = alias_of(bed, "k8s-3")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin),
                     "interactiveMode": "Never"}}
    kubeconfig = kubeconfig_with(bed, tmp_path / "kubeconfig", {"k8s-3-sso": (cluster, user)})
    r = sync(kbmc, bed, planes=["k8s-1", "k8s-3-sso"], kubeconfig=kubeconfig)
    assert r.code == 1
    line = next(x for x in r.stderr.splitlines() if x.startswith("k8s-3-sso"))
    assert (f"failed: getting credentials: exec plugin {plugin} failed with exit code 1: "
            "error: the session of alice expired; log in again") in line
    assert "anonymous" not in r.stderr and "ERROR:root" not in r.stderr
    assert rules_of(registry.for_context("k8s-1"), CLUSTER_POD_ROLE) == cp_role["rules"]
    assert registry.for_context("k8s-3").get_or_none(role_path(CLUSTER_POD_ROLE)) is None


def test_a_role_someone_else_owns_is_left_alone_unless_forced(kbmc, bed: TestBed, registry: ClientRegistry,
                                                              cp_role: dict[str, Any]) -> None:
    # k8s-1 has its own helm release's kubeblocks-cluster-pod-role: not kbmc's to overwrite.
    k1 = registry.for_context("k8s-1")
    k1.create(role_path(), {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                            "metadata": {"name": CLUSTER_POD_ROLE,
                                         "labels": {"app.kubernetes.io/managed-by": "Helm"},
                                         "annotations": {"meta.helm.sh/release-name": "local-kb",
                                                         "meta.helm.sh/release-namespace": "kb-local"}},
                            "rules": [PROBE_RULE]})
    before = rv(k1, CLUSTER_POD_ROLE)
    r = sync(kbmc, bed, "-o", "json")
    assert r.code == 1
    rows = {c["context"]: c for c in json.loads(r.stdout)["contexts"]}
    assert rows["k8s-1"]["result"] == "failed"
    reason = rows["k8s-1"]["reason"]
    assert "managed by helm release local-kb in namespace kb-local" in reason and "--force" in reason
    assert rv(k1, CLUSTER_POD_ROLE) == before and rules_of(k1, CLUSTER_POD_ROLE) == [PROBE_RULE]
    assert rows["k8s-2"]["result"] == rows["k8s-3"]["result"] == "created"  # the others proceed

    r = sync(kbmc, bed, "--force", "-o", "json")
    assert r.code == 0, r.stderr
    rows = {c["context"]: c["result"] for c in json.loads(r.stdout)["contexts"]}
    assert rows == {"k8s-1": "updated", "k8s-2": "unchanged", "k8s-3": "unchanged"}
    taken = k1.get(role_path(CLUSTER_POD_ROLE))
    assert taken["rules"] == cp_role["rules"] and taken["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kbmc"
    assert not [k for k in taken["metadata"].get("annotations", {}) if k.startswith("meta.helm.sh/")]


def test_a_kubernetes_default_role_is_never_overwritten_unless_forced(kbmc, bed: TestBed, registry: ClientRegistry,
                                                                      cp_role: dict[str, Any]) -> None:
    # Every cluster has its own `view`, reconciled by its API server: --role view must not replace it.
    before = {ctx: rv(registry.for_context(ctx), "view") for ctx in DATA_PLANES}
    r = sync(kbmc, bed, "--role", "view")
    assert r.code == 1
    for ctx in DATA_PLANES:
        line = next(x for x in r.stderr.splitlines() if x.startswith(ctx))
        assert "failed" in line and "a Kubernetes default role" in line
    assert {ctx: rv(registry.for_context(ctx), "view") for ctx in DATA_PLANES} == before
