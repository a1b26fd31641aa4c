"""`contexts add/remove`: a data plane joins or leaves, every step of it, resumable.

add: validate (in the kubeconfig, reachable, the Secret can take it) -> the Secret (env prepare) -> the
operator's contexts (through the release, as `disable` does) -> the pod RBAC (rbac sync) -> the mesh.
remove: refuse while KubeBlocks pods/PVCs are placed there -> the mesh -> the operator's contexts and disabled
list -> the Secret -> with --purge, kbmc's RBAC copies there. Each step first looks whether it is already done,
so a re-run resumes where a failed one stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbmc import kubeconfig as kc
from kbmc.clients import ApiError, ClientRegistry, resource_path
from kbmc.contexts import lease
from kbmc.contexts import live as lv
from kbmc.contexts.toggle import ToggleParams, _check_helm, mode, refuse_hand_added_args, write_operator
from kbmc.errors import InputError, OperationError
from kbmc.operator import status as st
from kbmc.runner import Runner

DONE, SKIP, TODO = "done", "already done", "would run"


@dataclass
class MeshParams:
    """With `network.eastWest: cilium`: the data plane joins/leaves the Cilium mesh (kbmc/network/cilium.py)."""

    member: Any = None  # cilium.Member: kbmc.yaml's Cilium values for the context (installed when missing)
    max_connected: int = 255
    timeout: float = 900.0


@dataclass
class MemberParams:
    control_plane: str
    context: str
    namespace: str
    release: str
    secret_name: str
    via: str = "auto"
    chart: str | None = None
    server: str | None = None
    allow_loopback: bool = False
    force: bool = False
    purge: bool = False
    dry_run: bool = False
    timeout: float = 300.0
    kubeconfig_path: str | None = None
    config_path: str | None = None  # the kbmc.yaml in use (remove takes the data plane out of it)

    def toggle(self) -> ToggleParams:
        return ToggleParams(self.control_plane, [self.context], False, self.namespace, self.release, via=self.via,
                            chart=self.chart, timeout=self.timeout, kubeconfig_path=self.kubeconfig_path)


@dataclass
class Step:
    name: str
    status: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"step": self.name, "status": self.status, "detail": self.detail}


@dataclass
class MemberResult:
    context: str
    action: str  # add | remove
    dry_run: bool
    steps: list[Step] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"context": self.context, "action": self.action, "dryRun": self.dry_run,
                "steps": [s.as_dict() for s in self.steps]}


def _secret_name(live: lv.Live, fallback: str) -> str:
    args = st.manager_container(live.manager).get("args") or []
    return st.mounted_secret(live.manager, st.flag_value(args, st.FLAG_KUBECONFIG)) or fallback


def _prepare(kube: kc.KubeConfig, registry: ClientRegistry, p: MemberParams, secret: str, contexts: list[str],
             *, dry_run: bool) -> Any:
    from kbmc.env.secret import PrepareParams, prepare

    return prepare(kube, registry, PrepareParams(
        p.control_plane, contexts, p.namespace, secret, {p.context: p.server} if p.server else {},
        allow_loopback=p.allow_loopback, dry_run=dry_run))


def add(kube: kc.KubeConfig, registry: ClientRegistry, runner: Runner, p: MemberParams, mesh: MeshParams | None,
        on_progress: Callable[[str], None] = lambda _: None) -> MemberResult:
    from kbmc.operator.preflight import secret_contexts
    from kbmc.rbac.sync import SyncParams, sync

    kube.context(p.context)  # bad input: not in the kubeconfig
    cp = registry.for_context(p.control_plane)
    live = lv.read(cp, p.namespace, p.release)
    via = mode(live, p.toggle())
    if via == "helm" and not p.dry_run:
        _check_helm(runner)
    if via == "helm" and p.context not in _release_contexts(live):
        refuse_hand_added_args(cp, p.toggle(), live, list(dict.fromkeys([*live.contexts, p.context])))
    try:
        registry.for_context(p.context).version()
    except ApiError as exc:
        raise OperationError(f"{p.context} is not reachable from here: {exc.summary}; nothing was changed") from None
    secret = _secret_name(live, p.secret_name)
    in_secret = secret_contexts(cp, p.namespace, secret) or []
    wanted = list(dict.fromkeys([*in_secret, *live.contexts, p.context]))
    plan = _prepare(kube, registry, p, secret, wanted, dry_run=True)
    if plan.changed:  # rebuilding the Secret from this kubeconfig would change members' entries
        raise InputError(f"adding {p.context} would also change {', '.join(plan.changed)} in Secret "
                         f"{p.namespace}/{secret} (built from this kubeconfig)",
                         hint="run `kbmc env prepare` with the --server overrides you used, listing the new context too")
    members = [c for c in live.contexts if c != p.context]
    change = None
    if mesh is not None:  # read and checked before anything changes
        from kbmc.network import cilium

        change = cilium.plan_join(registry, runner, p.context, members, mesh.member,
                                  max_connected=mesh.max_connected, timeout=mesh.timeout,
                                  kubeconfig=p.kubeconfig_path)
    result = MemberResult(p.context, "add", p.dry_run)
    if p.dry_run:
        result.steps = [
            Step("secret", SKIP if p.context in in_secret else TODO, f"Secret {p.namespace}/{secret}"),
            Step("operator", SKIP if p.context in live.contexts else TODO,
                 f"contexts {','.join([*members, p.context])} via {via}"),
            Step("rbac", TODO, f"kbmc rbac sync to {p.context}"),
            _mesh_step(change, dry_run=True),
        ]
        return result
    on_progress(f"Secret {secret}: adding {p.context}")
    done = _prepare(kube, registry, p, secret, wanted, dry_run=False)
    result.steps.append(Step("secret", SKIP if done.action == "unchanged" else DONE,
                             f"Secret {p.namespace}/{secret} {done.action}"))
    with lease.held(cp, p.namespace, timeout=p.timeout):
        live = lv.read(cp, p.namespace, p.release)
        if p.context in live.contexts and (via == "deployment" or not live.helm_managed or _release_contexts(live)
                                           == live.contexts):
            result.steps.append(Step("operator", SKIP, f"contexts {','.join(live.contexts)}"))
        else:
            contexts = list(dict.fromkeys([*live.contexts, p.context]))
            on_progress(f"operator: contexts {','.join(contexts)}")
            write_operator(cp, runner, p.toggle(), live, via, contexts, live.disabled, on_progress)
            result.steps.append(Step("operator", DONE, f"contexts {','.join(contexts)} via {via}"))
    on_progress(f"rbac sync to {p.context}")
    synced = sync(registry, SyncParams(p.control_plane, [p.context]))
    if not synced.ok:
        raise OperationError(f"rbac sync to {p.context} failed: "
                             + "; ".join(c.reason or c.result for c in synced.contexts if not c.ok))
    rbac_done = SKIP if all(c.result == "unchanged" for c in synced.contexts) else DONE
    result.steps.append(Step("rbac", rbac_done, ", ".join(f"{c.context}: {c.result}" for c in synced.contexts)))
    if change is not None and change.actions:
        from kbmc.network import cilium

        on_progress(f"mesh: {change.summary}")
        cilium.apply_change(runner, change, kubeconfig=p.kubeconfig_path, timeout=mesh.timeout if mesh else 900.0,
                            on_progress=on_progress)
    result.steps.append(_mesh_step(change, dry_run=False))
    return result


def _mesh_step(change: Any, *, dry_run: bool) -> Step:
    if change is None:
        return Step("mesh", "skipped", "network is not Cilium")
    if not change.actions:
        return Step("mesh", SKIP, change.summary)
    calls = "; ".join(" ".join(a.args[:2]) for a in change.actions)
    return Step("mesh", TODO if dry_run else DONE, f"{change.summary} ({calls})")


def _drop_from_secret(cp: Any, namespace: str, name: str, context: str) -> None:
    """Take one context (and its cluster and user, when nothing else uses them) out of the Secret's kubeconfig,
    leaving every other entry exactly as it is (a rebuild from this kubeconfig would lose `--server` overrides).
    Written with the resourceVersion read: a concurrent change fails it instead of being lost."""
    import base64

    from kbmc.env.secret import SECRET_KEY
    from kbmc.yamlio import dump_yaml, load_yaml

    path = resource_path("v1", "secrets", namespace, name)
    secret = cp.get(path)
    doc = load_yaml(base64.b64decode(secret["data"][SECRET_KEY]).decode(), f"Secret {namespace}/{name}")
    contexts = [c for c in doc.get("contexts") or [] if c.get("name") != context]
    dropped = [c for c in doc.get("contexts") or [] if c.get("name") == context]
    doc["contexts"] = contexts
    for key, field_name in (("clusters", "cluster"), ("users", "user")):
        used = {(c.get("context") or {}).get(field_name) for c in contexts}
        gone = {(c.get("context") or {}).get(field_name) for c in dropped} - used
        doc[key] = [e for e in doc.get(key) or [] if e.get("name") not in gone]
    if doc.get("current-context") == context:
        doc["current-context"] = ""
    secret["data"][SECRET_KEY] = base64.b64encode(dump_yaml(doc).encode()).decode()
    try:
        cp.replace(path, secret)
    except ApiError as exc:
        if exc.conflict:
            raise OperationError(f"Secret {namespace}/{name} changed while kbmc was updating it; nothing was "
                                 "overwritten, run the command again") from None
        raise


def _release_contexts(live: lv.Live) -> list[str]:
    mc = (live.release.config.get("multiCluster") or {}) if live.release else {}
    return st.split(str(mc.get("contexts") or ""))


def remove(kube: kc.KubeConfig, registry: ClientRegistry, runner: Runner, p: MemberParams, mesh: MeshParams | None,
           on_progress: Callable[[str], None] = lambda _: None) -> MemberResult:
    from kbmc.contexts.listing import KB_SELECTOR
    from kbmc.operator.preflight import secret_contexts

    cp = registry.for_context(p.control_plane)
    live = lv.read(cp, p.namespace, p.release)
    via = mode(live, p.toggle())
    if via == "helm" and not p.dry_run:
        _check_helm(runner)
    if via == "helm" and (p.context in _release_contexts(live) or p.context in live.release_disabled):
        refuse_hand_added_args(cp, p.toggle(), live, [c for c in live.contexts if c != p.context])
    rest = [c for c in live.contexts if c != p.context]
    if p.context in live.contexts and not rest:
        raise InputError(f"{p.context} is the operator's only context", hint="uninstall KubeBlocks instead")
    if p.context in live.contexts and not [c for c in rest if c not in live.disabled] and not p.force:
        raise InputError(f"removing {p.context} would leave no enabled data plane", hint="pass --force")
    secret = _secret_name(live, p.secret_name)
    in_secret = secret_contexts(cp, p.namespace, secret) or []
    known = {*live.contexts, *live.disabled, *(_release_contexts(live) if live.helm_managed else []), *in_secret}
    if p.context not in known and p.context not in kube.contexts:
        raise InputError(f"context {p.context} not in the operator's contexts ({','.join(live.contexts) or 'none'}), "
                         f"in Secret {p.namespace}/{secret} nor in your kubeconfig: nothing to remove",
                         hint="check the name with `kbmc contexts list`")
    if not p.force:
        if p.context not in kube.contexts:  # the data plane is gone, or only this kubeconfig lacks it
            raise InputError(f"cannot tell what is still placed on {p.context}: it is not in your kubeconfig",
                             hint="add it to your kubeconfig, or pass --force if it is gone for good")
        client = registry.for_context(p.context)
        try:
            placed = [f"{kind[:-1] if kind == 'pods' else 'pvc'} {i['metadata'].get('namespace')}/{i['metadata']['name']}"
                      for kind in ("pods", "persistentvolumeclaims")
                      for i in client.get(resource_path("v1", kind), labelSelector=KB_SELECTOR)["items"]]
        except ApiError as exc:
            raise InputError(f"cannot tell whether KubeBlocks objects are still placed on {p.context} "
                             f"({exc.summary})", hint="pass --force if it is gone for good") from None
        if placed:
            raise InputError(f"KubeBlocks objects still placed on {p.context}: {', '.join(placed[:10])}"
                             + (f" (+{len(placed) - 10} more)" if len(placed) > 10 else ""),
                             hint="move or delete them first, or pass --force")
    change = None
    mesh_note = "network is not Cilium"
    if mesh is not None:
        if p.context not in kube.contexts:
            mesh_note = f"{p.context} is not in your kubeconfig: its mesh connections are left as they are"
        else:
            from kbmc.network import cilium

            try:
                change = cilium.plan_leave(registry, runner, p.context, rest, kubeconfig=p.kubeconfig_path)
            except OperationError as exc:
                if not p.force:
                    raise
                mesh_note = f"not read ({exc.message}); left as it is (--force)"
    result = MemberResult(p.context, "remove", p.dry_run)
    if p.dry_run:
        result.steps = [
            _mesh_step(change, dry_run=True) if change is not None else Step("mesh", "skipped", mesh_note),
            Step("operator", TODO if p.context in live.contexts else SKIP, f"contexts {','.join(rest)} via {via}"),
            Step("secret", TODO if p.context in in_secret else SKIP, f"Secret {p.namespace}/{secret}"),
            Step("purge", TODO if p.purge else "skipped", f"kbmc's RBAC copies in {p.context}"),
            _config_step(p, dry_run=True),
        ]
        return result
    if change is not None:
        from kbmc.network import cilium

        if change.actions:
            on_progress(f"mesh: {change.summary}")
            cilium.apply_change(runner, change, kubeconfig=p.kubeconfig_path, on_progress=on_progress)
        result.steps.append(_mesh_step(change, dry_run=False))
    else:
        result.steps.append(Step("mesh", "skipped", mesh_note))
    with lease.held(cp, p.namespace, timeout=p.timeout):
        live = lv.read(cp, p.namespace, p.release)
        rest = [c for c in live.contexts if c != p.context]
        disabled = [c for c in live.disabled if c != p.context]
        if p.context not in live.contexts and p.context not in live.disabled and (
                not live.helm_managed or p.context not in _release_contexts(live)):
            result.steps.append(Step("operator", SKIP, f"contexts {','.join(live.contexts)}"))
        else:
            on_progress(f"operator: contexts {','.join(rest)}")
            write_operator(cp, runner, p.toggle(), live, via, rest, disabled, on_progress)
            result.steps.append(Step("operator", DONE, f"contexts {','.join(rest)} via {via}"))
    if p.context in in_secret:
        _drop_from_secret(cp, p.namespace, secret, p.context)
        result.steps.append(Step("secret", DONE, f"Secret {p.namespace}/{secret}: {p.context} removed"))
    else:
        result.steps.append(Step("secret", SKIP, f"Secret {p.namespace}/{secret}"))
    if p.purge:
        from kbmc.rbac.source import MANAGED_BY, MANAGER, role_path

        client = registry.for_context(p.context)
        roles = client.get(role_path(), labelSelector=f"{MANAGED_BY}={MANAGER}")["items"]
        for role in roles:
            client.delete(role_path(role["metadata"]["name"]))
        result.steps.append(Step("purge", DONE, f"{len(roles)} ClusterRole(s) deleted in {p.context}"))
    result.steps.append(_config_step(p, dry_run=False))
    return result


def _config_step(p: MemberParams, *, dry_run: bool) -> Step:
    """kbmc.yaml follows a removal, so `doctor`, `list` and `operator install` stop expecting the data plane."""
    from kbmc.contexts.toggle import drop_from_config

    if p.config_path is None:
        return Step("config", "skipped", "no kbmc.yaml in use: nothing to update")
    if dry_run:
        from kbmc.yamlio import load_yaml

        doc = load_yaml(Path(p.config_path).read_text(), p.config_path)
        listed = any(isinstance(d, dict) and d.get("context") == p.context for d in doc.get("dataPlanes") or [])
        return Step("config", TODO if listed else SKIP, f"{p.config_path}: drop dataPlanes entry {p.context}")
    if drop_from_config(p.config_path, p.context):
        return Step("config", DONE, f"{p.config_path}: dataPlanes entry {p.context} removed")
    return Step("config", SKIP, f"{p.config_path} does not list {p.context}")
