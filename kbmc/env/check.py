"""`env check`: can every cluster be reached, and may kbmc's identity do what the operator needs there?

From the workstation: for each context concurrently, /version (reachability and
latency), SelfSubjectReview (who am I), and SelfSubjectAccessReviews for the
verbs and resources the operator uses. With `in_cluster`, a short-lived Job in
the control plane mounts the kubeconfig Secret exactly as the operator does and
calls each data plane from there.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kbmc.clients import ApiError, ClientRegistry, KubeClient, resource_path
from kbmc.fanout import ContextResult, fan_out

CRUD = ("get", "list", "watch", "create", "update", "patch", "delete")

# What the KubeBlocks operator does in a data plane (runbook step 3): pods, PVCs,
# services, service accounts, configmaps, secrets, jobs, role bindings (to
# kubeblocks-cluster-pod-role) and, with volume protection, cluster role bindings.
DATA_PLANE_NEEDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("", "pods", CRUD), ("", "persistentvolumeclaims", CRUD), ("", "services", CRUD),
    ("", "serviceaccounts", CRUD), ("", "configmaps", CRUD), ("", "secrets", CRUD),
    ("", "events", ("create", "patch")), ("batch", "jobs", CRUD),
    ("rbac.authorization.k8s.io", "rolebindings", CRUD),
    ("rbac.authorization.k8s.io", "clusterrolebindings", ("get", "create", "delete")),
    ("rbac.authorization.k8s.io", "clusterroles", ("get", "create", "update")),
)
# What kbmc itself (and the operator install) does in the control plane.
CONTROL_PLANE_NEEDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("", "namespaces", ("get", "create")), ("", "secrets", ("get", "create", "update", "delete")),
    ("apps", "deployments", ("get", "patch")),
    ("apiextensions.k8s.io", "customresourcedefinitions", ("get", "create")),
    ("rbac.authorization.k8s.io", "clusterroles", ("get", "create")),
)
SSAR_WORKERS = 8


@dataclass
class ContextCheck:
    context: str
    role: str  # control-plane | data-plane | control-plane+data-plane
    reachable: bool = False
    server: str = ""
    version: str | None = None
    user: str | None = None  # the effective user: after impersonation, as the operator will act
    groups: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    missing: list[str] = field(default_factory=list)
    error: str | None = None
    in_cluster: str | None = None  # the in-cluster result for data planes, when asked
    warnings: list[str] = field(default_factory=list)  # worth knowing, not failures

    @property
    def ok(self) -> bool:
        return self.reachable and self.error is None and not self.missing and self.in_cluster in (None, "ok")

    def as_dict(self) -> dict[str, Any]:
        return {"context": self.context, "role": self.role, "ok": self.ok, "reachable": self.reachable,
                "server": self.server, "version": self.version, "user": self.user, "groups": self.groups,
                "latencyMs": self.latency_ms, "missingPermissions": self.missing, "error": self.error,
                "inCluster": self.in_cluster, "warnings": self.warnings}


def roles(control_plane: str, data_planes: list[str]) -> dict[str, str]:
    out = {control_plane: "control-plane"}
    for dp in data_planes:
        out[dp] = "control-plane+data-plane" if dp == control_plane else "data-plane"
    return out


INSECURE_NOTE = "TLS not verified (insecure-skip-tls-verify): the server's identity is not checked"


def check_context(client: KubeClient, role: str) -> ContextCheck:
    """Every request is sent as the operator will send it: same credentials, same impersonation."""
    result = ContextCheck(client.context, role, server=client.server)
    if client.insecure:
        result.warnings.append(INSECURE_NOTE)
    start = time.perf_counter()
    try:
        version = client.version()
    except ApiError as exc:
        result.error = exc.summary
        return result
    result.latency_ms = round((time.perf_counter() - start) * 1000, 1)
    result.reachable = True
    result.version = version.get("gitVersion")
    try:
        review = client.create("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                               {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        info = (review.get("status") or {}).get("userInfo") or {}
        result.user = info.get("username")
        result.groups = list(info.get("groups") or [])
    except ApiError as exc:
        if exc.unauthenticated or exc.unreachable:
            result.error = exc.summary
            return result
        result.user = None  # older servers lack SelfSubjectReview; access reviews below still tell
    needs = list(DATA_PLANE_NEEDS if "data-plane" in role else ())
    if "control-plane" in role:
        needs += CONTROL_PLANE_NEEDS
    try:
        result.missing = missing_permissions(client, needs)
    except ApiError as exc:
        result.error = exc.summary
    return result


def missing_permissions(client: KubeClient, needs: list[tuple[str, str, tuple[str, ...]]]) -> list[str]:
    checks = list(dict.fromkeys((group, resource, verb) for group, resource, verbs in needs for verb in verbs))

    def allowed(item: tuple[str, str, str]) -> bool:
        group, resource, verb = item
        review = client.create("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"group": group, "resource": resource, "verb": verb}}})
        return bool((review.get("status") or {}).get("allowed"))

    # One review for everything first: an admin (the runbook's kubeconfigs, system:masters, cluster-admin) is
    # allowed every verb on every resource, and the ~70 reviews below would all say so. Authorizers answer a
    # `*` verb, resource and group only for a grant of all of them (RBAC matches `*` literally).
    if checks and allowed(("*", "*", "*")):
        return []
    with ThreadPoolExecutor(max_workers=SSAR_WORKERS) as pool:
        verdicts = list(pool.map(allowed, checks))
    return [f"{verb} {resource}{'.' + group if group else ''}" for (group, resource, verb), ok in zip(checks, verdicts, strict=True)
            if not ok]


def check_all(registry: ClientRegistry, control_plane: str, data_planes: list[str],
              on_done: Any = None) -> list[ContextCheck]:
    role_of = roles(control_plane, data_planes)
    results: list[ContextResult[ContextCheck]] = fan_out(
        role_of, lambda ctx: check_context(registry.for_context(ctx), role_of[ctx]), on_done=on_done)
    out = []
    for r in results:
        if r.value is not None:
            out.append(r.value)
        else:  # e.g. credentials that cannot even be loaded
            out.append(ContextCheck(r.context, role_of[r.context], error=r.error))
    return out


# ---- in-cluster: a Job that uses the Secret exactly as the operator does -------------------------

MOUNT_PATH = "/var/run/secrets/kubeblocks.io/multicluster"  # the operator's default multiCluster.mountPath
JOB_LABEL = "kbmc.io/check"


def container_name(index: int) -> str:
    return f"dp-{index}"


def check_job(namespace: str, secret_name: str, data_planes: list[str], image: str, name: str) -> dict[str, Any]:
    """One container per data plane, each calling its /version with the mounted kubeconfig.

    The result comes back through each container's exit code and termination message
    (the tail of its log on failure), read from the pod status: no log access needed.
    """
    containers = [{
        "name": container_name(i),
        "image": image,
        "args": [f"--kubeconfig={MOUNT_PATH}/kubeconfig", f"--context={ctx}", "get", "--raw", "/version",
                 "--request-timeout=10s"],
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        "volumeMounts": [{"name": "kubeconfig", "mountPath": MOUNT_PATH, "readOnly": True}],
    } for i, ctx in enumerate(data_planes)]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": {JOB_LABEL: "in-cluster"},
                     "annotations": {"kbmc.io/contexts": ",".join(data_planes)}},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 120,
            "ttlSecondsAfterFinished": 300,
            "template": {
                "metadata": {"labels": {JOB_LABEL: "in-cluster", "kbmc.io/job": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "containers": containers,
                    "volumes": [{"name": "kubeconfig", "secret": {"secretName": secret_name}}],
                },
            },
        },
    }


def parse_pod_result(pod: dict[str, Any], data_planes: list[str]) -> tuple[dict[str, str], str]:
    """Per data plane: "ok" or the failure, from the pod's container statuses; plus a phase summary."""
    status = pod.get("status") or {}
    by_name = {c.get("name"): c for c in status.get("containerStatuses") or []}
    results: dict[str, str] = {}
    for i, ctx in enumerate(data_planes):
        cs = by_name.get(container_name(i)) or {}
        terminated = (cs.get("state") or {}).get("terminated")
        if not terminated:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            results[ctx] = f"pending: {waiting.get('reason') or status.get('phase') or 'not started'}"
        elif terminated.get("exitCode") == 0:
            results[ctx] = "ok"
        else:
            message = (terminated.get("message") or terminated.get("reason") or "").strip().splitlines()
            results[ctx] = f"failed from inside the control plane: {message[-1] if message else 'exit ' + str(terminated.get('exitCode'))}"
    return results, str(status.get("phase") or "Pending")


def secret_contexts(client: KubeClient, namespace: str, name: str) -> list[str] | None:
    """The context names in the kubeconfig Secret, or None when there is no such Secret."""
    import base64

    from kbmc.yamlio import YamlError, load_yaml

    found = client.get_or_none(resource_path("v1", "secrets", namespace, name))
    if found is None:
        return None
    try:
        doc = load_yaml(base64.b64decode((found.get("data") or {}).get("kubeconfig", "")).decode(), name,
                        duplicate_keys="last")
    except (YamlError, ValueError, UnicodeDecodeError):
        return []
    contexts = doc.get("contexts") if isinstance(doc, dict) else None
    return [str(c.get("name")) for c in contexts or [] if isinstance(c, dict)]


def run_in_cluster(client: KubeClient, namespace: str, secret_name: str, data_planes: list[str], *, image: str,
                   timeout: float, interval: float = 1.0, on_progress: Any = None) -> dict[str, str]:
    """Create the Job, wait for its pod to finish, collect per-context results, delete the Job."""
    import secrets as random

    from kbmc.errors import WaitTimeout
    from kbmc.wait import Poll, wait_for

    # Without the Secret (or a context in it) the pod could never start: say so instead of timing out.
    present = secret_contexts(client, namespace, secret_name)
    if present is None:
        return {ctx: f"not run: Secret {namespace}/{secret_name} not found (run `kbmc env prepare`)"
                for ctx in data_planes}
    absent = {ctx: f"not run: context {ctx!r} is not in Secret {namespace}/{secret_name} (run `kbmc env prepare`)"
              for ctx in data_planes if ctx not in present}
    data_planes = [ctx for ctx in data_planes if ctx in present]
    if not data_planes:
        return absent

    name = f"kbmc-check-{random.token_hex(3)}"
    jobs = resource_path("batch/v1", "jobs", namespace)
    client.create(jobs, check_job(namespace, secret_name, data_planes, image, name))
    latest: dict[str, Any] = {"results": {ctx: "pending: job created" for ctx in data_planes}}
    try:
        def finished() -> Poll:
            pods = client.get(resource_path("v1", "pods", namespace), labelSelector=f"kbmc.io/job={name}")["items"]
            if not pods:
                return Poll(False, "waiting for the Job's pod")
            results, phase = parse_pod_result(pods[0], data_planes)
            latest["results"] = results
            done = phase in ("Succeeded", "Failed") or all(not r.startswith("pending") for r in results.values())
            return Poll(done, f"pod {phase}")

        try:
            wait_for(f"in-cluster check Job {namespace}/{name}", finished, timeout=timeout, interval=interval,
                     on_progress=on_progress)
        except WaitTimeout as exc:
            return absent | {ctx: (f"timed out: {exc.last_reason}" if r.startswith("pending") else r)
                             for ctx, r in latest["results"].items()}
        return absent | dict(latest["results"])
    finally:
        client.delete(f"{jobs}/{name}", propagation="Background")
        # The garbage collector would remove the pod later; delete it now so nothing is left behind.
        for pod in client.get(resource_path("v1", "pods", namespace), labelSelector=f"kbmc.io/job={name}")["items"]:
            client.delete(resource_path("v1", "pods", namespace, pod["metadata"]["name"]))
