"""Deleting a Cluster across clusters: the operator's part in the control plane, then what it leaves behind.

KubeBlocks 0.9's deletion looks only in the control plane: in every data plane it leaves the Cluster's
Services and ConfigMaps, held by its own finalizer (a plain delete hangs), and the ServiceAccount and RoleBinding
it made for the pods. This removes exactly the objects labelled with both `app.kubernetes.io/instance=<cluster>`
and `app.kubernetes.io/managed-by=kubeblocks` in the Cluster's namespace (and such ClusterRoleBindings for it),
plus its InstanceSets' own objects (found by the Cluster's component names), never anything else: a user's object
carrying the same instance label stays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kbmc.clients import ApiError, ClientRegistry, KubeClient, resource_path
from kbmc.errors import OperationError, WaitTimeout
from kbmc.fanout import ContextResult, fan_out
from kbmc.wait import Poll, wait_for

GROUP = "apps.kubeblocks.io"
PLACEMENT_ANNOTATION = "apps.kubeblocks.io/multi-cluster-placement"
INSTANCE_LABEL = "app.kubernetes.io/instance"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "kubeblocks"
RBAC = "rbac.authorization.k8s.io/v1"
# What the operator creates in a data plane for a Cluster, namespaced: (apiVersion, plural). The ServiceAccount
# `kb-<cluster>` and its RoleBinding come with a ComponentDefinition that has lifecycleActions (or volume or data
# protection); 0.9's WipeOut deletes them in the control plane only.
LEFTOVER_KINDS = (("v1", "pods"), ("v1", "services"), ("v1", "configmaps"), ("v1", "secrets"),
                  ("v1", "persistentvolumeclaims"), ("v1", "serviceaccounts"), (RBAC, "rolebindings"))
# The InstanceSet's own objects (its headless Service and `-rsm-env` ConfigMap) carry only the InstanceSet's labels;
# its name is `<cluster>-<component>`. Found through the Cluster's component names (its spec, or the component
# label of its other leftovers), so another Cluster's InstanceSet is never matched by a name prefix.
ITS_API = "workloads.kubeblocks.io/v1alpha1"
ITS_KINDS = (("v1", "services"), ("v1", "configmaps"))
ITS_MANAGED_BY_LABEL = "workloads.kubeblocks.io/managed-by"
ITS_INSTANCE_LABEL = "workloads.kubeblocks.io/instance"
COMPONENT_LABEL = "apps.kubeblocks.io/component-name"
# Cluster-scoped: the volume-protection ClusterRoleBinding `kb-<cluster>`, when the operator made one.
CLUSTER_SCOPED_KINDS = ((RBAC, "clusterrolebindings"),)


@dataclass
class DeleteParams:
    control_plane: str
    data_planes: list[str]  # where to clean up when the Cluster has no placement (or is already gone)
    namespace: str
    name: str
    api: str = "v1alpha1"
    dry_run: bool = False
    timeout: float = 300.0


@dataclass
class DeleteResult:
    name: str
    namespace: str
    found: bool  # the Cluster existed in the control plane
    planes: list[ContextResult[list[str]]] = field(default_factory=list)  # per data plane: removed kind/name

    @property
    def failed(self) -> list[ContextResult[list[str]]]:
        return [p for p in self.planes if not p.ok]


def selector(name: str) -> str:
    return f"{INSTANCE_LABEL}={name},{MANAGED_BY_LABEL}={MANAGED_BY}"


Leftover = tuple[str, str, str | None, dict[str, Any]]  # apiVersion, plural, namespace (None: cluster-scoped), object


def leftovers(registry: ClientRegistry, context: str, namespace: str, name: str,
              components: frozenset[str] = frozenset()) -> list[Leftover]:
    """Every object of the Cluster in one cluster: in its namespace, its InstanceSets' objects, and the
    cluster-scoped bindings for it. `components`: the Cluster's component names, when known from its spec."""
    client = registry.for_context(context)
    found: list[Leftover] = []
    for api, plural in LEFTOVER_KINDS:
        items = client.get(resource_path(api, plural, namespace), labelSelector=selector(name)).get("items", [])
        found += [(api, plural, namespace, obj) for obj in items if _ours(obj, name)]
    components = components | {c for *_, obj in found
                               if (c := (obj["metadata"].get("labels") or {}).get(COMPONENT_LABEL))}
    instance_sets = {f"{name}-{c}" for c in components}
    if instance_sets:
        for api, plural in ITS_KINDS:
            items = client.get(resource_path(api, plural, namespace),
                               labelSelector=f"{ITS_MANAGED_BY_LABEL}=InstanceSet").get("items", [])
            found += [(api, plural, namespace, obj) for obj in items
                      if (obj["metadata"].get("labels") or {}).get(ITS_INSTANCE_LABEL) in instance_sets
                      and all(obj["metadata"]["name"] != o["metadata"]["name"] or p != plural for _, p, _, o in found)]
    for api, plural in CLUSTER_SCOPED_KINDS:
        items = client.get(resource_path(api, plural), labelSelector=selector(name)).get("items", [])
        # The same Cluster name may live in another namespace: only bindings for a subject in this one.
        found += [(api, plural, None, obj) for obj in items if _ours(obj, name) and any(
            s.get("namespace") == namespace for s in obj.get("subjects") or [])]
    return found


def _ours(obj: dict[str, Any], name: str) -> bool:
    """Both labels, checked again on the object itself: the selector is the server's, this is ours."""
    labels = obj.get("metadata", {}).get("labels") or {}
    return labels.get(INSTANCE_LABEL) == name and labels.get(MANAGED_BY_LABEL) == MANAGED_BY


def _kind_name(plural: str, obj: dict[str, Any]) -> str:
    return f"{plural[:-1]}/{obj['metadata']['name']}"


def delete(registry: ClientRegistry, params: DeleteParams,
           on_progress: Callable[[str | None], None] | None = None) -> DeleteResult:
    cp = registry.for_context(params.control_plane)
    path = resource_path(f"{GROUP}/{params.api}", "clusters", params.namespace, params.name)
    cluster = cp.get_or_none(path)
    planes = list(params.data_planes)
    components: frozenset[str] = frozenset()
    if cluster is not None:
        components = frozenset(c["name"] for c in cluster.get("spec", {}).get("componentSpecs") or [] if c.get("name"))
        if cluster.get("spec", {}).get("terminationPolicy") == "DoNotTerminate":
            raise OperationError(
                f"Cluster {params.namespace}/{params.name} has terminationPolicy DoNotTerminate: not deleting it",
                hint="change its spec.terminationPolicy first, if you really mean to delete it")
        placement = (cluster["metadata"].get("annotations") or {}).get(PLACEMENT_ANNOTATION, "")
        planes = [c for c in placement.split(",") if c] or planes
    result = DeleteResult(params.name, params.namespace, found=cluster is not None)
    if params.dry_run:
        result.planes = fan_out(planes, lambda ctx: [_kind_name(p, o) for _, p, _, o in
                                                     leftovers(registry, ctx, params.namespace, params.name,
                                                                       components)])
        return result
    if cluster is not None:
        cp.delete(path)

        held: list[str] = []

        def gone() -> Poll:
            now = cp.get_or_none(path)
            if now is None:
                return Poll(True)
            phase = (now.get("status") or {}).get("phase")
            held[:] = _held_instance_sets(cp, params.namespace, params.name)
            waiting = f"; InstanceSet {', '.join(held)} still deleting (finalizer kept)" if held else ""
            return Poll(False, f"phase {phase}{waiting}")

        try:
            wait_for(f"Cluster {params.namespace}/{params.name} to be deleted by the operator", gone,
                     timeout=params.timeout, interval=1.0, on_progress=on_progress)
        except WaitTimeout as exc:
            if held:
                exc.hint = (f"KubeBlocks 0.9.3 can stall here (docs/cluster.md); once the Cluster is gone, run this "
                            f"again to clean the data planes. To unblock it: kubectl --context {params.control_plane} "
                            f"-n {params.namespace} patch instanceset {held[0]} --type merge "
                            "-p '{\"metadata\":{\"finalizers\":null}}'")
            raise
    result.planes = fan_out(planes, lambda ctx: _remove(registry, ctx, params.namespace, params.name, components))
    return result


def _remove(registry: ClientRegistry, context: str, namespace: str, name: str,
            components: frozenset[str]) -> list[str]:
    client = registry.for_context(context)
    removed: list[str] = []
    for api, plural, ns, obj in leftovers(registry, context, namespace, name, components):
        obj_path = resource_path(api, plural, ns, obj["metadata"]["name"])
        if obj["metadata"].get("finalizers"):
            # The operator's finalizer, which nothing in this cluster would ever remove.
            client.patch(obj_path, {"metadata": {"finalizers": None,
                                                 "resourceVersion": obj["metadata"]["resourceVersion"]}})
        client.delete(obj_path)
        removed.append(_kind_name(plural, obj))
    return removed


def _held_instance_sets(cp: KubeClient, namespace: str, name: str) -> list[str]:
    """The Cluster's InstanceSets in the control plane that are being deleted but keep a finalizer."""
    try:
        items = cp.get(resource_path(ITS_API, "instancesets", namespace), labelSelector=f"{INSTANCE_LABEL}={name}")
    except ApiError:
        return []  # the CRD's version or access may differ: this is only an explanation
    return [i["metadata"]["name"] for i in items.get("items", [])
            if i["metadata"].get("deletionTimestamp") and i["metadata"].get("finalizers")]
