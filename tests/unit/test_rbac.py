"""rbac sync's pure parts: what a copy keeps, how an aggregated role is flattened, which data planes are written."""

from __future__ import annotations

from typing import Any

import pytest

from kbmc.errors import InputError
from kbmc.rbac import source
from kbmc.rbac.sync import SKIPPED, SyncParams, check_params, comparable, targets

CHART_ROLE: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {
        "name": "kubeblocks-volume-protection-pod-role",
        "uid": "0b6c", "resourceVersion": "812", "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 1,
        "selfLink": "/apis/rbac.authorization.k8s.io/v1/clusterroles/x",
        "managedFields": [{"manager": "helm", "operation": "Update"}],
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "9"}],
        "labels": {"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/name": "kubeblocks",
                   "app.kubernetes.io/instance": "kubeblocks", "app.kubernetes.io/required-by": "pod",
                   "helm.sh/chart": "kubeblocks-0.9.0"},
        "annotations": {"meta.helm.sh/release-name": "kubeblocks", "meta.helm.sh/release-namespace": "kb-system",
                        "kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "dba"},
    },
    "rules": [{"apiGroups": [""], "resources": ["nodes", "nodes/stats"], "verbs": ["get", "list"]}],
}


def test_copy_keeps_the_rest_and_drops_server_and_release_marks() -> None:
    copy = source.copy_of(CHART_ROLE, "cp", CHART_ROLE["rules"], [])
    meta = copy["metadata"]
    assert set(meta) == {"name", "labels", "annotations"}
    assert meta["labels"] == {"app.kubernetes.io/managed-by": "kbmc", "app.kubernetes.io/name": "kubeblocks",
                              "app.kubernetes.io/instance": "kubeblocks", "app.kubernetes.io/required-by": "pod",
                              "helm.sh/chart": "kubeblocks-0.9.0"}
    assert meta["annotations"] == {"team": "dba", "kbmc.io/source-context": "cp"}
    assert copy["rules"] == CHART_ROLE["rules"] and "aggregationRule" not in copy
    assert CHART_ROLE["metadata"]["uid"] == "0b6c"  # the source is not modified


def test_a_managed_by_label_other_than_helm_is_not_a_release_mark() -> None:
    meta = source.strip_metadata({"name": "x", "labels": {"app.kubernetes.io/managed-by": "argocd"}})
    assert meta["labels"] == {"app.kubernetes.io/managed-by": "argocd"}


def test_flattened_copy_names_its_sources_and_has_no_aggregation_rule() -> None:
    role = {**CHART_ROLE, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}
    copy = source.copy_of(role, "cp", [{"verbs": ["get"]}], ["r1", "r2"])
    assert "aggregationRule" not in copy
    assert copy["metadata"]["annotations"]["kbmc.io/aggregated-from"] == "r1,r2"


def test_label_selector_as_the_api_server_reads_it() -> None:
    selector = {"matchLabels": {"b": "2", "a": "1"},
                "matchExpressions": [{"key": "c", "operator": "In", "values": ["x", "y"]},
                                     {"key": "d", "operator": "NotIn", "values": ["z"]},
                                     {"key": "e", "operator": "Exists"}, {"key": "f", "operator": "DoesNotExist"}]}
    assert source.label_selector(selector) == "a=1,b=2,c in (x,y),d notin (z),e,!f"


class _Listing:
    """A stand-in for a cluster's ClusterRoles, answering label-selector lists by matchLabels only."""

    context = "cp"

    def __init__(self, roles: list[dict[str, Any]]) -> None:
        self.roles = roles

    def get(self, path: str, **query: Any) -> Any:
        wanted = dict(p.split("=") for p in query["labelSelector"].split(","))
        return {"items": [r for r in self.roles
                          if all(r["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())]}


def _role(name: str, rules: list[dict[str, Any]], **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "rules": rules}


def test_aggregate_follows_the_controller_managers_algorithm() -> None:
    r1, r2, r3 = ({"verbs": ["get"], "resources": [x]} for x in ("a", "b", "c"))
    parent = {"metadata": {"name": "parent", "labels": {"pick": "yes"}},
              "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"pick": "yes"}}]}, "rules": [r3]}
    roles = [_role("zeta", [r2, r1], pick="yes"), _role("alpha", [r1], pick="yes"),
             _role("other", [r3], pick="no"), parent]
    rules, sources = source.aggregate(_Listing(roles), parent)  # type: ignore[arg-type]
    # By name (alpha before zeta), each rule once, the role itself and unselected roles left out.
    assert rules == [r1, r2] and sources == ["alpha", "zeta"]


def test_targets_skip_disabled_data_planes_and_the_control_plane_itself() -> None:
    params = SyncParams("cp", ["k8s-1", "k8s-2", "cp", "alias"], disabled=["k8s-2"])
    write, skipped = targets(params, {"cp": "https://127.0.0.1:1", "alias": "https://127.0.0.1:1",
                                      "k8s-1": "https://127.0.0.1:2", "k8s-2": "https://127.0.0.1:3"})
    assert write == ["k8s-1"]
    reasons = {s.context: s.reason for s in skipped}
    assert set(reasons) == {"k8s-2", "cp", "alias"} and all(s.result == SKIPPED for s in skipped)
    assert "disabled" in (reasons["k8s-2"] or "") and "control plane" in (reasons["alias"] or "")


@pytest.mark.parametrize("roles,message", [
    (["a/b"], "may not contain '/'"),
    (["50%"], "may not contain '%'"),
    ([".."], "may not be a name"),
    ([""], "may not be empty"),
    (["a", "a"], "twice"),
    ([], "no ClusterRole"),
])
def test_bad_role_names(roles: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_params(SyncParams("cp", ["k8s-1"], roles=roles))


@pytest.mark.parametrize("name", ["kb:Extra_Role", "system:aggregate-to-view", "Bad_Name", "a.b..c", "x y"])
def test_role_names_the_api_server_accepts_are_accepted(name: str) -> None:
    # ClusterRole names are path-segment names, not DNS names: upper case, ':' and '_' are fine.
    check_params(SyncParams("cp", ["k8s-1"], roles=[name]))


def test_comparable_sees_a_leftover_aggregation_rule_as_a_change() -> None:
    desired = source.copy_of(CHART_ROLE, "cp", CHART_ROLE["rules"], [])
    live = {**desired, "metadata": {**desired["metadata"], "uid": "1", "resourceVersion": "2"}}
    assert comparable(live) == desired
    # Any aggregationRule, even an empty one, hands the rules to the data plane's controller.
    assert comparable({**live, "aggregationRule": {}}) != desired
    assert comparable({**live, "aggregationRule": {"clusterRoleSelectors": [{}]}}) != desired


class _Roles:
    """A control plane holding only the named ClusterRoles (plain, not aggregated)."""

    context = "cp"

    def __init__(self, *names: str) -> None:
        self.names = names

    def get_or_none(self, path: str) -> Any:
        name = path.rsplit("/", 1)[1]
        return {"metadata": {"name": name}, "rules": [{"verbs": ["get"]}]} if name in self.names else None


@pytest.mark.parametrize("have,want,operator_hint,role_hint", [
    ((), [source.CLUSTER_POD_ROLE], True, False),
    ((source.CLUSTER_POD_ROLE,), [source.CLUSTER_POD_ROLE, "my-role"], False, True),
    ((), [source.VOLUME_PROTECTION_ROLE, "my-role"], True, True),
])
def test_a_missing_role_hints_at_the_operator_only_for_the_default_roles(have: tuple[str, ...], want: list[str],
                                                                         operator_hint: bool, role_hint: bool) -> None:
    with pytest.raises(InputError) as info:
        source.read(_Roles(*have), "cp", want)  # type: ignore[arg-type]
    text = str(info.value)
    assert ("kbmc operator install" in text) is operator_hint
    assert ("check the --role names" in text) is role_hint


@pytest.mark.parametrize("labels,annotations,expected", [
    ({}, {}, None),  # a plain kubectl copy (the runbook's recipe): repaired
    ({"app.kubernetes.io/managed-by": "kbmc"}, {"kbmc.io/source-context": "cp"}, None),  # kbmc's own copy
    ({"app.kubernetes.io/managed-by": "Helm"}, {"meta.helm.sh/release-name": "kb", "meta.helm.sh/release-namespace": "x"},
     "managed by helm release kb in namespace x"),
    ({"app.kubernetes.io/managed-by": "Helm"}, {}, "managed by Helm"),
    ({}, {"meta.helm.sh/resource-policy": "keep"}, "managed by helm"),
    ({"app.kubernetes.io/managed-by": "argocd"}, {}, "managed by argocd"),
    ({"kubernetes.io/bootstrapping": "rbac-defaults"}, {}, "a Kubernetes default role"),
])
def test_owner_marks(labels: dict[str, str], annotations: dict[str, str], expected: str | None) -> None:
    from kbmc.rbac.sync import owner

    who = owner({"metadata": {"name": "r", "labels": labels, "annotations": annotations}})
    assert (who is None) if expected is None else (who is not None and who.startswith(expected))
