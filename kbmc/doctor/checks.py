"""`kbmc doctor`: every check, one row each, each failing row with the kbmc command that fixes it.

The control plane's checks and each data plane's checks run concurrently (fanout); a data plane that cannot
be reached fails its own rows only.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from kbmc import kubeconfig as kc
from kbmc.clients import ApiError, ClientRegistry, KubeClient, resource_path
from kbmc.fanout import fan_out

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"  # skip: not checked (what it needs is unreachable)
UNREACHABLE = "not checked (unreachable)"


@dataclass
class Row:
    check: str
    scope: str  # the context it concerns
    status: str
    detail: str = ""
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "scope": self.scope, "status": self.status, "detail": self.detail,
                "fix": self.fix}


@dataclass
class DoctorParams:
    control_plane: str
    data_planes: list[str]  # kbmc.yaml's / --data-planes; the operator's own contexts are added
    namespace: str
    release: str
    secret_name: str
    allow_loopback: bool = False
    topology_checked: str | None = None  # "kbmc.yaml: ..." when a topology file was parsed (ids, CIDRs, ranges)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if any(r.status == FAIL for r in self.rows) else 0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.exit_code == 0, "checks": [r.as_dict() for r in self.rows]}


@dataclass
class ControlPlaneFacts:
    rows: list[Row]
    contexts: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    clusters: list[dict[str, Any]] = field(default_factory=list)  # {namespace, name, placement}
    installed: bool = False  # the operator's Deployment exists (its contexts are then the data planes in use)


def control_plane_checks(client: KubeClient, params: DoctorParams) -> ControlPlaneFacts:
    from kbmc.contexts import live as lv
    from kbmc.operator import status as st

    cp = params.control_plane
    try:
        version = client.version().get("gitVersion", "?")
    except ApiError as exc:
        return ControlPlaneFacts([Row("control plane reachable", cp, FAIL, exc.summary,
                                      "check the control plane's kubeconfig context and network")])
    facts = ControlPlaneFacts([Row("control plane reachable", cp, OK, str(version))])
    rows = facts.rows
    manager = st.manager_deployment(client, params.namespace, params.release)
    secret_name = params.secret_name
    if manager is not None:
        facts.installed = True
        args = st.manager_container(manager).get("args") or []
        secret_name = st.mounted_secret(manager, st.flag_value(args, st.FLAG_KUBECONFIG)) or secret_name
        facts.contexts = st.split(st.flag_value(args, st.FLAG_CONTEXTS))
        facts.disabled = st.split(st.flag_value(args, st.FLAG_DISABLED))
    secret_contexts = _secret_checks(client, params, secret_name, facts.contexts, rows)
    if manager is None:
        rows.append(Row("operator available", cp, FAIL, f"no KubeBlocks release {params.release} in "
                        f"{params.namespace}", "kbmc operator install"))
    else:
        state = "available" if st.ready(manager) else "not available"
        rows.append(Row("operator available", cp, OK if st.ready(manager) else FAIL,
                        f"Deployment {manager['metadata']['name']} {state}",
                        None if st.ready(manager) else "kbmc operator status (then kbmc operator install --wait)"))
        problems = []
        stray = [c for c in facts.disabled if c not in facts.contexts]
        if stray:
            problems.append(f"disabled {','.join(stray)} not in the contexts")
        if cp in facts.disabled:
            problems.append(f"the control plane {cp} is disabled")
        if secret_contexts is not None:
            lacking = [c for c in facts.contexts if c not in secret_contexts]
            if lacking:
                problems.append(f"{','.join(lacking)} not in Secret {secret_name}")
        others = [d for d in lv.read(client, params.namespace, params.release).deployments if d is not manager]
        covered = True  # every problem is one `kbmc contexts enable <stray>` fixes
        for d in others:
            if lv.multi_cluster_args(d) != lv.multi_cluster_args(manager):
                problems.append(f"Deployment {d['metadata']['name']} runs other multi-cluster flags")
                other = [str(a) for c in lv.flag_containers(d)[:1] for a in c.get("args") or []]
                # The runbook's way: a stray disabled context added to the manager only. Enabling it drops it
                # from every Deployment; anything else (contexts, kubeconfig) needs the flags re-rendered.
                same_contexts = st.split(st.flag_value(other, st.FLAG_CONTEXTS)) == facts.contexts and \
                    st.flag_value(other, st.FLAG_KUBECONFIG) == st.flag_value(args, st.FLAG_KUBECONFIG)
                diff = set(st.split(st.flag_value(other, st.FLAG_DISABLED))) ^ set(facts.disabled)
                if not (same_contexts and diff and diff <= set(stray)):
                    covered = False
        fix = "kbmc operator install (re-renders the flags from kbmc.yaml)"
        if stray and covered and cp not in facts.disabled and not (secret_contexts is not None and [
                c for c in facts.contexts if c not in secret_contexts]):
            fix = f"kbmc contexts enable {' '.join(stray)}"
        rows.append(Row("operator flags consistent", cp, FAIL if problems else OK,
                        "; ".join(problems) or f"contexts {','.join(facts.contexts) or '(none)'}, disabled "
                        f"{','.join(facts.disabled) or '(none)'}", fix if problems else None))
    facts.clusters = _clusters(client)
    return facts


def _secret_checks(client: KubeClient, params: DoctorParams, name: str, contexts: list[str],
                   rows: list[Row]) -> list[str] | None:
    from kbmc.env.secret import SECRET_KEY, SECRET_TYPE

    where = f"Secret {params.namespace}/{name}"
    fix = f"kbmc env prepare --force --secret-name {name}"
    secret = client.get_or_none(resource_path("v1", "secrets", params.namespace, name))
    if secret is None:
        rows.append(Row("kubeconfig Secret", params.control_plane, FAIL, f"{where} missing", fix))
        return None
    raw = (secret.get("data") or {}).get(SECRET_KEY)
    if secret.get("type") != SECRET_TYPE or raw is None:
        rows.append(Row("kubeconfig Secret", params.control_plane, FAIL,
                        f"{where}: type {secret.get('type')}, key {SECRET_KEY!r} "
                        f"{'present' if raw is not None else 'missing'}", fix))
        return None
    from kbmc.yamlio import load_yaml

    try:
        doc = load_yaml(base64.b64decode(raw).decode(), where)
        kube = kc.from_dict(doc if isinstance(doc, dict) else {}, where)
    except Exception as exc:  # noqa: BLE001 - never the data itself: only that it does not parse
        rows.append(Row("kubeconfig Secret", params.control_plane, FAIL,
                        f"{where}: key {SECRET_KEY!r} is not a kubeconfig ({type(exc).__name__})", fix))
        return None
    names = kube.context_names
    differs = sorted(set(names) ^ set(contexts)) if contexts else []
    detail = f"{where}: contexts {','.join(names) or '(none)'}"
    if differs:
        rows.append(Row("kubeconfig Secret", params.control_plane, FAIL,
                        f"{detail}; differs from the operator's on {','.join(differs)}", fix))
    else:
        rows.append(Row("kubeconfig Secret", params.control_plane, OK, detail))
    problems: list[str] = []
    for n in names:
        problems += kc.in_pod_problems(kube.context(n), allow_loopback=params.allow_loopback, server_override=None)
    rows.append(usable_in_pod_row(kube, names, problems, params, fix))
    return names


def usable_in_pod_row(kube: kc.KubeConfig, names: list[str], problems: list[str], params: DoctorParams,
                      fix: str) -> Row:
    """The "Secret usable in a pod" row: says what was checked, and, with --allow-loopback, that loopback
    servers were accepted rather than found absent."""
    loopback = [n for n in names if any(url and kc.is_loopback_server(url) for url in (
        kube.context(n).server, str(kube.context(n).cluster.get("proxy-url") or "")))]
    if problems:
        how = (" --server CONTEXT=URL" if any("loopback" in p for p in problems)
               else " (from a kubeconfig with token or client-certificate users)")
        return Row("Secret usable in a pod", params.control_plane, FAIL, "; ".join(p.split(";")[0] for p in problems),
                   fix + how)
    if loopback and params.allow_loopback:
        detail = (f"no exec or auth-provider users; loopback servers accepted (--allow-loopback), not checked: "
                  f"{','.join(loopback)} (reachable from the operator's pod only if it shares this host's network)")
    else:
        detail = "no exec or auth-provider users, no loopback servers"
    return Row("Secret usable in a pod", params.control_plane, OK, detail)


def _clusters(client: KubeClient) -> list[dict[str, Any]]:
    from kbmc.cluster.manifests import PLACEMENT_ANNOTATION
    from kbmc.contexts.live import CLUSTER_APIS
    from kbmc.operator.status import split

    found: dict[tuple[str, str], dict[str, Any]] = {}
    for api in CLUSTER_APIS:
        try:
            items = client.get(f"/apis/{api}/clusters")["items"]
        except ApiError:
            continue
        for item in items:
            meta = item["metadata"]
            found.setdefault((meta.get("namespace", ""), meta["name"]), {
                "namespace": meta.get("namespace", ""), "name": meta["name"],
                "placement": split((meta.get("annotations") or {}).get(PLACEMENT_ANNOTATION)) or None})
    return list(found.values())


def data_plane_checks(client: KubeClient, enabled: bool, namespaces: dict[str, list[str]],
                      disabled: bool = False) -> list[Row]:
    """Reachable; the pod role present and non-empty; every namespace of a Cluster placed here exists.

    An unreachable data plane fails its "reachable" row only (the rows that need it say "not checked"), and
    not even that when the operator has it disabled: that is the state a correct failover leaves."""
    from kbmc.rbac.source import CLUSTER_POD_ROLE, role_path

    ctx = client.context
    try:
        version = client.version().get("gitVersion", "?")
    except ApiError as exc:
        if disabled:
            rows = [Row("data plane reachable", ctx, WARN, f"{exc.summary}; disabled in the operator, as a "
                        "failover leaves it", f"when it is back: kbmc contexts enable {ctx}")]
        else:
            rows = [Row("data plane reachable", ctx, FAIL, exc.summary,
                        f"kbmc env check (or kbmc contexts disable {ctx})")]
        if enabled:
            rows.append(Row("pod RBAC", ctx, SKIP, UNREACHABLE, None))
        if namespaces:
            rows.append(Row("Cluster namespaces", ctx, SKIP, UNREACHABLE, None))
        return rows
    rows = [Row("data plane reachable", ctx, OK, str(version))]
    if enabled:
        role = client.get_or_none(role_path(CLUSTER_POD_ROLE))
        if role is None:
            rows.append(Row("pod RBAC", ctx, FAIL, f"ClusterRole {CLUSTER_POD_ROLE} missing", "kbmc rbac sync"))
        elif not role.get("rules"):
            rows.append(Row("pod RBAC", ctx, FAIL, f"ClusterRole {CLUSTER_POD_ROLE} has no rules (an aggregated "
                            "copy emptied by this cluster's aggregation controller)", "kbmc rbac sync"))
        else:
            rows.append(Row("pod RBAC", ctx, OK, f"ClusterRole {CLUSTER_POD_ROLE}: {len(role['rules'])} rules"))
    if namespaces:
        missing = [ns for ns in sorted(namespaces)
                   if client.get_or_none(resource_path("v1", "namespaces", name=ns)) is None]
        if missing:
            who = "; ".join(f"{ns} (Cluster {', '.join(namespaces[ns])})" for ns in missing)
            rows.append(Row("Cluster namespaces", ctx, FAIL, f"missing: {who}",
                            f"kubectl --context {ctx} create namespace {missing[0]} "
                            "(kbmc cluster create --create-namespace does it for new Clusters)"))
        else:
            rows.append(Row("Cluster namespaces", ctx, OK, ", ".join(sorted(namespaces))))
    return rows


CRDS_CHECK = "no KubeBlocks CRDs in data plane"


def crds_row(registry: ClientRegistry, control_plane: str, ctx: str, *, reachable: bool) -> Row:
    """The runbook's data-plane trap, checked as `operator install` checks it (operator.preflight)."""
    from kbmc.operator import preflight

    if not reachable:
        return Row(CRDS_CHECK, ctx, SKIP, UNREACHABLE, None)
    try:
        crds = preflight.data_plane_crds(registry, control_plane, ctx)
    except preflight.CrdCheckFailed as exc:
        return Row(CRDS_CHECK, ctx, FAIL, f"not checked: {exc}", None)
    if crds is None:
        return Row(CRDS_CHECK, ctx, OK, "the control plane's own cluster (it needs them)")
    if crds:
        return Row(CRDS_CHECK, ctx, FAIL,
                   f"{', '.join(crds)}: where the InstanceSet CRD exists, this cluster's garbage collector deletes "
                   "the operator's pods", preflight.delete_crds_command(ctx, crds))
    return Row(CRDS_CHECK, ctx, OK, "none")


def doctor(registry: ClientRegistry, params: DoctorParams) -> Report:
    report = Report()
    kube = registry.kubeconfig
    known = [c for c in [params.control_plane, *params.data_planes] if c in kube.contexts]
    unknown = [c for c in [params.control_plane, *params.data_planes] if c not in kube.contexts]
    report.rows.append(Row("kubeconfig contexts", "-", FAIL if unknown else OK,
                           f"not in the kubeconfig: {', '.join(unknown)}" if unknown else ", ".join(known),
                           "kbmc init (or fix --context/--data-planes)" if unknown else None))
    if params.control_plane not in kube.contexts:
        return report
    facts = control_plane_checks(registry.for_context(params.control_plane), params)
    report.rows += facts.rows
    data_planes = list(dict.fromkeys([*facts.contexts, *params.data_planes]))
    # An operator context this kubeconfig lacks (often: the data plane is gone) is not checked: say so.
    for d in data_planes:
        if d not in kube.contexts and d not in params.data_planes:
            report.rows.append(Row("data plane in kubeconfig", d, FAIL,
                                   f"operator context {d} is not in your kubeconfig: not checked",
                                   f"add {d} to your kubeconfig; if that data plane is gone: "
                                   f"kbmc contexts remove {d} --force"))
    data_planes = [d for d in data_planes if d in kube.contexts]
    # With the operator installed, the data planes in use are its contexts: one only kbmc.yaml lists (removed by
    # `contexts remove`, or never added) needs no pod RBAC; that it is listed is said, as a warning.
    in_use = [d for d in data_planes if d in facts.contexts] if facts.installed else data_planes
    for d in data_planes:
        if d not in in_use:
            report.rows.append(Row("data plane in use", d, WARN,
                                   f"{d} is in kbmc.yaml/--data-planes but not in the operator's contexts "
                                   f"({','.join(facts.contexts) or 'none'}): pod RBAC not checked",
                                   f"kbmc contexts add {d}, or drop it from kbmc.yaml"))
    enabled = {d for d in in_use if d not in facts.disabled}
    placed: dict[str, dict[str, list[str]]] = {d: {} for d in data_planes}
    for c in facts.clusters:
        for d in c["placement"] or sorted(enabled):
            if d in placed:
                placed[d].setdefault(c["namespace"], []).append(c["name"])
    def plane(d: str) -> list[Row]:
        rows = data_plane_checks(registry.for_context(d), d in enabled, placed[d],
                                 disabled=facts.installed and d in facts.disabled)
        return [*rows, crds_row(registry, params.control_plane, d, reachable=rows[0].status == OK)]

    results = fan_out(data_planes, plane)
    for r in results:
        report.rows += r.value if r.ok and r.value is not None else [
            Row("data plane checks", r.context, FAIL, r.error or "failed", None)]
    if params.topology_checked:
        report.rows.append(Row("Cilium ids/CIDRs, MetalLB ranges", "-", OK, params.topology_checked))
    else:
        report.rows.append(Row("Cilium ids/CIDRs, MetalLB ranges", "-", WARN, "no kbmc.yaml: not checked",
                               "kbmc init, then kbmc validate"))
    return report
