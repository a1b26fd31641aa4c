"""Following the manager Deployment until it is available; on timeout, what was last seen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kbmc.clients import KubeClient, resource_path
from kbmc.operator.status import manager_deployment, rolled_out
from kbmc.wait import Poll, wait_for


def wait_manager(client: KubeClient, namespace: str, release: str, *, timeout: float,
                 on_progress: Callable[[str], None] = lambda _: None) -> None:
    def check() -> Poll:
        deployment = manager_deployment(client, namespace, release)
        if deployment is None:
            return Poll(False, f"no manager Deployment for release {release} in {namespace} yet")
        if rolled_out(deployment):
            return Poll(True)
        status = deployment.get("status") or {}
        old = status.get("replicas", 0) - status.get("updatedReplicas", 0)
        if old > 0 and status.get("updatedReplicas", 0) >= deployment["spec"].get("replicas", 1):
            return Poll(False, f"rolling out: {old} pod(s) of the previous template still there")
        return Poll(False, pods_reason(client, namespace, deployment))

    wait_for(f"the KubeBlocks manager in {client.context}", check, timeout=timeout, interval=2.0,
             on_progress=lambda reason: on_progress(reason or "waiting"))


def pods_reason(client: KubeClient, namespace: str, deployment: dict[str, Any]) -> str:
    """The most telling thing about the manager's pods: pending, image pull back-off, crash loop (last log line)."""
    labels = deployment["spec"]["selector"].get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    name = deployment["metadata"]["name"]
    # Only the Deployment's own pods (its ReplicaSets are named <deployment>-<hash>): the chart's hook Jobs
    # carry the same labels.
    pods = [p for p in client.get(resource_path("v1", "pods", namespace), labelSelector=selector)["items"]
            if any(o.get("kind") == "ReplicaSet" and o.get("name", "").startswith(f"{name}-")
                   for o in p["metadata"].get("ownerReferences") or [])]
    if not pods:
        status = deployment.get("status") or {}
        return f"Deployment {name}: no pods ({status.get('availableReplicas', 0)}/{deployment['spec'].get('replicas', 1)} available)"
    for pod in pods:
        pod_name = pod["metadata"]["name"]
        status = pod.get("status") or {}
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if reason == "CrashLoopBackOff":
                return f"pod {pod_name}: container {cs['name']} in CrashLoopBackOff; last log line: " + \
                    _last_log_line(client, namespace, pod_name, cs["name"])
            if reason:
                message = waiting.get("message", "")
                return f"pod {pod_name}: container {cs['name']} {reason}" + (f": {message}" if message else "")
        phase = status.get("phase", "Pending")
        if phase != "Running":
            cond = next((c for c in status.get("conditions") or [] if c.get("status") == "False" and c.get("message")),
                        None)
            return f"pod {pod_name} {phase}" + (f": {cond['message']}" if cond else " (not scheduled or not started)")
    return f"Deployment {name}: pods running, not yet available"


def _last_log_line(client: KubeClient, namespace: str, pod: str, container: str) -> str:
    try:
        body = client.request("GET", resource_path("v1", "pods", namespace, pod) + "/log",
                              query={"container": container, "previous": "true", "tailLines": 1})
    except Exception as exc:  # noqa: BLE001 - the reason is best effort
        return f"(unavailable: {exc})"
    # The log is text; a JSON log line (zap's JSON encoder) parses as an object with its message in "msg".
    text = str(body.get("msg") or body.get("message") or "") if isinstance(body, dict) else str(body)
    return text.strip().splitlines()[-1] if text.strip() else "(empty)"
