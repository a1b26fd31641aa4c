"""`kbmc network expose`: one Service per pod of a KubeBlocks Cluster, in the data plane where the pod runs,
and the endpoint table clients use (runbook step 4, north-south).

The Cluster lives in the control plane; its pods are found in every data plane by their labels.
Services are server-side applied with kbmc's field manager and labelled, so a re-run changes
nothing and `--delete` removes exactly what kbmc created.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kbmc.clients import ApiError, ClientRegistry, resource_path
from kbmc.errors import InputError, OperationError
from kbmc.fanout import fan_out
from kbmc.network.plan import Action, require_reachable
from kbmc.validation import dns1035_label, dns1123_label, dns1123_subdomain
from kbmc.wait import Poll, WaitTimeout, wait_for

SERVICE_TYPES = ("NodePort", "LoadBalancer")
ADDRESS_TYPES = ("InternalIP", "ExternalIP")
GROUP = "apps.kubeblocks.io"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "apps.kubeblocks.io/component-name"
POD_NAME_LABELS = ("apps.kubeblocks.io/pod-name", "statefulset.kubernetes.io/pod-name")
ROLE = "kubeblocks.io/role"
MANAGED_BY = "app.kubernetes.io/managed-by"
EXPOSE = "kbmc.io/expose"
EXPOSED_POD = "kbmc.io/pod"
SUFFIX = "-ext"


@dataclass
class ExposeParams:
    name: str
    namespace: str
    control_plane: str
    data_planes: list[str]
    service_type: str = "NodePort"
    port: str | None = None  # a number or a container port name; default: every container port
    address_type: str = "InternalIP"
    component: str | None = None
    wait: bool = False
    timeout: float = 300.0
    dry_run: bool = False


@dataclass
class Endpoint:
    pod: str
    context: str
    component: str
    role: str
    service: str
    port_name: str
    address: str  # address:port, or "pending" / why there is none
    error: str | None = None  # why this pod is not exposed (its only row then)

    def as_dict(self) -> dict[str, Any]:
        return {"pod": self.pod, "context": self.context, "component": self.component, "role": self.role,
                "service": self.service, "port": self.port_name, "address": self.address, "error": self.error}


@dataclass
class ExposeResult:
    endpoints: list[Endpoint] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    deleted: dict[str, list[str]] = field(default_factory=dict)
    # Per data plane: kbmc's `-ext` Services of this Cluster whose pod is no longer there -> that pod.
    removed: dict[str, dict[str, str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    timed_out: str | None = None  # why --wait gave up (the endpoints then show what is still pending)


def validate(params: ExposeParams) -> None:
    """Every flag checked before any cluster is called."""
    if err := dns1123_subdomain(params.name):
        raise InputError(f"Cluster name: {err}" if params.name else "Cluster name may not be empty",
                         hint="pass the KubeBlocks Cluster's metadata.name")
    if params.component is not None and (err := dns1123_label(params.component)):
        raise InputError(f"--component {err}" if params.component else "--component may not be empty",
                         hint="pass a component name of the Cluster (a DNS label)")
    if params.port is not None:
        port = params.port
        if port.isascii() and port.isdigit():
            if not 1 <= int(port) <= 65535:
                raise InputError(f"--port {port} must be between 1 and 65535")
        elif not (port.isascii() and re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?", port)
                  and re.search(r"[a-z]", port) and "--" not in port):
            raise InputError(f"--port {port!r} is neither a port number (1..65535, ASCII digits) nor a container "
                             "port name (an IANA service name: at most 15 lowercase letters, digits and '-')")
    if params.service_type not in SERVICE_TYPES:
        raise InputError(f"--type {params.service_type!r} is not one of {', '.join(SERVICE_TYPES)}")
    if params.address_type not in ADDRESS_TYPES:
        raise InputError(f"--address-type {params.address_type!r} is not one of {', '.join(ADDRESS_TYPES)}")


def find_cluster(registry: ClientRegistry, params: ExposeParams, apis: list[str]) -> dict[str, Any]:
    client = registry.for_context(params.control_plane)
    for api in apis:
        try:
            found = client.get_or_none(resource_path(f"{GROUP}/{api}", "clusters", params.namespace, params.name))
        except ApiError as exc:
            if exc.not_found:
                continue
            raise
        if found is not None:
            return dict(found)
    raise InputError(f"Cluster {params.name!r} not found in namespace {params.namespace!r} of {params.control_plane}",
                     hint="check the name and -n NAMESPACE (kubectl get clusters.apps.kubeblocks.io -A)")


def service_name(pod: str) -> str:
    """`<pod>-ext`, or, where that is no DNS-1035 label of at most 63 characters (a long pod name, one starting
    with a digit or holding a dot), a valid name ending in a hash of the whole pod name: two pods never share one."""
    plain = pod + SUFFIX
    if dns1035_label(plain) is None:
        return plain
    digest = hashlib.sha256(pod.encode()).hexdigest()[:10]
    stem = re.sub(r"[^a-z0-9-]", "-", pod.lower())
    if not stem[:1].isalpha():
        stem = "p-" + stem
    stem = stem[: 63 - len(SUFFIX) - len(digest) - 1].rstrip("-")
    return f"{stem}-{digest}{SUFFIX}"


def container_ports(pod: dict[str, Any], wanted: str | None) -> list[dict[str, Any]]:
    ports = []
    for container in pod["spec"].get("containers", []):
        for p in container.get("ports") or []:
            if (p.get("protocol") or "TCP") in ("TCP", "UDP", "SCTP"):
                ports.append(p)
    if wanted is not None:
        chosen = [p for p in ports if str(p["containerPort"]) == wanted or p.get("name") == wanted]
        if not chosen:
            if wanted.isdigit():
                return [{"containerPort": int(wanted), "name": f"port-{wanted}", "protocol": "TCP"}]
            return []
        return chosen[:1]
    return ports


def service_for(pod: dict[str, Any], params: ExposeParams) -> dict[str, Any] | str:
    """The Service exposing one pod, or why there cannot be one."""
    labels = pod["metadata"].get("labels") or {}
    pod_name = pod["metadata"]["name"]
    key = next((k for k in POD_NAME_LABELS if labels.get(k) == pod_name), None)
    if key is None:
        return f"pod {pod_name} has no pod-name label ({' or '.join(POD_NAME_LABELS)}) to select it alone"
    ports = container_ports(pod, params.port)
    if not ports:
        return f"pod {pod_name} declares no container port{' ' + params.port if params.port else ''}; pass --port"
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": service_name(pod_name), "namespace": params.namespace,
                     "labels": {MANAGED_BY: "kbmc", EXPOSE: params.name, EXPOSED_POD: pod_name}},
        "spec": {"type": params.service_type, "ports": service_ports(ports),
                 "selector": {INSTANCE: params.name, COMPONENT: labels.get(COMPONENT, ""), key: pod_name}},
    }


def service_ports(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Service's ports: one per (number, protocol), each with a name unique in the Service and valid as an
    IANA_SVC_NAME (the API server refuses two ports of one name, e.g. unnamed 53/TCP and 53/UDP)."""
    unique: dict[tuple[int, str], dict[str, Any]] = {}
    for p in ports:
        unique.setdefault((int(p["containerPort"]), p.get("protocol") or "TCP"), p)
    repeated = {n for n, _ in unique if sum(1 for m, _ in unique if m == n) > 1}
    taken: set[str] = set()
    spec_ports = []
    for i, ((number, protocol), p) in enumerate(unique.items()):
        # A container port's own name is a valid IANA_SVC_NAME already (the API server checked the pod).
        candidates = [p.get("name"), f"port-{number}" if number not in repeated else None,
                      f"port-{number}-{protocol.lower()}"]
        name = next((c for c in candidates if c and c not in taken), None) or next(
            f"p{j}" for j in itertools.count(i) if f"p{j}" not in taken)
        taken.add(name)
        spec_ports.append({"name": name, "port": number, "targetPort": number, "protocol": protocol})
    return spec_ports


def _pods(registry: ClientRegistry, ctx: str, params: ExposeParams) -> list[dict[str, Any]]:
    selector = f"{INSTANCE}={params.name}," + (f"{COMPONENT}={params.component}" if params.component else COMPONENT)
    items = registry.for_context(ctx).get(resource_path("v1", "pods", params.namespace),
                                          labelSelector=selector).get("items", [])
    return sorted(items, key=lambda p: p["metadata"]["name"])


def _node_address(registry: ClientRegistry, ctx: str, node_name: str | None, address_type: str) -> str | None:
    client = registry.for_context(ctx)
    nodes = []
    if node_name:
        node = client.get_or_none(resource_path("v1", "nodes", name=node_name))
        if node is not None:
            nodes.append(node)
    # A NodePort answers on every node: fall back to any node with such an address.
    nodes += client.get(resource_path("v1", "nodes")).get("items", [])
    for node in nodes:
        for a in (node.get("status") or {}).get("addresses") or []:
            if a.get("type") == address_type and a.get("address"):
                return str(a["address"])
    return None


def _endpoints(registry: ClientRegistry, ctx: str, pod: dict[str, Any], svc: dict[str, Any],
               params: ExposeParams) -> list[Endpoint]:
    labels = pod["metadata"].get("labels") or {}
    rows = []
    for p in svc["spec"].get("ports", []):
        if params.service_type == "NodePort":
            host = _node_address(registry, ctx, pod["spec"].get("nodeName"), params.address_type)
            address = f"{host}:{p.get('nodePort')}" if host and p.get("nodePort") else \
                f"no node with an {params.address_type}"
        else:
            ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            host = next((i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")), None)
            address = f"{host}:{p['port']}" if host else "pending"
        rows.append(Endpoint(pod["metadata"]["name"], ctx, labels.get(COMPONENT, "-"), labels.get(ROLE, "-"),
                             svc["metadata"]["name"], p.get("name", str(p["port"])), address))
    return rows


def expose(registry: ClientRegistry, params: ExposeParams, apis: list[str],
           on_event: Callable[[str], None] | None = None) -> ExposeResult:
    validate(params)
    require_reachable(registry, list(dict.fromkeys([params.control_plane, *params.data_planes])))
    find_cluster(registry, params, apis)
    note = on_event or (lambda _m: None)
    result = ExposeResult()

    def expose_pod(ctx: str, pod: dict[str, Any]) -> tuple[Action | None, list[Endpoint], tuple[str, str] | None]:
        """One pod: its Service applied (server-side dry run with --dry-run) and its rows, or why it is not
        exposed (the error line, and the short reason its row shows)."""
        client = registry.for_context(ctx)
        pod_name = pod["metadata"]["name"]
        svc = service_for(pod, params)
        if isinstance(svc, str):
            return None, [], (svc, svc)
        name = svc["metadata"]["name"]
        path = resource_path("v1", "services", params.namespace, name)
        try:
            existing = client.get_or_none(path)
            if existing is not None and (existing["metadata"].get("labels") or {}).get(EXPOSED_POD) != pod_name:
                # Never repoint a Service that is not this pod's own (the user's, or kbmc's for another pod).
                return None, [], (f"Service {name} already exists and does not expose pod {pod_name}; left "
                                  "unchanged (rename or delete it, then re-run)",
                                  f"Service {name} already exists for something else")
            # With --dry-run the API server still checks the Service, so the plan fails where the run would.
            applied = client.apply(path, svc, dry_run=params.dry_run)
        except ApiError as exc:
            if exc.field_conflicts:
                # One line: what conflicted, whose it is, and what to do (kbmc never takes fields over by force).
                return None, [], (f"Service {name}: {exc.conflict_summary}; kbmc does not take over another "
                                  f"manager's fields: undo that change, or delete Service {name} (kbmc re-creates "
                                  "it; its node port may change), then re-run", exc.conflict_summary)
            return None, [], (f"Service {name} for pod {pod_name}: {exc.summary}", exc.summary)
        action = Action("service", ctx, obj=svc)
        if params.dry_run:
            return action, [], None
        note(f"{ctx}: Service {name} -> pod {pod_name}")
        try:
            return action, _endpoints(registry, ctx, pod, applied, params), None
        except ApiError as exc:
            why = f"Service {name} is applied but its address is unknown: {exc.summary}"
            return action, [], (f"{why} (pod {pod_name})", why)

    def remove_stale(ctx: str) -> tuple[dict[str, str], list[str]]:
        """kbmc's own `-ext` Services of this Cluster whose pod is no longer in this data plane (it moved to
        another one, or is gone): removed, or with --dry-run only listed. A user's Service is never touched."""
        client = registry.for_context(ctx)
        here = {p["metadata"]["name"] for p in client.get(
            resource_path("v1", "pods", params.namespace), labelSelector=f"{INSTANCE}={params.name}").get("items", [])}
        ours = client.get(resource_path("v1", "services", params.namespace),
                          labelSelector=f"{MANAGED_BY}=kbmc,{EXPOSE}={params.name}").get("items", [])
        removed, problems = {}, []
        for svc in sorted(ours, key=lambda s: s["metadata"]["name"]):
            name, labels = svc["metadata"]["name"], svc["metadata"].get("labels") or {}
            pod_name = labels.get(EXPOSED_POD)
            if not pod_name or pod_name in here or not name.endswith(SUFFIX):
                continue
            try:
                if not params.dry_run:
                    client.delete(resource_path("v1", "services", params.namespace, name))
            except ApiError as exc:
                problems.append(f"stale Service {name} (pod {pod_name} is no longer here) could not be removed: "
                                f"{exc.summary}")
                continue
            removed[name] = pod_name
        return removed, problems

    def per_context(ctx: str) -> tuple[list[Action], list[Endpoint], list[str], dict[str, str]]:
        actions: list[Action] = []
        rows: list[Endpoint] = []
        problems: list[str] = []
        for pod in _pods(registry, ctx, params):
            # One pod's failure is that pod's: every other pod of this data plane is still exposed and listed.
            action, pod_rows, problem = expose_pod(ctx, pod)
            if action is not None:
                actions.append(action)
            rows += pod_rows
            if problem is not None:
                line, why = problem
                problems.append(line)
                labels = pod["metadata"].get("labels") or {}
                rows.append(Endpoint(pod["metadata"]["name"], ctx, labels.get(COMPONENT, "-"), labels.get(ROLE, "-"),
                                     service_name(pod["metadata"]["name"]), "-", "not exposed", error=why))
        try:
            removed, stale_problems = remove_stale(ctx)
        except ApiError as exc:
            removed, stale_problems = {}, [f"stale Services not checked: {exc.summary}"]
        return actions, rows, problems + stale_problems, removed

    for r in fan_out(params.data_planes, per_context):
        if not r.ok or r.value is None:
            result.errors[r.context] = r.reason
            continue
        actions, rows, problems, removed = r.value
        result.actions += actions
        result.endpoints += rows
        if removed:
            result.removed[r.context] = removed
        if problems:
            result.errors[r.context] = "; ".join(problems)
    if not result.actions and not result.errors and not result.removed:
        raise OperationError(f"Cluster {params.name} has no pods in {', '.join(params.data_planes)} yet "
                             f"(labels {INSTANCE}={params.name}, {COMPONENT})")
    if params.wait and params.service_type == "LoadBalancer" and not params.dry_run:
        result.endpoints, result.timed_out = wait_addresses(registry, params, result.endpoints)
    return result


def wait_addresses(registry: ClientRegistry, params: ExposeParams,
                   endpoints: list[Endpoint]) -> tuple[list[Endpoint], str | None]:
    """The endpoints as last seen, and why the wait gave up (None when every address came)."""
    latest = list(endpoints)
    failed = [e for e in endpoints if e.error is not None]  # kept as they are: nothing to wait for
    exposed = {(e.context, e.pod) for e in endpoints if e.error is None}
    order = {key: i for i, key in reversed(list(enumerate((e.context, e.pod) for e in endpoints)))}

    def check() -> Poll:
        fresh: list[Endpoint] = []
        for ctx in dict.fromkeys(ctx for ctx, _ in exposed):
            for pod in _pods(registry, ctx, params):
                if (ctx, pod["metadata"]["name"]) not in exposed:
                    continue
                svc = registry.for_context(ctx).get_or_none(
                    resource_path("v1", "services", params.namespace, service_name(pod["metadata"]["name"])))
                if svc is not None:
                    fresh += _endpoints(registry, ctx, pod, svc, params)
        latest[:] = sorted(fresh + failed, key=lambda e: order.get((e.context, e.pod), len(order)))
        pending = [e.service for e in fresh if e.address == "pending"]
        return Poll(not pending, f"no address yet for {', '.join(dict.fromkeys(pending))}" if pending else None)

    try:
        wait_for("LoadBalancer addresses", check, timeout=params.timeout, interval=1.0)
    except WaitTimeout as exc:
        return latest, str(exc)
    return latest, None


def delete(registry: ClientRegistry, params: ExposeParams) -> ExposeResult:
    """Remove exactly the Services kbmc created for this Cluster (selected by kbmc's labels)."""
    require_reachable(registry, params.data_planes)
    selector = f"{MANAGED_BY}=kbmc,{EXPOSE}={params.name}"

    def per_context(ctx: str) -> list[str]:
        client = registry.for_context(ctx)
        items = client.get(resource_path("v1", "services", params.namespace), labelSelector=selector).get("items", [])
        names = [s["metadata"]["name"] for s in items]
        if not params.dry_run:
            for name in names:
                client.delete(resource_path("v1", "services", params.namespace, name))
        return names

    result = ExposeResult()
    for r in fan_out(params.data_planes, per_context):
        if r.ok and r.value is not None:
            result.deleted[r.context] = r.value
        else:
            result.errors[r.context] = r.reason
    return result
