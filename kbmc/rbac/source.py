"""The ClusterRoles to copy, as the control plane has them: read, flattened, stripped, marked.

`kubeblocks-cluster-pod-role` is an aggregated ClusterRole: its rules are written by the
control plane's aggregation controller from the roles its `aggregationRule` selects. A copy
that keeps the `aggregationRule` hands its rules to the *data plane's* aggregation controller,
which replaces them with the union of the data plane's own labelled roles (and empties them
when there are none left). So the copy is flattened: the aggregated rules, no
`aggregationRule`. See docs/rbac.md.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from kbmc.clients import ApiError, KubeClient, resource_path
from kbmc.errors import InputError, OperationError

API_VERSION = "rbac.authorization.k8s.io/v1"
KIND = "ClusterRole"
CLUSTER_POD_ROLE = "kubeblocks-cluster-pod-role"
VOLUME_PROTECTION_ROLE = "kubeblocks-volume-protection-pod-role"
DEFAULT_ROLES = (CLUSTER_POD_ROLE, VOLUME_PROTECTION_ROLE)

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "kbmc"
SOURCE_CONTEXT = "kbmc.io/source-context"  # the control plane's context the copy came from
AGGREGATED_FROM = "kbmc.io/aggregated-from"  # a flattened copy: the control-plane roles its rules came from

# Written by the API server, or meaningful only in the source cluster.
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                 "ownerReferences", "deletionTimestamp", "deletionGracePeriodSeconds", "finalizers")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
HELM_ANNOTATION_PREFIX = "meta.helm.sh/"


def role_path(name: str | None = None) -> str:
    return resource_path(API_VERSION, "clusterroles", name=name)


@dataclass
class SourceRole:
    """One ClusterRole to copy: `desired` is the exact object every data plane should hold."""

    name: str
    desired: dict[str, Any]
    aggregated_from: list[str] = field(default_factory=list)  # empty: not an aggregated role
    note: str | None = None  # something the user should know about the source


def strip_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The source's metadata without what the server or the source's helm release owns."""
    meta = {k: copy.deepcopy(v) for k, v in metadata.items() if k not in SERVER_FIELDS}
    annotations = {k: v for k, v in (meta.pop("annotations", None) or {}).items()
                   if k != LAST_APPLIED and not k.startswith(HELM_ANNOTATION_PREFIX)}
    labels = {k: v for k, v in (meta.pop("labels", None) or {}).items()
              if not (k == MANAGED_BY and v == "Helm")}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return meta


def copy_of(role: dict[str, Any], control_plane: str, rules: list[dict[str, Any]],
            aggregated_from: list[str]) -> dict[str, Any]:
    """The data planes' copy: stripped metadata, kbmc's marks, the given rules and never an aggregationRule."""
    meta = strip_metadata(role.get("metadata") or {})
    annotations = {**meta.get("annotations", {}), SOURCE_CONTEXT: control_plane}
    if aggregated_from:
        annotations[AGGREGATED_FROM] = ",".join(aggregated_from)
    # Sorted, as the API server returns them: a diff against the live object shows only real changes.
    meta["labels"] = dict(sorted({**meta.get("labels", {}), MANAGED_BY: MANAGER}.items()))
    meta["annotations"] = dict(sorted(annotations.items()))
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta, "rules": copy.deepcopy(rules)}


def label_selector(selector: dict[str, Any]) -> str:
    """A LabelSelector object as the `labelSelector` query string the API server matches with."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise InputError(f"ClusterRole selector operator {op!r} is not one Kubernetes knows")
    return ",".join(parts)


def aggregate(client: KubeClient, role: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The union of rules the aggregation controller gives `role` in `client`'s cluster, and the roles they come from.

    The same algorithm as kube-controller-manager's clusterrole-aggregation controller: per selector, the
    matching roles by name (the role itself excluded), each rule once, in first-seen order.
    """
    name = role["metadata"]["name"]
    rules: list[dict[str, Any]] = []
    sources: list[str] = []
    for selector in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []:
        listing = client.get(role_path(), labelSelector=label_selector(selector))
        for item in sorted(listing.get("items") or [], key=lambda r: r["metadata"]["name"]):
            other = item["metadata"]["name"]
            if other == name:
                continue
            for rule in item.get("rules") or []:
                if rule not in rules:
                    rules.append(rule)
            if other not in sources:
                sources.append(other)
    return rules, sources


def read(client: KubeClient, control_plane: str, names: list[str]) -> list[SourceRole]:
    """Every named ClusterRole from the control plane, ready to copy; InputError when any is missing.

    Missing roles are a missing precondition (the operator's chart creates them), reported all at once,
    before anything is written anywhere.
    """
    found: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for name in names:
        role = client.get_or_none(role_path(name))
        if role is None:
            missing.append(name)
        else:
            found[name] = role
    if missing:
        what = "ClusterRole " + ", ".join(missing) if len(missing) == 1 else "ClusterRoles " + ", ".join(missing)
        raise InputError(f"{what} not found in the control plane {control_plane}; nothing was written",
                         hint=_missing_hint(missing, control_plane))
    return [_prepare(client, control_plane, found[name]) for name in names]


def _missing_hint(names: list[str], control_plane: str) -> str:
    """The operator's chart brings the default roles; a role of the user's own is the user's to fix."""
    hints = []
    if any(n in DEFAULT_ROLES for n in names):
        hints.append("install the operator first: kbmc operator install")
    if any(n not in DEFAULT_ROLES for n in names):
        hints.append(f"check the --role names against `kubectl get clusterroles --context {control_plane}`")
    return "; ".join(hints)


def _prepare(client: KubeClient, control_plane: str, role: dict[str, Any]) -> SourceRole:
    name = role["metadata"]["name"]
    live = role.get("rules") or []
    if not role.get("aggregationRule"):
        return SourceRole(name, copy_of(role, control_plane, live, []))
    try:
        union, sources = aggregate(client, role)
    except ApiError as exc:
        if exc.status == 403:
            # A permission the credentials lack is an operation failure, told in the server's words.
            raise OperationError(f"cannot list ClusterRoles in {control_plane} to flatten {name}: {exc.summary}",
                                 hint="kbmc needs list on clusterroles in the control plane") from None
        raise
    if not union:
        raise InputError(f"ClusterRole {name} in {control_plane} aggregates no rules (none of the roles its "
                         f"aggregationRule selects exist there); nothing was written",
                         hint=_missing_hint([name], control_plane))
    note = None
    if union != live:
        # The control plane's controller manager has not caught up (or does not run there): its own
        # labelled roles are the truth the role will converge to.
        note = (f"{name} in {control_plane} does not hold the union of its labelled roles yet "
                f"({len(live)} rules, union {len(union)}); copying the union")
    return SourceRole(name, copy_of(role, control_plane, union, sources), sources, note)
