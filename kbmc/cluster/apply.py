"""Creating a rendered Cluster in the control plane, with the preflight the operator will not do.

The operator does not create namespaces in data planes, and it silently drops
writes to contexts it does not know: so before anything is created, check the
namespace everywhere the Cluster is placed, the ComponentDefinition, and the
operator's configured contexts. All checks run first, across clusters at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kbmc.clients import ApiError, ClientRegistry, resource_path
from kbmc.errors import InputError
from kbmc.fanout import fan_out, raise_failures
from kbmc.wait import Poll, wait_for

GROUP = "apps.kubeblocks.io"
DONE_PHASES = {"Running"}
FAILED_PHASES = {"Failed", "Abnormal", "Deleting"}


@dataclass
class ApplyParams:
    control_plane: str
    data_planes: list[str]  # where the Cluster's pods may go: the placement, or every enabled data plane
    namespace: str
    api: str
    component_def: str
    kubeblocks_namespace: str
    create_namespace: bool = False
    dry_run: bool = False


@dataclass
class ApplyResult:
    name: str
    namespace: str
    created: dict[str, Any]
    namespaces_created: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unchanged: bool = False  # a same-named Cluster with this spec already existed


def operator_contexts(registry: ClientRegistry, control_plane: str, namespace: str) -> tuple[list[str], list[str]] | None:
    """The operator's --multi-cluster-contexts and -disabled, from its live Deployment; None if not installed.

    The Deployment is found by the chart's labels (any release name: `--release kb` names it kb-kubeblocks).
    """
    from kbmc.operator import manager

    deployment = manager.deployment(registry.for_context(control_plane), namespace)
    if deployment is None:
        return None
    found = manager.live(deployment)
    return found.contexts, found.disabled


def component_definition_found(registry: ClientRegistry, control_plane: str, api: str, name: str) -> bool:
    """v1alpha1 names the ComponentDefinition exactly; v1 takes a name prefix or a regular expression."""
    client = registry.for_context(control_plane)
    path = resource_path(f"{GROUP}/{api}", "componentdefinitions")
    try:
        if api == "v1alpha1":
            return client.get_or_none(f"{path}/{name}") is not None
        items = client.get(path).get("items", [])
    except ApiError as exc:
        if exc.not_found:  # the CRD itself is missing
            return False
        raise
    try:
        pattern = re.compile(name)
    except re.error:
        pattern = None
    return any(i["metadata"]["name"].startswith(name) or (pattern and pattern.match(i["metadata"]["name"]))
               for i in items)


def preflight(registry: ClientRegistry, params: ApplyParams) -> tuple[list[str], list[str]]:
    """Check everything on every cluster; return (contexts lacking the namespace, warnings).

    Raises InputError when the Cluster cannot work as asked (nothing has been changed).
    """
    warnings: list[str] = []
    everywhere = list(dict.fromkeys([params.control_plane, *params.data_planes]))
    ns_path = resource_path("v1", "namespaces", name=params.namespace)
    results = fan_out(everywhere, lambda ctx: registry.for_context(ctx).get_or_none(ns_path) is not None)
    raise_failures(results, f"checking namespace {params.namespace!r}")
    missing = [r.context for r in results if not r.value]
    if missing and not params.create_namespace:
        raise InputError(f"namespace {params.namespace!r} does not exist in {', '.join(missing)}; the operator does not "
                         "create namespaces in data planes", hint="pass --create-namespace to create it everywhere")

    if not component_definition_found(registry, params.control_plane, params.api, params.component_def):
        warnings.append(f"ComponentDefinition {params.component_def!r} not found in {params.control_plane}: install "
                        "the etcd addon (kbcli addon enable etcd), or the Cluster will not start")
    known = operator_contexts(registry, params.control_plane, params.kubeblocks_namespace)
    if known is None:
        warnings.append(f"KubeBlocks operator not found (no manager Deployment labelled "
                        f"app.kubernetes.io/name=kubeblocks in {params.kubeblocks_namespace} of "
                        f"{params.control_plane}); the Cluster will wait for it")
    else:
        contexts, disabled = known
        unknown = [c for c in params.data_planes if c not in contexts and c != params.control_plane]
        if contexts and unknown:
            raise InputError(f"the operator does not know context(s) {', '.join(unknown)} "
                             f"(its --multi-cluster-contexts: {','.join(contexts)})",
                             hint="add them with `kbmc env prepare` and the operator's multiCluster.contexts")
        off = [c for c in params.data_planes if c in disabled]
        if off:
            raise InputError(f"context(s) {', '.join(off)} are disabled in the operator; place the Cluster elsewhere")
    return missing, warnings


def create_namespaces(registry: ClientRegistry, contexts: list[str], namespace: str) -> list[str]:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}

    def create(ctx: str) -> None:
        try:
            registry.for_context(ctx).create(resource_path("v1", "namespaces"), body)
        except ApiError as exc:
            if not exc.conflict:  # created meanwhile: fine
                raise

    raise_failures(fan_out(contexts, create), f"creating namespace {namespace!r}")
    return contexts


def apply(registry: ClientRegistry, manifest: dict[str, Any], params: ApplyParams) -> ApplyResult:
    missing, warnings = preflight(registry, params)
    created_ns: list[str] = []
    if missing and not params.dry_run:
        created_ns = create_namespaces(registry, missing, params.namespace)
    client = registry.for_context(params.control_plane)
    namespace = params.namespace
    if params.dry_run and params.control_plane in missing:
        # The server cannot dry-run into a namespace that does not exist yet: validate the
        # same Cluster in `default` instead, which exists in every cluster.
        namespace = "default"
        manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
        warnings.append(f"namespace {params.namespace!r} does not exist in {params.control_plane} yet: "
                        "the server-side dry run validated the Cluster in namespace 'default'")
    path = resource_path(f"{GROUP}/{params.api}", "clusters", namespace)
    try:
        created = client.create(path, manifest, dry_run=params.dry_run)
    except ApiError as exc:
        name = manifest["metadata"].get("name")
        if exc.conflict and name:
            existing = client.get(f"{path}/{name}")
            if _contains(existing.get("spec"), manifest.get("spec")):  # a re-run: nothing to do
                return ApplyResult(name, params.namespace, existing, [], warnings, unchanged=True)
            raise InputError(f"Cluster {params.namespace}/{name} already exists with a different spec",
                             hint="delete it first or choose another --name") from None
        if exc.status in (400, 422):
            raise InputError(f"the control plane rejected the Cluster: {exc.body.get('message', exc.reason)}") from None
        if exc.not_found and (exc.body.get("details") or {}).get("kind") != "namespaces":
            raise InputError(f"{params.control_plane} has no {GROUP}/{params.api} Cluster API: is KubeBlocks "
                             f"installed there, and does its version serve {params.api}?") from None
        raise
    return ApplyResult(created["metadata"]["name"], params.namespace, created, created_ns if not params.dry_run else missing,
                       warnings)


def _contains(actual: Any, wanted: Any) -> bool:
    """Whether `actual` holds every field of `wanted` (the server adds defaults, never removes ours)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(_contains(actual.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(actual, list) and len(actual) == len(wanted) and all(
            _contains(a, w) for a, w in zip(actual, wanted, strict=True))
    return bool(actual == wanted)


def wait_running(registry: ClientRegistry, control_plane: str, api: str, namespace: str, name: str, *,
                 timeout: float, on_progress: Callable[[str | None], None] | None = None,
                 interval: float = 2.0) -> str:
    client = registry.for_context(control_plane)
    path = resource_path(f"{GROUP}/{api}", "clusters", namespace, name)

    def check() -> Poll:
        status = client.get(path).get("status") or {}
        phase = status.get("phase") or "Creating"
        message = _condition_message(status)
        reason = f"{phase}: {message}" if message else phase
        return Poll(phase in DONE_PHASES, reason, failed=phase in FAILED_PHASES)

    return wait_for(f"Cluster {namespace}/{name} to be Running", check, timeout=timeout, interval=interval,
                    on_progress=on_progress).reason or "Running"


def _condition_message(status: dict[str, Any]) -> str:
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True" and cond.get("message"):
            return str(cond["message"])[:200]
    return ""
