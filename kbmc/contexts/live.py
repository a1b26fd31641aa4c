"""The operator's data-plane contexts as they are: the Deployments' args, the helm release's values, the Secret.

KubeBlocks has no API listing its data planes; these three are the only truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kbmc.clients import KubeClient, resource_path
from kbmc.errors import OperationError
from kbmc.operator import release as rel
from kbmc.operator import status as st

CLUSTER_APIS = ("apps.kubeblocks.io/v1", "apps.kubeblocks.io/v1alpha1")


@dataclass
class Live:
    namespace: str
    release_name: str
    manager: dict[str, Any]
    # Every Deployment of the release whose containers carry the multi-cluster flags (manager, dataprotection).
    deployments: list[dict[str, Any]]
    contexts: list[str]
    disabled: list[str]  # the manager's --multi-cluster-contexts-disabled
    release: rel.Release | None = None  # helm's record, when helm manages the release
    helm_managed: bool = False
    release_disabled: list[str] = field(default_factory=list)  # multiCluster.contextsDisabled in the release


def flag_containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in deployment["spec"]["template"]["spec"].get("containers") or []
            if st.flag_value(c.get("args") or [], st.FLAG_CONTEXTS) is not None]


def read(client: KubeClient, namespace: str, release_name: str) -> Live:
    manager = st.manager_deployment(client, namespace, release_name)
    if manager is None:
        raise OperationError(f"KubeBlocks release {release_name} is not installed in {client.context}/{namespace}",
                             hint="install it with `kbmc operator install`")
    args = st.manager_container(manager).get("args") or []
    items = client.get(resource_path("apps/v1", "deployments", namespace),
                       labelSelector=f"app.kubernetes.io/instance={release_name}")["items"]
    others = [d for d in items if d["metadata"]["name"] != manager["metadata"]["name"] and flag_containers(d)]
    current = rel.current(client, namespace, release_name)
    labels = manager["metadata"].get("labels") or {}
    helm_managed = current is not None and labels.get("app.kubernetes.io/managed-by") == "Helm"
    mc = (current.config.get("multiCluster") or {}) if current else {}
    return Live(namespace, release_name, manager, [manager, *others],
                st.split(st.flag_value(args, st.FLAG_CONTEXTS)), st.split(st.flag_value(args, st.FLAG_DISABLED)),
                current, helm_managed, st.split(str(mc.get("contextsDisabled") or "")))


def with_disabled(args: list[str], disabled: list[str]) -> list[str]:
    """`args` with --multi-cluster-contexts-disabled set to `disabled` (left out when empty, as the chart does),
    in place; every other arg untouched."""
    out: list[str] = []
    placed = False
    value = ",".join(disabled)
    i = 0
    while i < len(args):
        arg = args[i]
        bare = arg.lstrip("-") if arg.startswith("-") and arg != "--" else ""
        if bare == st.FLAG_DISABLED.lstrip("-"):  # `--flag value` (or Go's `-flag value`)
            i += 2
            if value and not placed:
                out.append(f"{st.FLAG_DISABLED}={value}")
                placed = True
            continue
        if bare.startswith(st.FLAG_DISABLED.lstrip("-") + "="):
            if value and not placed:
                out.append(f"{st.FLAG_DISABLED}={value}")
                placed = True
        else:
            out.append(arg)
        i += 1
    if value and not placed:
        at = next((j + 1 for j, a in enumerate(out) if a.startswith(st.FLAG_CONTEXTS + "=") or a == st.FLAG_CONTEXTS),
                  len(out))
        if at < len(out) and out[at - 1] == st.FLAG_CONTEXTS:
            at += 1
        out.insert(at, f"{st.FLAG_DISABLED}={value}")
    return out


def all_values(args: list[str], flag: str) -> list[str]:
    """Every value given for `flag`, in order (the manager uses the last)."""
    values = []
    for i, arg in enumerate(args):
        if arg.lstrip("-").startswith(flag.lstrip("-") + "=") and arg.startswith("-"):
            values.append(arg.split("=", 1)[1])
        elif arg.startswith("-") and arg.lstrip("-") == flag.lstrip("-") and i + 1 < len(args):
            values.append(args[i + 1])
    return values


def with_contexts(args: list[str], contexts: list[str]) -> list[str]:
    """`args` with --multi-cluster-contexts set to `contexts`, in place (appended when absent)."""
    value = f"{st.FLAG_CONTEXTS}={','.join(contexts)}"
    out: list[str] = []
    placed = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == st.FLAG_CONTEXTS or arg.startswith(st.FLAG_CONTEXTS + "="):
            i += 2 if arg == st.FLAG_CONTEXTS else 1
            if not placed:
                out.append(value)
                placed = True
            continue
        out.append(arg)
        i += 1
    return out if placed else [*out, value]


def multi_cluster_args(deployment: dict[str, Any]) -> list[str]:
    return [a for a in st.manager_container(deployment).get("args") or [] if a.startswith("--multi-cluster-")]


def placed_clusters(client: KubeClient, contexts: list[str]) -> list[dict[str, Any]]:
    """KubeBlocks Clusters whose placement annotation names any of `contexts`."""
    from kbmc.cluster.manifests import PLACEMENT_ANNOTATION

    found: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for api in CLUSTER_APIS:
        group, version = api.split("/")
        try:
            items = client.get(f"/apis/{group}/{version}/clusters")["items"]
        except Exception:  # noqa: BLE001, S112 - that API version is not served here
            continue
        for item in items:
            meta = item["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            placement = st.split((meta.get("annotations") or {}).get(PLACEMENT_ANNOTATION))
            if key in seen or not set(placement) & set(contexts):
                continue
            seen.add(key)
            found.append({"namespace": key[0], "name": key[1], "placement": placement,
                          "on": [c for c in placement if c in contexts]})
    return found
