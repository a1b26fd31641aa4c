"""`operator status`: what the control plane's KubeBlocks actually runs with.

The multi-cluster flags come from the live manager Deployment's args (not from kbmc.yaml), the Secret
from the volume mounted at the kubeconfig flag's path.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from kbmc.clients import KubeClient
from kbmc.operator import manager as mgr
from kbmc.operator import release as rel
from kbmc.operator.preflight import secret_contexts

FLAG_KUBECONFIG = mgr.FLAG_KUBECONFIG
FLAG_CONTEXTS = mgr.FLAG_CONTEXTS
FLAG_DISABLED = mgr.FLAG_DISABLED
MANAGER_CONTAINER = mgr.CONTAINER
manager_selector = mgr.selector
manager_container = mgr.container
flag_value = mgr.flag_value
split = mgr.split


def manager_deployment(client: KubeClient, namespace: str, release: str) -> dict[str, Any] | None:
    return mgr.deployment(client, namespace, release)


def mounted_secret(deployment: dict[str, Any], kubeconfig_path: str | None) -> str | None:
    """The Secret whose volume is mounted at the directory of the kubeconfig flag's path."""
    if not kubeconfig_path:
        return None
    spec = deployment["spec"]["template"]["spec"]
    directory = posixpath.dirname(kubeconfig_path)
    for mount in manager_container(deployment).get("volumeMounts") or []:
        if mount.get("mountPath", "").rstrip("/") in (directory, kubeconfig_path):
            for volume in spec.get("volumes") or []:
                if volume.get("name") == mount.get("name") and "secret" in volume:
                    return str(volume["secret"].get("secretName"))
    return None


def ready(deployment: dict[str, Any]) -> bool:
    spec_replicas = deployment["spec"].get("replicas", 1)
    status = deployment.get("status") or {}
    return (status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
            and status.get("updatedReplicas", 0) >= spec_replicas
            and status.get("availableReplicas", 0) >= spec_replicas)


def rolled_out(deployment: dict[str, Any]) -> bool:
    """The latest pod template runs everywhere and no pod of an older one is left (what `kubectl rollout status`
    waits for). `ready` alone is true in the middle of a rollout: the old pod is still available while the new
    one starts (the chart's maxSurge 1, maxUnavailable 0 of 1 replica)."""
    spec_replicas = deployment["spec"].get("replicas", 1)
    status = deployment.get("status") or {}
    updated = status.get("updatedReplicas", 0)
    return (status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
            and updated >= spec_replicas
            and status.get("replicas", 0) <= updated
            and status.get("availableReplicas", 0) >= updated)


@dataclass
class Expected:
    """What kbmc.yaml (or the flags) say the operator should run with."""

    contexts: list[str]
    disabled: list[str]
    secret: str


def status(client: KubeClient, namespace: str, release: str, expected: Expected | None) -> dict[str, Any]:
    deployment = manager_deployment(client, namespace, release)
    current = rel.current(client, namespace, release)
    out: dict[str, Any] = {
        "context": client.context, "namespace": namespace, "release": release,
        "installed": deployment is not None,
        "revision": current.revision if current else None,
        "releaseStatus": current.status if current else None,
        "chart": f"{current.chart}-{current.chart_version}" if current else None,
        "version": None, "ready": False, "replicas": None,
        "contexts": [], "contextsDisabled": [], "kubeconfigPath": None,
        "secret": None, "matchesConfig": None, "problems": [],
    }
    if current is not None and current.status != "deployed":
        # A failed or interrupted upgrade leaves the Deployment as it was: say so, or the rest looks fine.
        out["problems"] = [f"release {release} revision {current.revision} is {current.status or 'unknown'}"
                           + (" (rerun `kbmc operator install`)" if current.status == "failed" else "")]
    if deployment is None:
        return out
    labels = deployment["metadata"].get("labels") or {}
    status_ = deployment.get("status") or {}
    args = manager_container(deployment).get("args") or []
    kubeconfig_path = flag_value(args, FLAG_KUBECONFIG)
    secret_name = mounted_secret(deployment, kubeconfig_path)
    contexts = split(flag_value(args, FLAG_CONTEXTS))
    disabled = split(flag_value(args, FLAG_DISABLED))
    out.update({
        "version": labels.get("app.kubernetes.io/version") or (current.app_version if current else None),
        "ready": ready(deployment),
        "replicas": f"{status_.get('availableReplicas', 0)}/{deployment['spec'].get('replicas', 1)}",
        "contexts": contexts, "contextsDisabled": disabled, "kubeconfigPath": kubeconfig_path,
    })
    problems: list[str] = list(out["problems"])
    if secret_name:
        names = None
        try:
            names = secret_contexts(client, namespace, secret_name)
        except Exception as exc:  # noqa: BLE001 - reported, never fatal for a status
            problems.append(f"Secret {secret_name}: {exc}")
        missing = [c for c in contexts if names is not None and c not in names]
        out["secret"] = {"name": secret_name, "exists": names is not None, "contexts": names or [],
                         "missingContexts": missing}
        if names is None:
            problems.append(f"Secret {namespace}/{secret_name} is missing")
        elif missing:
            problems.append(f"Secret {namespace}/{secret_name} lacks {', '.join(missing)}")
    elif contexts:
        problems.append("multi-cluster contexts set but no kubeconfig Secret mounted")
    if expected is not None:
        mismatches = []
        if contexts != expected.contexts:
            mismatches.append(f"contexts {','.join(contexts) or '(none)'} != {','.join(expected.contexts)}")
        if disabled != expected.disabled:
            mismatches.append(f"contextsDisabled {','.join(disabled) or '(none)'} != "
                              f"{','.join(expected.disabled) or '(none)'}")
        if secret_name != expected.secret:
            mismatches.append(f"secret {secret_name or '(none)'} != {expected.secret}")
        out["matchesConfig"] = not mismatches
        problems += [f"differs from config: {m}" for m in mismatches]
    out["problems"] = problems
    return out
