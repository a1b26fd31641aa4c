"""`rbac sync`: plan, diff and write the pod RBAC copies, one data plane at a time, all at once.

Per data plane and role: read the live copy; equal to the desired one -> `unchanged`, nothing
written; missing -> create; different -> replace the whole object, guarded by its resourceVersion
(so a stale `aggregationRule` left by a hand-made copy goes, and a concurrent edit is not lost).
A data plane that fails (down, forbidden, conflict) fails its own row only.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kbmc import identity
from kbmc.clients import FIELD_MANAGER, ApiError, ClientRegistry, KubeClient
from kbmc.errors import InputError, KbmcError, OperationError
from kbmc.fanout import ContextResult, fan_out
from kbmc.rbac import source
from kbmc.validation import path_segment_name

CREATED, UPDATED, UNCHANGED, SKIPPED, FAILED = "created", "updated", "unchanged", "skipped", "failed"


@dataclass
class SyncParams:
    control_plane: str
    data_planes: list[str]  # every data plane named, disabled ones included
    disabled: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=lambda: list(source.DEFAULT_ROLES))
    dry_run: bool = False
    diff: bool = False
    force: bool = False  # take over a role someone else owns (helm, the API server's defaults)


@dataclass
class RoleChange:
    name: str
    action: str  # created | updated | unchanged | failed
    resource_version: str | None = None
    diff: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "action": self.action, "resourceVersion": self.resource_version}
        if self.diff is not None:
            out["diff"] = self.diff
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class ContextSync:
    context: str
    result: str  # created | updated | unchanged | skipped | failed
    reason: str | None = None
    roles: list[RoleChange] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result != FAILED

    def as_dict(self) -> dict[str, Any]:
        return {"context": self.context, "result": self.result, "reason": self.reason,
                "roles": [r.as_dict() for r in self.roles]}


@dataclass
class SyncResult:
    control_plane: str
    dry_run: bool
    roles: list[source.SourceRole]
    contexts: list[ContextSync]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.contexts)

    def as_dict(self) -> dict[str, Any]:
        return {"controlPlane": self.control_plane, "dryRun": self.dry_run, "ok": self.ok,
                "roles": [{"name": r.name, "flattened": bool(r.aggregated_from), "aggregatedFrom": r.aggregated_from,
                           "rules": len(r.desired["rules"])} for r in self.roles],
                "contexts": [c.as_dict() for c in self.contexts]}


def check_params(params: SyncParams) -> None:
    """Bad input, found before any cluster is called."""
    if not params.roles:
        raise InputError("no ClusterRole to sync", hint="pass --role NAME or leave it out for the defaults")
    for name in params.roles:
        if err := path_segment_name(name):
            raise InputError(f"--role: {err}")
    twice = sorted({r for r in params.roles if params.roles.count(r) > 1})
    if twice:
        raise InputError(f"--role names {', '.join(twice)} twice", hint="give each ClusterRole once")
    if not params.data_planes:
        raise InputError("no data planes given", hint="pass --data-planes or list them in kbmc.yaml")


def targets(params: SyncParams, ids: dict[str, str] | None = None) -> tuple[list[str], list[ContextSync]]:
    """The data planes to write, and a `skipped` row for each one left out (and why).

    `ids` (context -> cluster identity, kbmc.identity) also recognises the control plane under another context name.
    """
    ids = ids or {}
    cp_id = ids.get(params.control_plane)
    write: list[str] = []
    skipped: list[ContextSync] = []
    for ctx in dict.fromkeys(params.data_planes):
        if ctx in params.disabled:
            skipped.append(ContextSync(ctx, SKIPPED, "disabled in the topology file"))
        elif ctx == params.control_plane or (cp_id is not None and ids.get(ctx) == cp_id):
            skipped.append(ContextSync(ctx, SKIPPED, "the control plane itself: it holds the source roles"))
        else:
            write.append(ctx)
    return write, skipped


def sync(registry: ClientRegistry, params: SyncParams,
         on_done: Callable[[ContextSync], None] | None = None) -> SyncResult:
    """Copy the roles to every enabled data plane; every data plane gets a row, failures included."""
    check_params(params)
    # A disabled data plane need not be in the kubeconfig any more (it may be gone).
    enabled = [c for c in dict.fromkeys(params.data_planes) if c not in params.disabled]
    # Which cluster each context reaches, asked of the clusters themselves, all at once: an alias of the control
    # plane must never be written, and one data plane under two names would be written twice at once.
    found = identity.clusters(registry, [params.control_plane, *enabled])
    if params.control_plane in found.failed:
        raise OperationError(f"{params.control_plane}: {identity.why(found.failed[params.control_plane])}; "
                             "nothing was written")
    groups = found.aliases(c for c in enabled if not found.same(c, params.control_plane))
    if groups:
        named = "; ".join(f"data planes {' and '.join(g)} are one cluster" for g in groups)
        raise InputError(f"{named} (the same kube-system namespace); nothing was written",
                         hint="name each data plane once in --data-planes or kbmc.yaml")
    write, skipped = targets(params, found.ids)
    unknown = {c: ContextSync(c, FAILED, identity.why(found.failed[c])) for c in write if c in found.failed}
    write = [c for c in write if c not in unknown]
    # Read everything first: a missing source role stops the run before any data plane is touched.
    roles = source.read(registry.for_context(params.control_plane), params.control_plane, params.roles)

    def one(ctx: str) -> ContextSync:
        return sync_context(registry.for_context(ctx), roles, dry_run=params.dry_run, diff=params.diff,
                            force=params.force)

    def row(r: ContextResult[ContextSync]) -> ContextSync:
        if r.value is not None:
            return r.value
        reason = _reason(r.exception, r.context) if isinstance(r.exception, KbmcError) else r.error
        return ContextSync(r.context, FAILED, reason)

    if on_done is not None:
        for failed in unknown.values():
            on_done(failed)
    results = fan_out(write, one, on_done=None if on_done is None else lambda r: on_done(row(r)))
    rows = {r.context: row(r) for r in results}
    rows.update(unknown)
    rows.update({s.context: s for s in skipped})
    ordered = [rows[c] for c in dict.fromkeys(params.data_planes)]
    return SyncResult(params.control_plane, params.dry_run, roles, ordered)


def sync_context(client: KubeClient, roles: list[source.SourceRole], *, dry_run: bool, diff: bool,
                 force: bool = False) -> ContextSync:
    """One data plane: each role in turn; the first failure ends this data plane's run (and only its)."""
    changes: list[RoleChange] = []
    for role in roles:
        try:
            changes.append(sync_role(client, role, dry_run=dry_run, diff=diff, force=force))
        except KbmcError as exc:
            reason = _reason(exc, client.context)
            changes.append(RoleChange(role.name, FAILED, error=reason))
            return ContextSync(client.context, FAILED, f"{role.name}: {reason}", changes)
    actions = {c.action for c in changes}
    result = actions.pop() if len(actions) == 1 else UPDATED
    return ContextSync(client.context, result, None, changes)


def owner(role: dict[str, Any]) -> str | None:
    """Who other than kbmc owns a ClusterRole, from its marks; None for kbmc's own copy or an unmarked one."""
    meta = role.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if labels.get("kubernetes.io/bootstrapping") == "rbac-defaults":
        return "a Kubernetes default role (kubernetes.io/bootstrapping: rbac-defaults)"
    release = annotations.get(source.HELM_ANNOTATION_PREFIX + "release-name")
    if release:
        where = annotations.get(source.HELM_ANNOTATION_PREFIX + "release-namespace")
        return f"managed by helm release {release}" + (f" in namespace {where}" if where else "")
    if any(k.startswith(source.HELM_ANNOTATION_PREFIX) for k in annotations):
        return "managed by helm (meta.helm.sh annotations)"
    manager = labels.get(source.MANAGED_BY)
    if manager and manager != source.MANAGER:
        return f"managed by {manager} ({source.MANAGED_BY}: {manager})"
    return None


def sync_role(client: KubeClient, role: source.SourceRole, *, dry_run: bool, diff: bool,
              force: bool = False) -> RoleChange:
    desired = role.desired
    path = source.role_path(role.name)
    live = client.get_or_none(path)
    if live is not None and not force and comparable(live) != desired and (who := owner(live)):
        raise OperationError(f"ClusterRole {role.name} here is {who}, not a copy of kbmc's; left as it is",
                             hint="pass --force to take it over")
    query = {"fieldManager": FIELD_MANAGER, "fieldValidation": "Strict", "dryRun": "All" if dry_run else None}
    if live is None:
        created = client.request("POST", source.role_path(), body=desired, query=query)
        return RoleChange(role.name, CREATED, _rv(created, dry_run),
                          render_diff(client.context, role.name, None, desired) if diff else None)
    current = comparable(live)
    if current == desired:
        return RoleChange(role.name, UNCHANGED, live["metadata"].get("resourceVersion"))
    body = {**desired, "metadata": {**desired["metadata"], "resourceVersion": live["metadata"]["resourceVersion"]}}
    try:
        updated = client.request("PUT", path, body=body, query=query)
    except ApiError as exc:
        if exc.conflict:
            raise OperationError(f"ClusterRole {role.name} changed while kbmc was updating it; "
                                 "nothing was overwritten, run the command again") from None
        raise
    return RoleChange(role.name, UPDATED, _rv(updated, dry_run),
                      render_diff(client.context, role.name, current, desired) if diff else None)


def _rv(obj: Any, dry_run: bool) -> str | None:
    if dry_run or not isinstance(obj, dict):
        return None
    return (obj.get("metadata") or {}).get("resourceVersion")


def comparable(live: dict[str, Any]) -> dict[str, Any]:
    """The live object reduced to what a copy sets, in the copy's shape (so equal means nothing to write)."""
    meta = {k: v for k, v in (live.get("metadata") or {}).items() if k not in source.SERVER_FIELDS}
    for key in ("labels", "annotations"):
        if meta.get(key):
            meta[key] = dict(sorted(meta[key].items()))
        else:
            meta.pop(key, None)
    out: dict[str, Any] = {"apiVersion": source.API_VERSION, "kind": source.KIND, "metadata": meta}
    out["rules"] = live.get("rules") or []
    if live.get("aggregationRule") is not None:  # even an empty one makes the controller own the rules
        out["aggregationRule"] = live["aggregationRule"]
    return out


def render_diff(context: str, name: str, before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """A unified diff of the copy in one data plane, as YAML."""
    from kbmc.yamlio import dump_yaml

    old = dump_yaml(before).splitlines(keepends=True) if before is not None else []
    new = dump_yaml(after).splitlines(keepends=True)
    label = f"{context}: ClusterRole/{name}"
    return "".join(difflib.unified_diff(old, new, f"{label} (live)" if before is not None else "/dev/null",
                                        f"{label} (after sync)"))


def _reason(exc: KbmcError, context: str) -> str:
    """An error as a row's reason: what went wrong, without the context the row already names."""
    if isinstance(exc, ApiError):
        return exc.summary
    text = str(exc)
    for prefix in (f"{context}: ", f"context {context!r}: "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text
