"""`kbmc network cilium`: Cilium ClusterMesh across the data planes, through cilium-cli (runbook step 4).

Plan first: read what each data plane already runs (kube-system/cilium-config, the
clustermesh-apiserver Service, `cilium clustermesh status -o json`), compare it with
kbmc.yaml, refuse any cluster whose name/id/pod CIDR differ (changing them under running
pods is destructive), and only then run what is missing: install, enable + status --wait,
connect, status --wait. One cluster's failure stops only the steps that depend on it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kbmc.clients import ClientRegistry, resource_path
from kbmc.errors import CommandError, InputError, KbmcError, OperationError
from kbmc.fanout import fan_out
from kbmc.network import mesh
from kbmc.network.plan import Action, planes_from, require_reachable, require_tool
from kbmc.runner import Runner

STEPS = ("install", "enable", "connect", "status")
SERVICE_TYPES = ("NodePort", "LoadBalancer")
NAMESPACE = "kube-system"
CONFIG_MAP = "cilium-config"
MESH_SERVICE = "clustermesh-apiserver"
# cilium-cli releases from v0.16.19 take several --destination-context values, --connection-mode and
# --parallel (cilium/cilium#34510 and #35021, after v0.16.18 shipped).
MULTI_DESTINATION_SINCE = (0, 16, 19)
_CLI_VERSION = re.compile(r"^cilium-cli:\s*v?(\d+)\.(\d+)\.(\d+)", re.M)


@dataclass
class Member:
    context: str
    name: str
    cluster_id: int
    pod_cidr: str

    @property
    def values(self) -> tuple[str, str, str]:
        return (self.name, str(self.cluster_id), self.pod_cidr)


@dataclass
class CiliumParams:
    members: list[Member]
    service_type: str | None = None  # None: NodePort for a new ClusterMesh, whatever runs for an enabled one
    max_connected_clusters: int = 255
    steps: tuple[str, ...] = STEPS
    timeout: float = 900.0
    parallel: int = 4
    kubeconfig: str | None = None
    dry_run: bool = False


@dataclass
class Observed:
    """What a data plane runs now."""

    installed: tuple[str, str, str] | None = None  # cluster-name, cluster-id, cluster-pool-ipv4-cidr
    max_connected: str = "255"  # max-connected-clusters (Cilium's default when the key is absent)
    mesh_enabled: bool = False
    mesh_service_type: str | None = None  # spec.type of kube-system/clustermesh-apiserver
    peers: set[str] = field(default_factory=set)  # Cilium cluster names it is connected to
    status_error: str | None = None  # why `clustermesh status` could not tell


@dataclass
class Decision:
    """What the run does for one cluster and step (or pair), in words: `install`, `skip (…)`, `refuse (…)`."""

    context: str
    step: str
    decision: str

    def as_dict(self) -> dict[str, str]:
        return {"context": self.context, "step": self.step, "decision": self.decision}


SKIP_INSTALLED = "skip (already installed with the same values)"


@dataclass
class CiliumPlan:
    cli_version: tuple[int, int, int] | None
    multi_destination: bool
    observed: dict[str, Observed]
    actions: list[Action]
    rounds: list[list[tuple[str, str]]]
    connected: list[tuple[str, str]]  # pairs already connected when planned
    decisions: list[Decision] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why the plan cannot run, per cluster
    refusal_hints: list[str] = field(default_factory=list)

    def as_dict(self, kubeconfig: str | None = None) -> dict[str, Any]:
        return {
            "cliVersion": ".".join(map(str, self.cli_version)) if self.cli_version else None,
            "multiDestination": self.multi_destination,
            "alreadyConnected": [list(p) for p in self.connected],
            "rounds": [[list(p) for p in r] for r in self.rounds],
            "decisions": [d.as_dict() for d in self.decisions],
            "refused": list(self.refused),
            "actions": [a.as_dict(kubeconfig) for a in self.actions],
        }

    def refuse(self) -> None:
        """Exit 2 (nothing run anywhere) when any cluster refuses the plan; the same check for a dry run and a run."""
        if self.refused:
            raise InputError("; ".join(self.refused) + "; nothing was run", hint="; ".join(self.refusal_hints))


@dataclass
class ClusterSummary:
    context: str
    install: str = "not run"
    mesh: str = "not run"
    status: str = "not run"
    peers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"context": self.context, "install": self.install, "mesh": self.mesh, "status": self.status,
                "peers": self.peers}


@dataclass
class CiliumResult:
    plan: CiliumPlan
    clusters: list[ClusterSummary]
    pairs: dict[tuple[str, str], str]
    done: bool

    def failures(self) -> list[str]:
        """What failed, first cause first: `k8s-1 install failed: …` (steps blocked by it are left out)."""
        found = [f"{c.context} {step} {state}" for c in self.clusters
                 for step, state in (("install", c.install), ("mesh", c.mesh), ("status", c.status))
                 if state.startswith("failed")]
        found += [f"{a} <-> {b} {state}" for (a, b), state in self.pairs.items() if state.startswith("failed")]
        return found

    def as_dict(self) -> dict[str, Any]:
        return {"done": self.done, "clusters": [c.as_dict() for c in self.clusters],
                "pairs": [{"pair": list(p), "state": s} for p, s in self.pairs.items()]}


# ---- reading the clusters ----------------------------------------------------------------------------


def parse_cli_version(text: str) -> tuple[int, int, int] | None:
    """`cilium version --client` prints `cilium-cli: v0.16.20 compiled with go1.23.3 on linux/amd64` first."""
    m = _CLI_VERSION.search(text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def parse_status_peers(text: str) -> set[str]:
    """The remote clusters the agents are connected to, from `cilium clustermesh status -o json`.

    cilium-cli's clustermesh.Status: `connectivity.clusters` maps each remote cluster name to
    `{configured, connected}` agent counts (zero counts omitted); with KVStoreMesh the same block sits
    under `kvstoremesh.status`. The document may also carry access information (certificates):
    it is parsed here and never printed.
    """
    try:
        doc = json.loads(text or "{}")
    except ValueError:
        raise OperationError("cannot read `cilium clustermesh status -o json` output (not JSON)") from None
    if not isinstance(doc, dict):
        return set()
    blocks = [doc.get("connectivity"), ((doc.get("kvstoremesh") or {}).get("status"))]
    peers: set[str] = set()
    for block in blocks:
        for name, stats in ((block or {}).get("clusters") or {}).items():
            if isinstance(stats, dict) and int(stats.get("connected") or 0) > 0:
                peers.add(name)
    return peers


def observe(registry: ClientRegistry, runner: Runner, context: str, kubeconfig: str | None,
            timeout: float) -> Observed:
    client = registry.for_context(context)
    seen = Observed()
    config = client.get_or_none(resource_path("v1", "configmaps", NAMESPACE, CONFIG_MAP))
    if config is not None:
        data = config.get("data") or {}
        seen.installed = (data.get("cluster-name", "default"), data.get("cluster-id", "0"),
                          data.get("cluster-pool-ipv4-cidr", "(not cluster-pool IPAM)"))
        seen.max_connected = data.get("max-connected-clusters", "255")
    service = client.get_or_none(resource_path("v1", "services", NAMESPACE, MESH_SERVICE))
    seen.mesh_enabled = service is not None
    if service is not None:
        seen.mesh_service_type = (service.get("spec") or {}).get("type") or "ClusterIP"
    if seen.mesh_enabled:
        try:
            out = runner.run("cilium", ["clustermesh", "status", "-o", "json"], context=context,
                             kubeconfig=kubeconfig, timeout=timeout)
        except CommandError as exc:
            # ClusterMesh is enabled but not answering yet (its apiserver still starting): no peer is known
            # to be connected, so its pairs are connected again (cilium-cli's connect is idempotent).
            seen.status_error = exc.stderr_tail or str(exc)
        else:
            seen.peers = parse_status_peers(out.stdout)
    return seen


# ---- the plan ------------------------------------------------------------------------------------


def install_args(member: Member, max_connected: int) -> list[str]:
    args = ["install", "--set", f"cluster.name={member.name}", "--set", f"cluster.id={member.cluster_id}",
            "--set", f"ipam.operator.clusterPoolIPv4PodCIDRList={member.pod_cidr}"]
    if max_connected != 255:
        # Cilium's Helm value (install/kubernetes/cilium/values.yaml: clustermesh.maxConnectedClusters),
        # rendered into cilium-config as max-connected-clusters.
        args += ["--set", f"clustermesh.maxConnectedClusters={max_connected}"]
    return args


def status_args(timeout: float) -> list[str]:
    return ["clustermesh", "status", "--wait", "--wait-duration", f"{int(max(1, timeout))}s"]


def build_plan(registry: ClientRegistry, runner: Runner, params: CiliumParams) -> CiliumPlan:
    contexts = [m.context for m in params.members]
    if params.service_type is not None and params.service_type not in SERVICE_TYPES:
        raise InputError(f"--service-type {params.service_type!r} is not one of {', '.join(SERVICE_TYPES)}")
    require_tool("cilium")
    require_reachable(registry, contexts)
    version = parse_cli_version(runner.run("cilium", ["version", "--client"], context=None, timeout=60).stdout)
    multi = version is not None and version >= MULTI_DESTINATION_SINCE
    results = fan_out(contexts, lambda ctx: observe(registry, runner, ctx, params.kubeconfig, 60))
    failed = [r for r in results if not r.ok]
    if failed:
        raise OperationError("cannot read the current Cilium state, nothing was run: "
                             + "; ".join(r.labelled for r in failed))
    observed = {r.context: r.value for r in results if r.value is not None}

    steps = params.steps
    decisions: list[Decision] = []
    refused: list[str] = []
    hints: list[str] = []
    actions: list[Action] = []
    for m in params.members:
        seen = observed[m.context]
        if seen.installed is None:
            install = "install"
        else:
            # max-connected-clusters cannot change on a running cluster and must be the same across the mesh.
            have = (*seen.installed, seen.max_connected)
            want = (*m.values, str(params.max_connected_clusters))
            diffs = [f"{what} {h} (kbmc.yaml: {w})" for what, h, w in zip(
                ("cluster-name", "cluster-id", "pod CIDR", "max-connected-clusters"), have, want, strict=True) if h != w]
            install = SKIP_INSTALLED
            if diffs:
                # Checked whichever steps run: every later step builds on these values.
                install = f"refuse (runs Cilium with {', '.join(diffs)})"
                refused.append(f"{m.context} runs Cilium with {', '.join(diffs)}")
                _add(hints, "changing a cluster's Cilium name, id, pod CIDR or max-connected-clusters under running "
                            "pods is destructive: fix kbmc.yaml to match, or reinstall Cilium there yourself")
        if "install" in steps:
            decisions.append(Decision(m.context, "install", install))
            if install == "install":
                actions.append(Action("install", m.context, "cilium", install_args(m, params.max_connected_clusters)))

    for m in params.members:
        seen = observed[m.context]
        wanted = params.service_type or "NodePort"
        if not seen.mesh_enabled:
            enable = f"enable (service type {wanted})"
        elif params.service_type is not None and seen.mesh_service_type != params.service_type:
            # Asked for explicitly and not what runs: refused rather than silently not applied.
            why = (f"clustermesh already enabled with service type {seen.mesh_service_type}; "
                   f"--service-type {params.service_type} not applied")
            enable = f"refuse ({why})"
            if "enable" in steps:
                refused.append(f"{m.context}: {why}")
                _add(hints, "drop --service-type to keep the running one, or change it yourself "
                            "(`cilium clustermesh disable`, then `kbmc network cilium --step enable --service-type "
                            f"{params.service_type}`; its peers reconnect)")
        else:
            enable = f"skip (clustermesh already enabled with service type {seen.mesh_service_type})"
        if "enable" in steps:
            decisions.append(Decision(m.context, "enable", enable))
            if enable.startswith("enable"):
                actions.append(Action("enable", m.context, "cilium",
                                      ["clustermesh", "enable", "--service-type", wanted]))
                actions.append(Action("enable", m.context, "cilium", status_args(params.timeout)))

    connected = [(a, b) for a, b in mesh.all_pairs(contexts)
                 if _name(params, b) in observed[a].peers and _name(params, a) in observed[b].peers]
    missing = [p for p in mesh.all_pairs(contexts) if p not in connected]
    rounds: list[list[tuple[str, str]]] = []
    if "connect" in steps:
        for a, b in connected:
            decisions.append(Decision(a, "connect", f"skip {a} <-> {b} (already connected)"))
        if missing:
            calls = connect_actions(params, missing, multi)
            actions += calls
            if not multi:
                rounds = [[p for p in r if p in missing] for r in mesh.rounds(contexts)]
                rounds = [r for r in rounds if r]
                for i, round_ in enumerate(rounds, start=1):
                    for a, b in round_:
                        decisions.append(Decision(a, "connect", f"connect {a} <-> {b} (round {i}/{len(rounds)})"))
            else:
                for call in calls:
                    mode = call.args[call.args.index("--connection-mode") + 1]
                    decisions.append(Decision(call.context, "connect", "connect " + ", ".join(
                        f"{a} <-> {b}" for a, b in _covered(call, missing)) + f" (one call, {mode})"))
    if "status" in steps:
        for m in params.members:
            decisions.append(Decision(m.context, "status", "wait (clustermesh status --wait)"))
            actions.append(Action("status", m.context, "cilium", status_args(params.timeout)))
    return CiliumPlan(version, multi, observed, actions, rounds, connected, decisions, refused, hints)


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _name(params: CiliumParams, context: str) -> str:
    return next(m.name for m in params.members if m.context == context)


def connect_actions(params: CiliumParams, missing: list[tuple[str, str]], multi: bool) -> list[Action]:
    contexts = [m.context for m in params.members]
    if not multi:
        actions = []
        for i, round_ in enumerate(r for r in ([p for p in r if p in missing] for r in mesh.rounds(contexts)) if r):
            for a, b in round_:
                actions.append(Action("connect", a, "cilium", ["clustermesh", "connect", "--destination-context", b],
                                      round=i + 1))
        return actions
    involved = list(dict.fromkeys(c for p in missing for c in p))
    if len(missing) == len(mesh.all_pairs(involved)) and set(missing) == set(mesh.all_pairs(involved)):
        # Nothing connected among them yet: one call meshes them all.
        source, *others = involved
        return [Action("connect", source, "cilium",
                       ["clustermesh", "connect", "--destination-context", ",".join(others),
                        "--connection-mode", "mesh", "--parallel", str(max(1, min(params.parallel, len(others))))])]
    actions = []
    remaining = list(missing)
    for source in contexts:
        dests = [b for a, b in remaining if a == source]
        if not dests:
            continue
        remaining = [p for p in remaining if p[0] != source]
        actions.append(Action("connect", source, "cilium",
                              ["clustermesh", "connect", "--destination-context", ",".join(dests),
                               "--connection-mode", "bidirectional",
                               "--parallel", str(max(1, min(params.parallel, len(dests))))]))
    return actions


# ---- running it -------------------------------------------------------------------------------------


def run(registry: ClientRegistry, runner: Runner, params: CiliumParams, plan: CiliumPlan,
        on_event: Callable[[str], None] | None = None) -> CiliumResult:
    contexts = [m.context for m in params.members]
    summary = {c: ClusterSummary(c) for c in contexts}
    broken: dict[str, str] = {}  # context -> why later steps skip it
    note = on_event or (lambda _msg: None)

    def call(action: Action) -> None:
        runner.run("cilium", action.args, context=action.context, kubeconfig=params.kubeconfig,
                   timeout=params.timeout + 60)

    def phase(step: str, label: str, done_word: str, per_context: dict[str, list[Action]],
              already: Callable[[str], bool]) -> None:
        for ctx in contexts:
            if ctx in broken:
                setattr(summary[ctx], label, f"blocked: {broken[ctx]}")
            elif ctx not in per_context:
                setattr(summary[ctx], label, "already done" if already(ctx) else f"missing (run --step {step})")
        todo = [c for c in per_context if c not in broken]

        def work(ctx: str) -> None:
            for action in per_context[ctx]:
                call(action)

        for r in fan_out(todo, work):
            if r.ok:
                setattr(summary[r.context], label, done_word)
                note(f"{r.context}: {done_word}")
            else:
                setattr(summary[r.context], label, f"failed: {r.reason}")
                broken[r.context] = f"{step} failed"
                note(f"{r.context}: {step} failed: {r.reason}")

    def by_context(step: str) -> dict[str, list[Action]]:
        grouped: dict[str, list[Action]] = {}
        for a in plan.actions:
            if a.step == step:
                grouped.setdefault(a.context, []).append(a)
        return grouped

    observed = plan.observed
    if "install" in params.steps:
        phase("install", "install", "installed", by_context("install"), lambda c: observed[c].installed is not None)
    else:
        for c in contexts:
            summary[c].install = "already done" if observed[c].installed else "not installed"
            if not observed[c].installed:
                broken[c] = "Cilium not installed"
    if "enable" in params.steps:
        phase("enable", "mesh", "enabled", by_context("enable"), lambda c: observed[c].mesh_enabled)
    else:
        for c in contexts:
            summary[c].mesh = "already done" if observed[c].mesh_enabled else "not enabled"
            if not observed[c].mesh_enabled and c not in broken:
                broken[c] = "ClusterMesh not enabled"

    pairs: dict[tuple[str, str], str] = {p: "already connected" for p in plan.connected}
    if "connect" in params.steps:
        _connect(plan, params, contexts, broken, pairs, call, note)
    else:
        for p in mesh.all_pairs(contexts):
            pairs.setdefault(p, "not connected")

    if "status" in params.steps:
        phase("status", "status", "ready", by_context("status"), lambda c: False)

    # Who is connected now, as the clusters themselves report it.
    readable = fan_out(contexts, lambda ctx: observe(registry, runner, ctx, params.kubeconfig, 60))
    names = {m.context: m.name for m in params.members}
    for r in readable:
        if r.ok and r.value is not None:
            summary[r.context].peers = sorted(c for c in contexts if names[c] in r.value.peers)
    done = (all(not s.startswith(("failed", "blocked", "missing", "not"))
                for c in summary.values() for s in _requested(c, params.steps))
            and ("connect" not in params.steps or all(s in ("connected", "already connected") for s in pairs.values())))
    return CiliumResult(plan, list(summary.values()), dict(sorted(pairs.items())), done)


def _requested(c: ClusterSummary, steps: tuple[str, ...]) -> list[str]:
    return [getattr(c, label) for step, label in (("install", "install"), ("enable", "mesh"), ("status", "status"))
            if step in steps]


def _connect(plan: CiliumPlan, params: CiliumParams, contexts: list[str], broken: dict[str, str],
             pairs: dict[tuple[str, str], str], call: Callable[[Action], None], note: Callable[[str], None]) -> None:
    actions = [a for a in plan.actions if a.step == "connect"]
    if not actions:
        return
    healthy = [c for c in contexts if c not in broken]
    missing = [p for p in mesh.all_pairs(contexts) if p not in pairs]
    for p in missing:
        if p[0] in broken or p[1] in broken:
            bad = p[0] if p[0] in broken else p[1]
            pairs[p] = f"blocked: {bad}: {broken[bad]}"
    if plan.multi_destination:
        # The calls were planned for every cluster; re-plan among the healthy ones.
        todo = [p for p in missing if p[0] in healthy and p[1] in healthy]
        if not todo:
            return
        sub = CiliumParams([m for m in params.members if m.context in healthy], parallel=params.parallel)
        for action in connect_actions(sub, todo, True):
            covered = _covered(action, todo)
            try:
                call(action)
            except KbmcError as exc:
                for p in covered:
                    pairs[p] = f"failed: {exc}"
            else:
                for p in covered:
                    pairs[p] = "connected"
            note(progress_line(f"{action.context}: connect", [(p, pairs[p]) for p in covered]))
        return
    numbers = sorted({a.round for a in actions if a.round is not None})
    for round_no in numbers:
        scheduled = [(a.context, a.args[-1]) for a in actions if a.round == round_no]
        batch = [a for a in actions if a.round == round_no and a.context not in broken
                 and a.args[-1] not in broken]
        labels = {f"{a.context} <-> {a.args[-1]}": a for a in batch}

        def connect_one(label: str, labels: dict[str, Action] = labels) -> None:
            call(labels[label])

        for r in fan_out(list(labels), connect_one):
            a = labels[r.context]
            pairs[(a.context, a.args[-1])] = "connected" if r.ok else f"failed: {r.reason}"
        note(progress_line(f"round {round_no}/{len(numbers)}", [(p, pairs[p]) for p in scheduled]))


def progress_line(label: str, pairs: list[tuple[tuple[str, str], str]]) -> str:
    """One line per round (or per multi-destination call): each of its pairs once, with how it ended."""
    by_state: dict[str, list[str]] = {}
    for (a, b), state in pairs:
        by_state.setdefault(state, []).append(f"{a} <-> {b}")
    return f"{label}: " + "; ".join(f"{', '.join(names)} {state}" for state, names in by_state.items())


def summary_line(result: CiliumResult, steps: tuple[str, ...]) -> str:
    """What a successful run did, naming the steps that ran (a mesh is complete only after all four)."""
    contexts = ", ".join(c.context for c in result.clusters)
    if tuple(steps) == STEPS:
        return f"ClusterMesh complete on {contexts}: install, enable, connect and status done"
    skipped = [s for s in STEPS if s not in steps]
    return (f"{', '.join(s for s in STEPS if s in steps)} done on {contexts} "
            f"(not run: {', '.join(skipped)}; run without --step for the whole ClusterMesh)")


def _covered(action: Action, todo: list[tuple[str, str]]) -> list[tuple[str, str]]:
    dests = action.args[action.args.index("--destination-context") + 1].split(",")
    group = [action.context, *dests]
    if "mesh" in action.args:
        return [p for p in todo if p[0] in group and p[1] in group]
    return [p for p in todo if (p[0] == action.context and p[1] in dests) or (p[1] == action.context and p[0] in dests)]


def members_from(topology: Any, contexts: list[str]) -> list[Member]:
    """The Cilium values of the named data planes, from kbmc.yaml (already validated by the topology parser)."""
    planes = planes_from(topology, contexts, command="kbmc network cilium",
                         needs="each cluster's Cilium name, id and pod CIDR", missing="cilium section",
                         hint="add cilium: {clusterName, clusterID, podCIDR} to each data plane",
                         has_values=lambda d: None not in (d.cilium_name, d.cilium_id, d.pod_cidr))
    members = [Member(d.context, d.cilium_name, d.cilium_id, d.pod_cidr) for d in planes]
    if len(members) < 2:
        raise InputError("a ClusterMesh needs at least two data planes")
    return members


# ---- one data plane joining or leaving the mesh (`kbmc contexts add/remove`) -------------------------


@dataclass
class MeshChange:
    """One data plane's mesh change, planned from what the clusters run (`contexts add/remove`).

    Read first (cilium-config, the clustermesh-apiserver Service, `clustermesh status -o json`, as
    `network cilium` reads them), so a re-run calls nothing that is already done."""

    context: str
    joining: bool
    multi_destination: bool
    actions: list[Action]
    already: list[str]  # members already connected (join) / not connected (leave)
    todo: list[str]  # members to connect / disconnect
    note: str = ""  # why nothing can be done (leave: not in the mesh)

    @property
    def summary(self) -> str:
        verb = "connect to" if self.joining else "disconnect from"
        done = "already connected to" if self.joining else "not connected to"
        parts = [f"{verb} {','.join(self.todo)}"] if self.todo else []
        if self.already:
            parts.append(f"{done} {','.join(self.already)}")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts) or "nothing to do"


def _cli(runner: Runner) -> bool:
    require_tool("cilium")
    version = parse_cli_version(runner.run("cilium", ["version", "--client"], context=None, timeout=60).stdout)
    return version is not None and version >= MULTI_DESTINATION_SINCE


def _observe_all(registry: ClientRegistry, runner: Runner, contexts: list[str], kubeconfig: str | None,
                 what: str) -> dict[str, Observed]:
    results = fan_out(contexts, lambda ctx: observe(registry, runner, ctx, kubeconfig, 60))
    failed = [r for r in results if not r.ok]
    if failed:
        raise OperationError(f"cannot read the Cilium state for {what}, nothing was changed: "
                             + "; ".join(f"{r.context}: {r.error}" for r in failed))
    return {r.context: r.value for r in results if r.value is not None}


def _pair_calls(verb: str, context: str, dests: list[str], multi: bool, parallel: int) -> list[Action]:
    if not dests:
        return []
    if not multi:  # cilium-cli before v0.16.19: one --destination-context per call
        return [Action(verb, context, "cilium", ["clustermesh", verb, "--destination-context", d]) for d in dests]
    args = ["clustermesh", verb, "--destination-context", ",".join(dests), "--connection-mode", "bidirectional"]
    if verb == "connect":
        args += ["--parallel", str(max(1, min(parallel, len(dests))))]
    return [Action(verb, context, "cilium", args)]


def plan_join(registry: ClientRegistry, runner: Runner, context: str, members: list[str], member: Member | None,
              *, max_connected: int = 255, parallel: int = 4, timeout: float = 900.0,
              kubeconfig: str | None = None) -> MeshChange:
    """What `context` needs to join the members' mesh: Cilium (from kbmc.yaml's values, when not installed),
    ClusterMesh enabled (exposed as the members' clustermesh-apiserver is), a connection to each member it is
    not connected to yet. Refused before anything runs: a member without ClusterMesh, a Cilium name, id or pod
    CIDR that collides with a member's, or one that differs from kbmc.yaml's."""
    import ipaddress

    multi = _cli(runner)
    seen = _observe_all(registry, runner, [context, *members], kubeconfig, f"adding {context}")
    lacking = [m for m in members if seen[m].installed is None or not seen[m].mesh_enabled]
    if lacking:
        raise InputError(f"{', '.join(lacking)} not in a Cilium ClusterMesh (Cilium or ClusterMesh missing): "
                         f"{context} cannot be connected to it; nothing was changed",
                         hint="run `kbmc network cilium` for the existing data planes first")
    new = seen[context].installed or (member.values if member else None)
    if new is None:
        raise InputError(f"Cilium is not installed in {context} and kbmc.yaml has no cilium values for it; "
                         "nothing was changed",
                         hint=f"add cilium: {{clusterName, clusterID, podCIDR}} to {context} in kbmc.yaml")
    have = seen[context].installed
    if have is not None and member is not None and have != member.values:
        want = member.values
        raise InputError(f"{context} runs Cilium with name/id/pod CIDR {'/'.join(have)} (kbmc.yaml: "
                         f"{'/'.join(want)}); nothing was changed", hint="fix kbmc.yaml to match")
    clashes = []
    for m in members:
        name, cid, cidr = seen[m].installed or ("", "", "")
        if name == new[0]:
            clashes.append(f"cluster name {name} is {m}'s")
        if cid == new[1]:
            clashes.append(f"cluster id {cid} is {m}'s")
        try:
            if ipaddress.ip_network(cidr, strict=False).overlaps(ipaddress.ip_network(new[2], strict=False)):
                clashes.append(f"pod CIDR {new[2]} overlaps {m}'s {cidr}")
        except ValueError:
            pass  # not cluster-pool IPAM there: nothing to compare
    if clashes:
        raise InputError(f"{context}'s Cilium collides with the mesh: {'; '.join(clashes)}; nothing was changed",
                         hint="give it a unique cluster name, id and pod CIDR in kbmc.yaml")
    actions: list[Action] = []
    if seen[context].installed is None and member is not None:
        actions.append(Action("install", context, "cilium", install_args(member, max_connected)))
    if not seen[context].mesh_enabled:
        service = registry.for_context(members[0]).get_or_none(
            resource_path("v1", "services", NAMESPACE, MESH_SERVICE)) if members else None
        service_type = str(((service or {}).get("spec") or {}).get("type") or "NodePort")
        actions.append(Action("enable", context, "cilium", ["clustermesh", "enable", "--service-type", service_type]))
        actions.append(Action("enable", context, "cilium", status_args(timeout)))
    name = new[0]
    peer = {m: (seen[m].installed or ("",))[0] for m in members}
    already = [m for m in members if peer[m] in seen[context].peers and name in seen[m].peers]
    todo = [m for m in members if m not in already]
    actions += _pair_calls("connect", context, todo, multi, parallel)
    return MeshChange(context, True, multi, actions, already, todo)


def plan_leave(registry: ClientRegistry, runner: Runner, context: str, members: list[str], *,
               kubeconfig: str | None = None) -> MeshChange:
    """What `context` needs to leave the mesh: a disconnect from each member connected to it in either
    direction (`clustermesh status` on both sides); nothing when it is not in the mesh."""
    multi = _cli(runner)
    seen = _observe_all(registry, runner, [context, *members], kubeconfig, f"removing {context}")
    installed = seen[context].installed
    if installed is None or not seen[context].mesh_enabled:
        return MeshChange(context, False, multi, [], members, [], "ClusterMesh is not enabled there")
    name = installed[0]
    peer = {m: (seen[m].installed or ("",))[0] for m in members}
    todo = [m for m in members if peer[m] in seen[context].peers or name in seen[m].peers]
    already = [m for m in members if m not in todo]
    return MeshChange(context, False, multi, _pair_calls("disconnect", context, todo, multi, 1), already, todo)


def apply_change(runner: Runner, change: MeshChange, *, kubeconfig: str | None = None,
                 timeout: float = 900.0, on_progress: Callable[[str], None] = lambda _: None) -> list[str]:
    """Run the planned calls in order; returns them as run (each one a cilium command line)."""
    ran = []
    for action in change.actions:
        on_progress(f"cilium {' '.join(action.args[:2])} in {action.context}")
        done = runner.run("cilium", action.args, context=action.context, kubeconfig=kubeconfig, timeout=timeout + 60)
        ran.append(" ".join(done.argv))
    return ran
