"""`env prepare`: the Secret holding the data planes' kubeconfig, which the operator mounts.

Runbook step 1: in the control plane, namespace kb-system, a Secret of type
`kubernetes.kubeconfig` with key `kubeconfig`. The operator loads each context
from it by explicit path, from inside a pod: so the kubeconfig must be
self-contained (file references inlined) and must not need anything only the
user's workstation has (exec plugins, loopback servers).
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from typing import Any

from kbmc import kubeconfig as kc
from kbmc import redact
from kbmc.clients import ApiError, ClientRegistry, resource_path
from kbmc.errors import InputError, OperationError, ValidationError
from kbmc.validation import context_name, dns1123_label, dns1123_subdomain
from kbmc.yamlio import dump_yaml, load_yaml

SECRET_TYPE = "kubernetes.kubeconfig"
SECRET_KEY = "kubeconfig"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kbmc"}


@dataclass
class PrepareParams:
    control_plane: str
    data_planes: list[str]
    namespace: str
    secret_name: str
    server_overrides: dict[str, str] = field(default_factory=dict)
    allow_loopback: bool = False
    force: bool = False
    allow_remove: bool = False
    dry_run: bool = False


@dataclass
class PrepareResult:
    namespace: str
    name: str
    action: str  # created | updated | replaced | unchanged
    added: list[str]
    removed: list[str]
    changed: list[str]
    namespace_created: bool
    secret: dict[str, Any]  # the desired Secret, with real data: redact before showing
    resource_version: str | None = None
    dry_run: bool = False

    @property
    def verb(self) -> str:
        """The action as said to the user: "created", or "would create" in a dry run."""
        if not self.dry_run or self.action == "unchanged":
            return self.action
        return "would " + self.action[:-1]



def parse_server_overrides(values: list[str], data_planes: list[str]) -> dict[str, str]:
    """`--server CONTEXT=URL` values, checked."""
    overrides: dict[str, str] = {}
    for value in values:
        redact.register_url(value.partition("=")[2])  # before any message can quote it
    for value in values:
        context, sep, url = value.partition("=")
        if not sep or not context or not url:
            raise InputError(f"--server {value!r} must be CONTEXT=URL", hint="e.g. --server k8s-1=https://10.0.0.11:6443")
        if context not in data_planes:
            raise InputError(f"--server {value!r}: {context!r} is not a data plane ({', '.join(data_planes)})")
        try:
            parts = kc.go_parse_url(url)  # as client-go will parse it in the operator
            kc.parse_server(url)
        except ValueError as exc:
            raise InputError(f"--server {context}=…: not a URL client-go accepts (bad host or port, or user info "
                             f"it rejects: {exc})",
                             hint="percent-encode special characters in the user info, e.g. %20 for a space") from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise InputError(f"--server {value!r}: {url!r} is not an http(s) URL with a host")
        if context in overrides:
            raise InputError(f"--server names {context!r} twice")
        overrides[context] = url
    return overrides


def build_kubeconfig(kube: kc.KubeConfig, params: PrepareParams) -> dict[str, Any]:
    """The kubeconfig to ship, or InputError listing every reason it would not work in a pod."""
    problems: list[str] = []
    for name in params.data_planes:
        try:
            entry = kube.context(name)
        except InputError as exc:
            problems.append(exc.message)
            continue
        problems += kc.in_pod_problems(entry, allow_loopback=params.allow_loopback,
                                       server_override=params.server_overrides.get(name))
    if problems:
        raise ValidationError("kubeconfig", problems)
    # No current-context: the operator names each context explicitly, and nothing
    # should silently default to one data plane.
    return kube.minimal(params.data_planes, inline=True, server_overrides=params.server_overrides,
                        current_context="")


def desired_secret(params: PrepareParams, kubeconfig: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": params.secret_name, "namespace": params.namespace, "labels": dict(MANAGED_BY),
                     "annotations": {"kbmc.io/contexts": ",".join(params.data_planes)}},
        "type": SECRET_TYPE,
        "data": {SECRET_KEY: base64.b64encode(dump_yaml(kubeconfig).encode()).decode()},
    }


def check_params(params: PrepareParams) -> None:
    for what, value, check in (("namespace", params.namespace, dns1123_label),
                               ("--secret-name", params.secret_name, dns1123_subdomain)):
        if err := check(value):
            raise InputError(f"{what}: {err}")
    if not params.data_planes:
        raise InputError("no data planes given", hint="pass --data-planes or list them in kbmc.yaml")
    for name in params.data_planes:  # the operator splits its context list at commas
        if err := context_name(name):
            raise InputError(f"data plane {err}")


def prepare(kube: kc.KubeConfig, registry: ClientRegistry, params: PrepareParams) -> PrepareResult:
    """Create or update the Secret; every input is checked before the control plane is touched."""
    check_params(params)
    kube.context(params.control_plane)
    kubeconfig = build_kubeconfig(kube, params)
    desired = desired_secret(params, kubeconfig)

    client = registry.for_context(params.control_plane)
    ns_path = resource_path("v1", "namespaces", name=params.namespace)
    secret_path = resource_path("v1", "secrets", params.namespace, params.secret_name)
    namespace_exists = client.get_or_none(ns_path) is not None
    current = client.get_or_none(secret_path) if namespace_exists else None

    def result(action: str, added: list[str], removed: list[str], changed: list[str], rv: str | None) -> PrepareResult:
        return PrepareResult(params.namespace, params.secret_name, action, added, removed, changed,
                             not namespace_exists, desired, rv, params.dry_run)

    if current is None:
        if not params.dry_run:
            if not namespace_exists:
                client.create(resource_path("v1", "namespaces"),
                              {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": params.namespace}})
            try:
                created = client.create(resource_path("v1", "secrets", params.namespace), desired)
            except ApiError as exc:
                if exc.conflict:  # created by someone else since it was read: theirs stays
                    raise OperationError(f"Secret {params.namespace}/{params.secret_name} was created by someone else "
                                         "while kbmc was creating it; nothing was overwritten, run the command again"
                                         ) from None
                raise
            return result("created", list(params.data_planes), [], [], created["metadata"]["resourceVersion"])
        return result("created", list(params.data_planes), [], [], None)

    existing_kubeconfig = _existing_kubeconfig(current, params)
    where = f"Secret {params.namespace}/{params.secret_name}"
    # Every key kbmc does not own stays as it is (a CA bundle, notes, another tool's data).
    kept = {k: v for k, v in (current.get("data") or {}).items() if k != SECRET_KEY}
    desired = {**desired, "data": {**kept, **desired["data"]}}
    if current.get("immutable"):
        desired["immutable"] = True
    if existing_kubeconfig is None:  # another type, and --force given: replace it whole (type is immutable)
        # Its kubeconfig key, when readable, is what the operator may be loading: same guard, same report.
        added, removed, changed = diff_contexts(_readable_kubeconfig(current, params, lenient=True), kubeconfig)
        if removed and not params.allow_remove:
            _refuse_removing_live_contexts(registry, params, removed)
        if not params.dry_run:
            created = _recreate(client, current, desired, secret_path, params)
            return result("replaced", added, removed, changed, created["metadata"]["resourceVersion"])
        return result("replaced", added, removed, changed, None)

    added, removed, changed = diff_contexts(existing_kubeconfig, kubeconfig)
    if removed and not params.allow_remove:
        _refuse_removing_live_contexts(registry, params, removed)
    rv = current["metadata"]["resourceVersion"]
    same_labels = all((current["metadata"].get("labels") or {}).get(k) == v for k, v in MANAGED_BY.items())
    if existing_kubeconfig == kubeconfig and same_labels:
        return PrepareResult(params.namespace, params.secret_name, "unchanged", [], [], [], False, desired, rv)
    if current.get("immutable") and not params.force:
        raise OperationError(f"{where} is immutable (immutable: true), so its kubeconfig cannot be updated; nothing "
                             f"was changed. Pass --force to delete and recreate it (other keys kept), or delete it "
                             f"yourself")
    if params.dry_run:
        return result("replaced" if current.get("immutable") else "updated", added, removed, changed, rv)
    if current.get("immutable"):
        created = _recreate(client, current, desired, secret_path, params)
        return result("replaced", added, removed, changed, created["metadata"]["resourceVersion"])
    body = dict(desired)
    metadata = dict(current["metadata"])
    metadata["labels"] = {**(metadata.get("labels") or {}), **MANAGED_BY}
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **desired["metadata"]["annotations"]}
    body["metadata"] = metadata  # carries resourceVersion: a concurrent change makes this fail, not vanish
    try:
        updated = client.replace(secret_path, body)
    except ApiError as exc:
        if exc.conflict:
            raise OperationError(f"Secret {params.namespace}/{params.secret_name} changed while kbmc was updating it; "
                                 "nothing was overwritten, run the command again") from None
        if exc.status == 422 and "immutable" in str(exc.body.get("message", "")):
            raise OperationError(f"{where} became immutable while kbmc was updating it; nothing was changed "
                                 f"(pass --force to recreate it)") from None
        raise
    return result("updated", added, removed, changed, updated["metadata"]["resourceVersion"])


# Fields the API server sets; an object sent back to create again must not carry them.
_SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink",
                  "deletionTimestamp", "deletionGracePeriodSeconds")


def _recreate(client: Any, current: dict[str, Any], desired: dict[str, Any], secret_path: str,
              params: PrepareParams) -> dict[str, Any]:
    """Delete (only this exact object: uid precondition) and create again, for what cannot be updated.

    Nothing is deleted unless the create is proven to succeed first: a Secret with finalizers (it would
    linger as "being deleted" and the create would get 409) is refused, and both the delete and the exact
    new object (under a generated probe name) go through a server-side dry run, which runs RBAC, admission
    and size validation. If the create still fails after the delete, the old Secret is put back as it was.
    """
    where = f"Secret {params.namespace}/{params.secret_name}"
    meta = current["metadata"]
    if meta.get("finalizers") or meta.get("deletionTimestamp"):
        state = "is being deleted" if meta.get("deletionTimestamp") else \
            f"has finalizers ({', '.join(map(str, meta.get('finalizers') or []))})"
        raise OperationError(f"{where} {state}: deleting and recreating it would leave the old one terminating and "
                             f"the new one could not be created; nothing was changed",
                             hint="remove its finalizers (or let the deletion finish) and run the command again")
    body = dict(desired)
    metadata = dict(desired["metadata"])
    metadata["labels"] = {**(meta.get("labels") or {}), **MANAGED_BY}
    metadata["annotations"] = {**(meta.get("annotations") or {}), **desired["metadata"]["annotations"]}
    body["metadata"] = metadata
    collection = resource_path("v1", "secrets", params.namespace)
    delete_options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": meta["uid"]}}
    probe = {**body, "metadata": {**{k: v for k, v in metadata.items() if k != "name"},
                                  "generateName": f"{params.secret_name[:200]}-kbmc-probe-"}}
    try:
        # In the body: the API server reads DeleteOptions from a body and ignores the query then.
        client.request("DELETE", secret_path, body={**delete_options, "dryRun": ["All"]})
        client.create(collection, probe, dry_run=True)
    except ApiError as exc:
        raise OperationError(f"{where} is immutable and cannot be recreated: a dry run of the delete and create "
                             f"failed ({exc.summary}); nothing was changed") from None
    client.request("DELETE", secret_path, body=delete_options)
    try:
        created: dict[str, Any] = client.create(collection, body)
        return created
    except ApiError as exc:
        failure = exc.summary
    restore = copy.deepcopy(current)
    for key in _SERVER_FIELDS:
        restore["metadata"].pop(key, None)
    restore.pop("status", None)
    try:
        client.create(collection, restore)
    except ApiError as exc:
        backup = _backup(current, params)
        raise OperationError(f"{where}: deleted the old Secret, then creating the new one failed ({failure}) and "
                             f"putting the old one back failed too ({exc.summary}); the old Secret is saved in "
                             f"{backup} (mode 0600): restore it with kubectl create -f {backup}") from None
    raise OperationError(f"{where}: deleted the old Secret, then creating the new one failed ({failure}); the old "
                         f"Secret was put back as it was (same data and keys, new uid); the kubeconfig was not "
                         f"updated")


def _backup(secret: dict[str, Any], params: PrepareParams) -> str:
    """The Secret as JSON in a new 0600 file (the last copy of its data); returns the path."""
    import json
    import os
    import tempfile

    restore = copy.deepcopy(secret)
    for key in _SERVER_FIELDS:
        restore["metadata"].pop(key, None)
    fd, path = tempfile.mkstemp(prefix=f"kbmc-{params.namespace}-{params.secret_name}-", suffix=".json")
    with os.fdopen(fd, "w") as f:  # mkstemp creates it 0600
        json.dump(restore, f, indent=2)
    return path


def _refuse_removing_live_contexts(registry: ClientRegistry, params: PrepareParams, removed: list[str]) -> None:
    """The operator loads every context of its --multi-cluster-contexts from this Secret: never pull one away.

    Every KubeBlocks manager Deployment in the namespace counts, whatever its release name.
    """
    from kbmc.operator import manager

    try:
        found = manager.deployments(registry.for_context(params.control_plane), params.namespace)
    except ApiError as exc:
        if exc.status != 403:
            raise
        raise OperationError(
            f"cannot tell whether the operator still uses {', '.join(removed)}: listing Deployments in "
            f"{params.namespace} is forbidden (403); nothing was changed",
            hint="pass --allow-remove if the operator no longer lists them") from None
    for live in map(manager.live, found):
        in_use = [c for c in removed if c in live.contexts]
        if in_use:
            one = "it" if len(in_use) == 1 else "them"
            raise InputError(
                f"refusing to remove {', '.join(in_use)} from Secret {params.namespace}/{params.secret_name}: the "
                f"operator (Deployment {params.namespace}/{live.name}) still lists {one} in "
                f"--multi-cluster-contexts={','.join(live.contexts)} and would fail to load {one}; nothing was changed",
                hint="remove them from the operator's multiCluster.contexts first, or pass --allow-remove")


def _existing_kubeconfig(current: dict[str, Any], params: PrepareParams) -> dict[str, Any] | None:
    """The kubeconfig in an existing Secret; refuses a Secret kbmc should not overwrite."""
    where = f"Secret {params.namespace}/{params.secret_name}"
    kind = current.get("type")
    data = current.get("data") or {}
    labels = current["metadata"].get("labels") or {}
    problem = None
    if kind != SECRET_TYPE:
        problem = f"{where} exists with type {kind!r}, not {SECRET_TYPE!r}"
    elif any(labels.get(k) != v for k, v in MANAGED_BY.items()):
        problem = (f"{where} exists but kbmc did not create it (no label "
                   f"{', '.join(f'{k}={v}' for k, v in MANAGED_BY.items())})")
        if SECRET_KEY not in data:
            problem += f" and it has no key {SECRET_KEY!r}"
    if problem:
        if not params.force:
            raise InputError(problem, hint="pass --force to take it over (its other keys are kept), "
                                           "or choose another --secret-name")
        if kind != SECRET_TYPE:
            return None
    return _readable_kubeconfig(current, params)


def _readable_kubeconfig(current: dict[str, Any], params: PrepareParams, lenient: bool = False) -> dict[str, Any]:
    """The kubeconfig under the Secret's `kubeconfig` key, whatever the Secret's type; {} if none is readable.

    `lenient`: a key that is not YAML at all (another tool's Secret) reads as no kubeconfig instead of an error.
    """
    data = current.get("data") or {}
    if SECRET_KEY not in data:
        return {}
    try:
        doc = load_yaml(base64.b64decode(data[SECRET_KEY]).decode(),
                        f"Secret {params.namespace}/{params.secret_name}", duplicate_keys="last")
    except (ValueError, UnicodeDecodeError):
        doc = None
    except InputError:
        if not lenient:
            raise
        doc = None
    return doc if isinstance(doc, dict) else {}


def diff_contexts(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """Context names added, removed and changed (their cluster or credentials differ) — never the values."""
    def resolved(doc: dict[str, Any]) -> dict[str, Any]:
        clusters = {c.get("name"): c.get("cluster") for c in doc.get("clusters") or [] if isinstance(c, dict)}
        users = {u.get("name"): u.get("user") for u in doc.get("users") or [] if isinstance(u, dict)}
        out: dict[str, Any] = {}
        for ctx in doc.get("contexts") or []:
            if isinstance(ctx, dict) and isinstance(ctx.get("context"), dict):
                body = ctx["context"]
                out[str(ctx.get("name"))] = (clusters.get(body.get("cluster")), users.get(body.get("user")),
                                        body.get("namespace"))
        return out

    before, after = resolved(old), resolved(new)
    added = [n for n in after if n not in before]
    removed = [n for n in before if n not in after]
    changed = [n for n in after if n in before and before[n] != after[n]]
    return added, removed, changed


def redacted_secret(secret: dict[str, Any]) -> dict[str, Any]:
    """The Secret as a user may see it: kubeconfig as readable stringData, credentials replaced."""
    kubeconfig = load_yaml(base64.b64decode(secret["data"][SECRET_KEY]).decode(), "secret", duplicate_keys="last")
    out = {k: v for k, v in secret.items() if k != "data"}
    out["stringData"] = {SECRET_KEY: dump_yaml(kc.redact_doc(kubeconfig))}
    return out


def revealed_secret(secret: dict[str, Any]) -> dict[str, Any]:
    """The Secret with its real kubeconfig as stringData (only for --show-secrets)."""
    out = {k: v for k, v in secret.items() if k != "data"}
    out["stringData"] = {SECRET_KEY: base64.b64decode(secret["data"][SECRET_KEY]).decode()}
    return out
