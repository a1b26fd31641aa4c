"""`operator install`'s hint when helm refuses the aggregation controller's leftover ClusterRole."""

from __future__ import annotations

from typing import Any

from kbmc.operator.install import orphan_role_hint

# helm 3.19's message, as CI saw it after another test's `helm uninstall`.
REFUSAL = ('Error: Unable to continue with install: ClusterRole "kubeblocks" in namespace "" exists and cannot be '
           'imported into the current release: invalid ownership metadata; label validation error: missing key '
           '"app.kubernetes.io/managed-by": must be set to "Helm"')


class Roles:
    def __init__(self, role: dict[str, Any] | None) -> None:
        self.role = role
        self.asked: list[str] = []

    def get_or_none(self, path: str) -> dict[str, Any] | None:
        self.asked.append(path)
        return self.role


def leftover(**meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "kubeblocks", "managedFields": [
        {"manager": "clusterrole-aggregation-controller", "operation": "Apply"}], **meta},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}


def test_the_aggregation_controllers_leftover_gets_the_delete_command() -> None:
    cp = Roles(leftover())
    hint = orphan_role_hint(cp, REFUSAL, "cp")  # type: ignore[arg-type]
    assert hint is not None and hint.endswith("kubectl --context cp delete clusterrole kubeblocks")
    assert cp.asked == ["/apis/rbac.authorization.k8s.io/v1/clusterroles/kubeblocks"]


def test_a_role_someone_else_owns_keeps_helms_message() -> None:
    owned = leftover(labels={"app": "mine"})
    assert orphan_role_hint(Roles(owned), REFUSAL, "cp") is None  # type: ignore[arg-type]
    edited = leftover()
    edited["metadata"]["managedFields"].append({"manager": "kubectl-edit", "operation": "Update"})
    assert orphan_role_hint(Roles(edited), REFUSAL, "cp") is None  # type: ignore[arg-type]
    aggregated = {**leftover(), "aggregationRule": {"clusterRoleSelectors": []}}
    assert orphan_role_hint(Roles(aggregated), REFUSAL, "cp") is None  # type: ignore[arg-type]


def test_other_failures_and_a_role_already_gone_get_no_hint() -> None:
    cp = Roles(leftover())
    assert orphan_role_hint(cp, "Error: context deadline exceeded", "cp") is None  # type: ignore[arg-type]
    assert cp.asked == []  # nothing read for an unrelated failure
    assert orphan_role_hint(Roles(None), REFUSAL, "cp") is None  # type: ignore[arg-type]
