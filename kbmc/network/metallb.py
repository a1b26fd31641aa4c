"""`kbmc network metallb`: MetalLB and one address pool per data plane (runbook step 4, north-south).

helm installs the chart in each data plane; kbmc then waits until MetalLB's controller is
available and its validating webhook answers (applying a pool right after the install races
the webhook: metallb issues #1540/#1612), and applies the cluster's IPAddressPool and
L2Advertisement with server-side apply. Re-runs change nothing; a range changed in kbmc.yaml
updates that cluster's pool only.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from kbmc import validation as v
from kbmc.clients import ApiError, ClientRegistry, resource_path
from kbmc.errors import InputError, OperationError, WaitTimeout
from kbmc.fanout import fan_out
from kbmc.kubeconfig import KubeConfig
from kbmc.network.plan import Action, planes_from, require_reachable, require_tool
from kbmc.runner import Runner
from kbmc.wait import Poll, wait_for

RELEASE = "metallb"
NAMESPACE = "metallb-system"
REPO = "https://metallb.github.io/metallb"
CHART_VERSION = "0.15.2"
CONTROLLER = "metallb-controller"
API = "metallb.io/v1beta1"
POOL_NAME = "kbmc"
LABELS = {"app.kubernetes.io/managed-by": "kbmc"}
_CHART_VERSION = re.compile(r"-(v?\d+\.\d+\.\d+\S*)$")  # helm list's chart: <name>-<version>
_WEBHOOK = re.compile(r'failed calling webhook "([^"]+)"')


@dataclass
class LbMember:
    context: str
    addresses: list[str]


@dataclass
class MetallbParams:
    members: list[LbMember]
    chart: str | None = None  # local directory, .tgz or oci:// reference; default: the official repository
    version: str | None = None  # --version: the repository or oci:// chart's version (default CHART_VERSION)
    timeout: float = 300.0
    kubeconfig: str | None = None
    dry_run: bool = False


@dataclass
class MetallbPlan:
    """Per data plane: the helm release found (`helm list`), what a run decides, and the actions it takes."""

    installed: dict[str, str | None]
    decisions: list[dict[str, str]]
    actions: list[Action]

    def as_dict(self, kubeconfig: str | None = None) -> dict[str, Any]:
        return {"decisions": list(self.decisions), "actions": [a.as_dict(kubeconfig) for a in self.actions]}


@dataclass
class ClusterOutcome:
    context: str
    helm: str = "not run"
    pool: str = "not run"
    advertisement: str = "not run"
    addresses: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"context": self.context, "helm": self.helm, "pool": self.pool,
                "advertisement": self.advertisement, "addresses": self.addresses}


def pool(member: LbMember) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "IPAddressPool",
            "metadata": {"name": POOL_NAME, "namespace": NAMESPACE, "labels": dict(LABELS)},
            "spec": {"addresses": list(member.addresses)}}


def advertisement() -> dict[str, Any]:
    return {"apiVersion": API, "kind": "L2Advertisement",
            "metadata": {"name": POOL_NAME, "namespace": NAMESPACE, "labels": dict(LABELS)},
            "spec": {"ipAddressPools": [POOL_NAME]}}


def helm_args(params: MetallbParams) -> list[str]:
    args = ["upgrade", "--install", RELEASE]
    chart = params.chart
    version = params.version or CHART_VERSION
    if chart is None:
        args += ["metallb", "--repo", REPO, "--version", version]
    elif chart.startswith("oci://"):
        args += [chart, "--version", version]
    else:
        args += [chart]
    return args + ["-n", NAMESPACE, "--create-namespace"]


def members_from(topology: Any, contexts: list[str]) -> list[LbMember]:
    planes = planes_from(topology, contexts, command="kbmc network metallb", needs="each cluster's address ranges",
                         missing="metallb addresses", hint="add metallb: {addresses: [...]} to each data plane",
                         has_values=lambda d: bool(d.lb_addresses))
    return [LbMember(d.context, list(d.lb_addresses)) for d in planes]


def check_api_server_addresses(kubeconfig: KubeConfig, members: list[LbMember]) -> None:
    """A pool holding the cluster's own API server address would hand it to a Service."""
    problems = []
    for m in members:
        host = urlparse(kubeconfig.context(m.context).server).hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            continue  # a name: nothing to compare without resolving it
        point, _ = v.parse_address_range(f"{host}-{host}")  # the address as an interval of one
        for entry in m.addresses:
            interval, _ = v.parse_address_range(entry)
            if point and interval and interval[0] <= point[0] <= interval[1]:
                problems.append(f"{m.context}: MetalLB range {entry} contains the cluster's API server address {host}")
    if problems:
        raise InputError("; ".join(problems), hint="pick a range of free addresses outside the node and API networks")


def check_chart(params: MetallbParams) -> None:
    """A local chart exists, and --version is not given for one (helm would ignore it silently)."""
    local = params.chart is not None and not params.chart.startswith("oci://")
    if local and not Path(str(params.chart)).exists():
        raise InputError(f"--chart {params.chart} does not exist", hint="a chart directory, .tgz, or oci:// reference")
    if local and params.version is not None:
        # helm's ChartPathOptions.LocateChart returns a local path as it is: --version is not read for it.
        own = _chart_version(params)
        if own != params.version:
            raise InputError(f"--version {params.version} does not apply to the local chart {params.chart} "
                             f"as helm installs a local chart's own version, {own or 'unreadable here'}",
                             hint="drop --version, or pass the chart of that version")


def helm_decision(have: str | None, wanted: str | None) -> str:
    """What a run does with the release: the same words in a dry run's plan and in the run."""
    if have is not None and wanted is not None and have == wanted:
        return f"skip (already installed with the same chart version {have})"
    if have is None:
        return f"install ({wanted or 'chart version unknown'})"
    return f"upgrade ({have} -> {wanted or 'chart version unknown'})"


def plan(registry: ClientRegistry, runner: Runner, params: MetallbParams) -> MetallbPlan:
    """Read-only: each data plane's release (`helm list`) and pool decide what a run does there."""
    check_chart(params)
    require_tool("helm")
    contexts = [m.context for m in params.members]
    require_reachable(registry, contexts)
    results = fan_out(contexts, lambda ctx: installed_version(runner, ctx, params.kubeconfig))
    failed = [r for r in results if not r.ok]
    if failed:
        raise OperationError("cannot read the MetalLB releases, nothing was run: "
                             + "; ".join(r.labelled for r in failed))
    installed = {r.context: r.value for r in results}
    wanted = _chart_version(params)
    pools = {r.context: r.value for r in fan_out(contexts, lambda ctx: _existing_pool(registry, ctx))}
    decisions: list[dict[str, str]] = []
    actions = []
    for m in params.members:
        helm = helm_decision(installed[m.context], wanted)
        decisions.append({"context": m.context, "step": "install", "decision": helm})
        if not helm.startswith("skip"):
            actions.append(Action("install", m.context, "helm", helm_args(params)))
        have = pools.get(m.context)
        decisions.append({"context": m.context, "step": "pool", "decision": (
            "create" if have is None else "unchanged" if have == m.addresses
            else f"update addresses {', '.join(have)} -> {', '.join(m.addresses)}")})
        actions.append(Action("pool", m.context, obj=pool(m)))
        actions.append(Action("advertisement", m.context, obj=advertisement()))
    return MetallbPlan(installed, decisions, actions)


def _existing_pool(registry: ClientRegistry, context: str) -> list[str] | None:
    """The addresses of kbmc's pool there now (None: no pool, or MetalLB's CRDs not installed yet)."""
    try:
        found = registry.for_context(context).get_or_none(resource_path(API, "ipaddresspools", NAMESPACE, POOL_NAME))
    except ApiError:
        return None
    return None if found is None else list((found.get("spec") or {}).get("addresses") or [])


# ---- running it -------------------------------------------------------------------------------------


def _chart_yaml(chart: str) -> str | None:
    """Chart.yaml of a local chart: a directory, or a packaged chart (`helm package`: <name>/Chart.yaml in a .tgz)."""
    if Path(chart, "Chart.yaml").is_file():
        return Path(chart, "Chart.yaml").read_text()
    if Path(chart).is_file():
        import tarfile

        try:
            with tarfile.open(chart, "r:*") as archive:
                for member in archive:
                    parts = member.name.strip("/").split("/")
                    if member.isfile() and len(parts) == 2 and parts[1] == "Chart.yaml":
                        handle = archive.extractfile(member)
                        return handle.read().decode("utf-8", "replace") if handle else None
        except (OSError, tarfile.TarError):
            return None  # helm says what is wrong with it when it runs
    return None


def _chart_version(params: MetallbParams) -> str | None:
    if params.chart and not params.chart.startswith("oci://"):
        text = _chart_yaml(params.chart)
        if text is None:
            return None
        from kbmc.yamlio import load_yaml

        doc = load_yaml(text, "Chart.yaml")
        return str(doc.get("version")) if isinstance(doc, dict) else None
    return params.version or CHART_VERSION


def installed_version(runner: Runner, context: str, kubeconfig: str | None) -> str | None:
    """The chart version of the deployed release, from `helm list -o json`; None when not deployed."""
    out = runner.run("helm", ["list", "-n", NAMESPACE, "--filter", f"^{RELEASE}$", "-o", "json"], context=context,
                     kubeconfig=kubeconfig, timeout=60)
    try:
        releases = json.loads(out.stdout or "[]")
    except ValueError:
        return None
    for release in releases if isinstance(releases, list) else []:
        if release.get("name") == RELEASE and release.get("status") == "deployed":
            m = _CHART_VERSION.search(str(release.get("chart", "")))
            return m.group(1) if m else None
    return None


def controller_available(registry: ClientRegistry, context: str) -> Poll:
    deployment = registry.for_context(context).get_or_none(
        resource_path("apps/v1", "deployments", NAMESPACE, CONTROLLER))
    if deployment is None:
        return Poll(False, f"Deployment {NAMESPACE}/{CONTROLLER} not found yet")
    status = deployment.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if (conditions.get("Available") or {}).get("status") == "True" and status.get("availableReplicas", 0) >= 1:
        return Poll(True)
    reason = (conditions.get("Available") or {}).get("message") or "no available replica yet"
    return Poll(False, f"{CONTROLLER}: {reason}")


def apply_through_webhook(registry: ClientRegistry, context: str, obj: dict[str, Any], *, timeout: float,
                          dry_run: bool = False, sleep: Callable[[float], None] = time.sleep,
                          given_timeout: float | None = None) -> dict[str, Any]:
    """Server-side apply, retried with backoff while MetalLB's webhook does not answer (or the CRD is new).

    `timeout` is what is left of the user's --timeout; `given_timeout` is that --timeout, which a timeout
    message reports (the time left, e.g. 9.99548s of 10s, means nothing to the user)."""
    client = registry.for_context(context)
    meta = obj["metadata"]
    path = resource_path(API, obj["kind"].lower() + "s", meta["namespace"], meta["name"])
    result: dict[str, Any] = {}
    webhook: list[str] = []
    conflict: list[str] = []

    def attempt() -> Poll:
        try:
            result.update(client.apply(path, obj, dry_run=dry_run))
        except ApiError as exc:
            message = str(exc.body.get("message") or exc)
            if m := _WEBHOOK.search(message):
                webhook[:] = [m.group(1)]
                return Poll(False, message)
            if exc.not_found or exc.unreachable or exc.status >= 500:
                return Poll(False, message)
            if exc.field_conflicts:
                conflict[:] = [exc.conflict_summary]
            return Poll(False, message, failed=True)  # refused on its merits: retrying will not help
        return Poll(True)

    try:
        wait_for(f"{obj['kind']} {meta['name']} in {context}", attempt, timeout=timeout, interval=0.5, backoff=2.0,
                 max_interval=5.0, sleep=sleep)
    except OperationError as exc:
        if conflict:
            # One line: what conflicted, whose it is, and what to do (kbmc never takes fields over by force).
            what = f"{obj['kind']} {meta['namespace']}/{meta['name']}"
            raise OperationError(
                f"{context}: {what}: {conflict[0]}; kbmc does not take over another manager's fields: hand them over "
                f"(`kubectl apply --server-side --force-conflicts --field-manager kbmc` with the object from "
                f"`kbmc network metallb --dry-run -o yaml`) or delete {what}, then re-run") from None
        if not isinstance(exc, WaitTimeout):
            raise
        if webhook:
            raise OperationError(
                f"{context}: MetalLB's validating webhook {webhook[0]} did not answer within "
                f"{given_timeout if given_timeout is not None else timeout:g}s (--timeout) "
                f"(last: {exc.last_reason}); until it does, the API server refuses every {obj['kind']}, so no "
                f"LoadBalancer Service gets an address (metallb issues #1540/#1612)",
                hint=f"check the {CONTROLLER} pods and the metallb-webhook-service endpoints in {NAMESPACE}") from None
        raise
    return result


def run(registry: ClientRegistry, runner: Runner, params: MetallbParams, planned: MetallbPlan,
        on_event: Callable[[str], None] | None = None) -> list[ClusterOutcome]:
    """Carry out the plan: helm where the plan installs or upgrades, then the controller, webhook, pool."""
    note = on_event or (lambda _m: None)
    wanted = _chart_version(params)
    helm_runs = {a.context for a in planned.actions if a.step == "install"}

    outcomes = {m.context: ClusterOutcome(m.context, addresses=list(m.addresses)) for m in params.members}

    def one(member: LbMember) -> ClusterOutcome:
        ctx = member.context
        out = outcomes[ctx]
        have = planned.installed.get(ctx)
        if ctx not in helm_runs:
            out.helm = f"already installed ({have})"
        else:
            runner.run("helm", helm_args(params), context=ctx, kubeconfig=params.kubeconfig, timeout=params.timeout)
            out.helm = f"installed ({wanted})" if have is None else f"upgraded ({have} -> {wanted})"
        note(f"{ctx}: MetalLB {out.helm}")
        deadline = time.monotonic() + params.timeout
        wait_for(f"MetalLB's controller in {ctx}", lambda: controller_available(registry, ctx),
                 timeout=params.timeout, interval=1.0)
        # The webhook answers when a server-side dry run of the pool is accepted.
        apply_through_webhook(registry, ctx, pool(member), timeout=max(1.0, deadline - time.monotonic()),
                              dry_run=True, given_timeout=params.timeout)
        for obj, attr in ((pool(member), "pool"), (advertisement(), "advertisement")):
            client = registry.for_context(ctx)
            meta = obj["metadata"]
            path = resource_path(API, obj["kind"].lower() + "s", meta["namespace"], meta["name"])
            before = client.get_or_none(path)
            after = apply_through_webhook(registry, ctx, obj, timeout=max(1.0, deadline - time.monotonic()),
                                          given_timeout=params.timeout)
            if before is None:
                state = "created"
            elif before["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"]:
                state = "unchanged"
            else:
                state = "updated"
            setattr(out, attr, state)
        note(f"{ctx}: pool {out.pool} ({', '.join(member.addresses)}), L2Advertisement {out.advertisement}")
        return out

    by_context = {m.context: m for m in params.members}
    for r in fan_out(list(by_context), lambda ctx: one(by_context[ctx])):
        if not r.ok:
            out = outcomes[r.context]
            # The first step that did not finish is the one that failed.
            attr = next(a for a in ("helm", "pool", "advertisement") if getattr(out, a) == "not run")
            setattr(out, attr, f"failed: {r.reason}")
            note(f"{r.context}: {attr} failed: {r.reason}")
    return list(outcomes.values())


def ok(outcome: ClusterOutcome) -> bool:
    return not any(s.startswith(("failed", "not run")) for s in (outcome.helm, outcome.pool, outcome.advertisement))
