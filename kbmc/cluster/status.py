"""One view of Clusters across clusters: the control plane's phase, the data planes' pods, PVCs and Services."""

from __future__ import annotations

from typing import Any

from kbmc.clients import ClientRegistry, resource_path
from kbmc.cluster.apply import operator_contexts
from kbmc.cluster.delete import (
    COMPONENT_LABEL,
    GROUP,
    INSTANCE_LABEL,
    ITS_INSTANCE_LABEL,
    ITS_MANAGED_BY_LABEL,
    MANAGED_BY_LABEL,
    PLACEMENT_ANNOTATION,
    selector,
)
from kbmc.errors import OperationError
from kbmc.fanout import fan_out

ROLE_LABEL = "kubeblocks.io/role"


def placement_of(cluster: dict[str, Any]) -> list[str]:
    value = (cluster["metadata"].get("annotations") or {}).get(PLACEMENT_ANNOTATION, "")
    return [c for c in value.split(",") if c]


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _plane(registry: ClientRegistry, context: str, namespace: str, name: str) -> dict[str, Any]:
    client = registry.for_context(context)
    sel = selector(name)
    pods = client.get(resource_path("v1", "pods", namespace), labelSelector=sel).get("items", [])
    pvcs = client.get(resource_path("v1", "persistentvolumeclaims", namespace), labelSelector=sel).get("items", [])
    services = client.get(resource_path("v1", "services", namespace), labelSelector=sel).get("items", [])
    # The InstanceSet's own Services (the headless one) carry only the InstanceSet's labels, not the Cluster's.
    components = {c for p in pods if (c := (p["metadata"].get("labels") or {}).get(COMPONENT_LABEL))}
    if components:
        instance_sets = {f"{name}-{c}" for c in components}
        seen = {s["metadata"]["name"] for s in services}
        services += [s for s in client.get(resource_path("v1", "services", namespace),
                                           labelSelector=f"{ITS_MANAGED_BY_LABEL}=InstanceSet").get("items", [])
                     if (s["metadata"].get("labels") or {}).get(ITS_INSTANCE_LABEL) in instance_sets
                     and s["metadata"]["name"] not in seen]
    return {
        "pods": [{"name": p["metadata"]["name"], "phase": (p.get("status") or {}).get("phase", ""),
                  "ready": _ready(p), "role": (p["metadata"].get("labels") or {}).get(ROLE_LABEL, ""),
                  "node": p["spec"].get("nodeName", "")} for p in pods],
        "pvcs": [{"name": c["metadata"]["name"], "bound": (c.get("status") or {}).get("phase") == "Bound"}
                 for c in pvcs],
        "services": [s["metadata"]["name"] for s in services],
    }


def status(registry: ClientRegistry, control_plane: str, namespace: str, name: str, api: str,
           kubeblocks_namespace: str, data_planes: list[str] | None = None) -> dict[str, Any]:
    """Phase and conditions from the control plane; per placed data plane its objects, or why not."""
    cp = registry.for_context(control_plane)
    cluster = cp.get_or_none(resource_path(f"{GROUP}/{api}", "clusters", namespace, name))
    if cluster is None:
        raise OperationError(f"Cluster {namespace}/{name} not found in {control_plane}",
                             hint="list them with `kbmc cluster list`")
    contexts = operator_contexts(registry, control_plane, kubeblocks_namespace)
    disabled = contexts[1] if contexts else []
    # An operator without multi-cluster contexts says nothing about where the pods are: then the flags/kbmc.yaml do.
    placement = placement_of(cluster) or (
        [c for c in contexts[0] if c not in disabled] if contexts and contexts[0] else list(data_planes or []))
    results = fan_out(placement, lambda ctx: _plane(registry, ctx, namespace, name))
    st = cluster.get("status") or {}
    planes: dict[str, Any] = {}
    for r in results:
        entry: dict[str, Any] = {"disabled": r.context in disabled, "reachable": r.ok}
        if r.ok:
            entry.update(r.value or {})
        else:
            entry["error"] = r.error
        planes[r.context] = entry
    return {
        "name": name, "namespace": namespace, "controlPlane": control_plane,
        "phase": st.get("phase", ""),
        "conditions": [{k: c.get(k, "") for k in ("type", "status", "reason", "message")}
                       for c in st.get("conditions") or []],
        "placement": placement,
        "dataPlanes": planes,
    }


def list_clusters(registry: ClientRegistry, control_plane: str, api: str,
                  namespace: str | None = None) -> list[dict[str, Any]]:
    """Every Cluster (in one namespace, or all) with its placement and ready/total pods per data plane."""
    cp = registry.for_context(control_plane)
    clusters = cp.get(resource_path(f"{GROUP}/{api}", "clusters", namespace)).get("items", [])
    planes = list(dict.fromkeys(c for cl in clusters for c in placement_of(cl)))

    def pods(ctx: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = registry.for_context(ctx).get(
            resource_path("v1", "pods", namespace), labelSelector=f"{MANAGED_BY_LABEL}=kubeblocks").get("items", [])
        return items

    per_plane = {r.context: r for r in fan_out(planes, pods)}
    rows = []
    for cl in clusters:
        meta = cl["metadata"]
        counts: dict[str, Any] = {}
        for ctx in placement_of(cl):
            r = per_plane[ctx]
            if not r.ok:
                counts[ctx] = {"error": r.error}
                continue
            mine = [p for p in r.value or [] if p["metadata"]["namespace"] == meta["namespace"]
                    and (p["metadata"].get("labels") or {}).get(INSTANCE_LABEL) == meta["name"]]
            counts[ctx] = {"ready": sum(_ready(p) for p in mine), "total": len(mine)}
        rows.append({"name": meta["name"], "namespace": meta["namespace"],
                     "phase": (cl.get("status") or {}).get("phase", ""), "placement": placement_of(cl),
                     "pods": counts})
    return rows
