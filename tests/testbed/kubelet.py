"""The part of a kubelet the bed lacks: reporting a Deployment's pods Running and Ready.

The bed runs kube-controller-manager but no kubelet, so a Deployment never becomes available on its own.
Patching the Deployment's status does not hold: the deployment controller recomputes it from the
ReplicaSet at once and writes it back. Marking the pods Ready, as a kubelet would, lets the ReplicaSet and
deployment controllers reach "available" themselves. No podIP is written: nothing may dial a pod here.
"""

from __future__ import annotations

import time

from kbmc.clients import KubeClient, resource_path


def mark_pods_ready(client: KubeClient, namespace: str, label_selector: str) -> int:
    """One pass: every live pod of a ReplicaSet matching the selector gets a Ready status. Returns how many."""
    marked = 0
    for pod in client.get(resource_path("v1", "pods", namespace), labelSelector=label_selector)["items"]:
        owners = pod["metadata"].get("ownerReferences") or []
        if not any(o["kind"] == "ReplicaSet" for o in owners) or pod["metadata"].get("deletionTimestamp"):
            continue
        conditions = {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or []}
        if conditions.get("Ready") == "True":
            continue
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            client.patch(resource_path("v1", "pods", namespace, pod["metadata"]["name"]) + "/status", {"status": {
                "phase": "Running", "startTime": now,
                "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                               for t in ("Initialized", "ContainersReady", "Ready", "PodScheduled")]}})
            marked += 1
        except Exception:  # noqa: BLE001, S110 - the pod went away meanwhile
            pass
    return marked
