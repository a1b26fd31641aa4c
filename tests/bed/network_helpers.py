"""Shared helpers for the `kbmc network` bed tests: topology files and Cilium state in the data planes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kbmc.clients import ClientRegistry, resource_path

CILIUM_OBJECTS = (("configmaps", "cilium-config"), ("services", "clustermesh-apiserver"),
                  ("secrets", "cilium-clustermesh"))


def write_topology(path: Path, contexts: list[str], *, cilium: dict[str, dict[str, Any]] | None = None,
                   metallb: dict[str, list[str]] | None = None, max_connected: int | None = None,
                   north_south: str = "nodeport") -> Path:
    planes = []
    for i, ctx in enumerate(contexts, start=1):
        plane: dict[str, Any] = {"context": ctx,
                                 "cilium": {"clusterName": ctx, "clusterID": i, "podCIDR": f"10.{i}.0.0/16"}}
        if cilium and ctx in cilium:
            plane["cilium"] = {**plane["cilium"], **cilium[ctx]}
        if metallb and ctx in metallb:
            plane["metallb"] = {"addresses": metallb[ctx]}
        planes.append(plane)
    network: dict[str, Any] = {"eastWest": "cilium", "northSouth": north_south}
    if max_connected:
        network["cilium"] = {"maxConnectedClusters": max_connected}
    doc = {"apiVersion": "kbmc.io/v1alpha1", "kind": "Topology", "controlPlane": {"context": "cp"},
           "network": network, "dataPlanes": planes}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def clear_cilium(registry: ClientRegistry, contexts: list[str]) -> None:
    for ctx in contexts:
        client = registry.for_context(ctx)
        for plural, name in CILIUM_OBJECTS:
            client.delete(resource_path("v1", plural, "kube-system", name))


def seed_cilium_config(registry: ClientRegistry, context: str, name: str, cluster_id: int, cidr: str) -> None:
    registry.for_context(context).create(resource_path("v1", "configmaps", "kube-system"), {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cilium-config", "namespace": "kube-system"},
        "data": {"cluster-name": name, "cluster-id": str(cluster_id), "cluster-pool-ipv4-cidr": cidr}})


def cilium_config(registry: ClientRegistry, context: str) -> dict[str, str] | None:
    cm = registry.for_context(context).get_or_none(resource_path("v1", "configmaps", "kube-system", "cilium-config"))
    return None if cm is None else dict(cm.get("data") or {})


def mesh_peers(registry: ClientRegistry, context: str) -> list[str]:
    secret = registry.for_context(context).get_or_none(
        resource_path("v1", "secrets", "kube-system", "cilium-clustermesh"))
    return sorted((secret or {}).get("data") or {})


METALLB_NS = "metallb-system"


def metallb_snapshot(registry: ClientRegistry, ctx: str) -> tuple[object, object]:
    """Whether MetalLB's namespace exists, and its pool's spec and version (MetalLB may be there from an earlier
    test): equal before and after a command that must change nothing."""
    client = registry.for_context(ctx)
    namespace = client.get_or_none(resource_path("v1", "namespaces", name=METALLB_NS))
    pool = client.get_or_none(resource_path("metallb.io/v1beta1", "ipaddresspools", METALLB_NS, "kbmc")) \
        if namespace is not None else None
    return (namespace is not None, pool and (pool["spec"], pool["metadata"]["resourceVersion"]))
