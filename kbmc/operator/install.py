"""`operator install`: CRDs first (server-side), then the chart with the multi-cluster values.

Order: every check (preflight.py) -> plan (the exact argv, the values, install/upgrade/unchanged) ->
CRDs applied server-side and established -> helm or kbcli through the runner -> optionally follow the
manager Deployment. Re-running with the same values and chart changes nothing (no new helm revision).
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbmc import kubeconfig as kc
from kbmc.clients import ApiError, ClientRegistry, KubeClient, resource_path
from kbmc.errors import CommandError
from kbmc.operator import chart as charts
from kbmc.operator import release as rel
from kbmc.operator import values as vals
from kbmc.operator.preflight import Checked, InstallParams, check_data_planes, check_inputs, check_secret
from kbmc.runner import Runner, command_line

CRD_API = "apiextensions.k8s.io/v1"


@dataclass
class Plan:
    installer: str
    action: str  # install | upgrade | unchanged
    argv: list[str]  # the exact command line (values file named VALUES_FILE, written at run time)
    values: dict[str, Any]  # kbmc's values file (no secrets: the Secret's name only)
    changes: list[str]
    crds_source: str | None  # None: the installer brings its own (kbcli), or nothing to do
    crds: list[dict[str, Any]] = field(default_factory=list)
    revision: int | None = None  # the release's revision before
    warnings: list[str] = field(default_factory=list)
    checked: Checked | None = field(default=None, repr=False)
    # The release's values this run does not pass, passed back (helm): never printed, they may hold secrets.
    kept_values: dict[str, Any] = field(default_factory=dict, repr=False)
    kept_keys: list[str] = field(default_factory=list)
    kept_disabled: list[str] = field(default_factory=list)  # disabled live, kept although kbmc.yaml does not say so

    def as_dict(self) -> dict[str, Any]:
        return {"installer": self.installer, "action": self.action, "argv": self.argv,
                "valuesFile": vals.VALUES_FILE, "values": self.values, "changes": self.changes,
                "crds": {"source": self.crds_source, "count": len(self.crds)} if self.crds_source else None,
                "revision": self.revision, "warnings": self.warnings, "keptValues": self.kept_keys,
                "keptDisabled": self.kept_disabled}


@dataclass
class InstallResult:
    plan: Plan
    revision: int | None = None  # after
    ready: bool | None = None  # None: not waited for
    dry_run: bool = False


KEPT_FILE = "kbmc-kept-values.yaml"


def build_argv(params: InstallParams, checked: Checked, action: str, values_file: str,
               kept_file: str | None = None) -> list[str]:
    """The installer's command line (without the context/kubeconfig the runner appends). `kept_file`: the
    release's own values, first, so kbmc's and the user's override them."""
    user: list[str] = []
    for path in params.values_files:
        user += ["--values", path]
    for value in params.sets:
        user += ["--set", value]
    for value in params.set_strings:
        user += ["--set-string", value]
    timeout = helm_timeout(params.timeout)
    if params.installer == "kbcli":
        args = ["kubeblocks", action, "--version", params.version, "--namespace", params.namespace]
        if action == "install":
            args.append("--create-namespace")
        else:
            args.append("--auto-approve")
        # kbmc follows the manager Deployment itself (--wait): kbcli would also wait for every addon.
        return [*args, "--values", values_file, *user, "--wait=false", "--timeout", timeout]
    chart = checked.chart
    assert chart is not None
    kept = ["--values", kept_file] if kept_file else []
    args = ["upgrade", "--install", params.release, chart.ref, "--namespace", params.namespace, "--create-namespace",
            "--skip-crds", *kept, "--values", values_file, *user, "--timeout", timeout]
    if chart.repo:
        args += ["--repo", chart.repo]
    if not chart.local:
        args += ["--version", params.version]
    return args


def helm_timeout(seconds: float) -> str:
    """helm/kbcli take whole seconds: round up, never below 1s (`0s` would mean no time at all)."""
    return f"{max(1, math.ceil(seconds))}s"


def wanted_chart_version(params: InstallParams, checked: Checked) -> str:
    if checked.chart is not None and checked.chart.local:
        meta = charts.chart_metadata(checked.chart) or {}
        return str(meta.get("version", ""))
    return params.version.lstrip("v")


def plan(kube: kc.KubeConfig, registry: ClientRegistry, params: InstallParams) -> Plan:
    """Every check, then what would run; writes nothing."""
    checked = check_inputs(params)
    for name in [params.control_plane, *params.contexts]:
        kube.context(name)
    cp = registry.for_context(params.control_plane)
    check_secret(cp, params)
    warnings = check_data_planes(kube, registry, params)

    current = rel.current(cp, params.namespace, params.release)
    deployed = rel.current(cp, params.namespace, params.release, deployed=True) if current else None
    kept_disabled: list[str] = []
    if current is not None and not params.disabled_explicit:
        kept_disabled = keep_live_disabled(cp, params, current, checked)
        if kept_disabled:
            warnings.append(f"keeping {','.join(kept_disabled)} disabled as the running operator has it (`kbmc "
                            "contexts disable`; kbmc.yaml does not say so): pass --contexts-disabled to set the whole "
                            f"list, or run `kbmc contexts enable {' '.join(kept_disabled)}`")
    desired = checked.desired
    chart_version = wanted_chart_version(params, checked)
    changes: list[str] = []
    kept_values: dict[str, Any] = {}
    kept_keys: list[str] = []
    if current is None:
        action = "install"
    else:
        base = deployed or current
        if params.installer == "helm" and not params.reset_values:
            # `helm upgrade` without --reuse-values would drop every value this run does not pass (set with
            # `helm upgrade --set`, or by an earlier run): they are passed back, named, never printed.
            kept_keys = vals.left_over(base.config, desired, {})
            kept_values = {k: v for k, v in base.config.items() if k != vals.OWNED_KEY}
            if kept_keys:
                warnings.append(f"the release keeps value(s) this run does not pass: {', '.join(kept_keys)} (set "
                                "outside kbmc or by an earlier run; pass --reset-values to drop them)")
            desired = vals.merge(kept_values, desired)
        if params.installer == "kbcli":
            # kbcli's upgrade merges the release's values (and the chart's defaults) under the new ones: what this
            # run passes is compared; what the release has beyond it stays, and is reported when a user set it.
            changes = vals.changes(vals.restrict(base.config, desired), desired)
            kept = vals.left_over(base.config, desired, base.chart_values)
            if kept:
                warnings.append(f"the release keeps value(s) this run does not pass: {', '.join(kept)} "
                                "(kbcli upgrade keeps earlier values; pass them again, or use --installer helm "
                                "to drop them)")
        else:
            changes = vals.changes(base.config, desired)
        if chart_version and base.chart_version.lstrip("v") != chart_version:
            changes.insert(0, f"chart version: {base.chart_version} -> {chart_version}")
        if current.status != "deployed":
            changes.append(f"last revision {current.revision} is {current.status}")
        action = "upgrade" if changes else "unchanged"
    argv = command_line(params.installer, build_argv(params, checked, installer_action(params.installer, action),
                                                     vals.VALUES_FILE, KEPT_FILE if kept_values else None),
                        context=params.control_plane, kubeconfig=params.kubeconfig_path)

    crds_source: str | None = None
    crds: list[dict[str, Any]] = []
    if params.installer == "helm" and action != "unchanged":
        from_chart = (charts.chart_crds(checked.chart) if checked.chart is not None and checked.chart.local
                      and not params.crds else None)
        if from_chart is not None:
            crds_source, crds = from_chart
        else:
            crds_source = charts.crds_source(params.crds, params.version)
    return Plan(params.installer, action, argv, checked.owned, changes, crds_source, crds,
                current.revision if current else None, checked.warnings + warnings, checked,
                kept_values, kept_keys, kept_disabled)


def keep_live_disabled(cp: KubeClient, params: InstallParams, current: rel.Release, checked: Checked) -> list[str]:
    """The contexts the running operator has disabled (its Deployment's flag, the release's contextsDisabled)
    that this run would enable without being told to: added to the disabled list (checked.owned updated).
    Returned, for the warning; an explicit --contexts-disabled is the whole list and skips this."""
    from kbmc.operator import status as st

    live: list[str] = st.split(str(((current.config.get(vals.OWNED_KEY) or {}).get("contextsDisabled")) or ""))
    manager = st.manager_deployment(cp, params.namespace, params.release)
    if manager is not None:
        live += st.split(st.flag_value(st.manager_container(manager).get("args") or [], st.FLAG_DISABLED))
    kept = [c for c in params.contexts if c in live and c not in params.disabled and c != params.control_plane]
    if kept:
        params.disabled = [c for c in params.contexts if c in params.disabled or c in kept]
        checked.owned = vals.multi_cluster_values(params.secret_name, params.contexts, params.disabled)
    return kept


def install(kube: kc.KubeConfig, registry: ClientRegistry, runner: Runner, params: InstallParams,
            on_progress: Callable[[str], None] = lambda _: None) -> InstallResult:
    """Plan, then run helm/kbcli. An upgrade runs under the `kbmc-contexts` Lease that `kbmc contexts ...` take
    (kbmc.contexts.lease), planned again once it is held, so it neither races their helm upgrades nor undoes a
    `contexts disable` that landed meanwhile. A first install has no release for them to change: no lease."""
    from dataclasses import replace

    the_plan = plan(kube, registry, replace(params))
    if params.dry_run:
        return InstallResult(the_plan, dry_run=True)
    cp = registry.for_context(params.control_plane)
    if the_plan.action == "install":
        _apply(cp, runner, params, the_plan, on_progress)
    elif the_plan.action != "unchanged":
        from kbmc.contexts import lease

        on_progress(f"waiting for the lease {params.namespace}/{lease.LEASE_NAME}")
        with lease.held(cp, params.namespace, timeout=params.timeout):
            the_plan = plan(kube, registry, replace(params))  # again, under the lease
            if the_plan.action != "unchanged":
                _apply(cp, runner, params, the_plan, on_progress)
    if the_plan.action == "unchanged":
        result = InstallResult(the_plan, revision=the_plan.revision)
    else:
        after = rel.current(cp, params.namespace, params.release)
        result = InstallResult(the_plan, revision=after.revision if after else None)
    if params.wait:
        _wait(cp, params, on_progress)
        result.ready = True
    return result


def _apply(cp: KubeClient, runner: Runner, params: InstallParams, the_plan: Plan,
           on_progress: Callable[[str], None]) -> None:
    if the_plan.crds_source is not None:
        crds = the_plan.crds or charts.fetch_crds(the_plan.crds_source)
        on_progress(f"applying {len(crds)} CRDs server-side to {params.control_plane}")
        apply_crds(cp, crds, timeout=min(params.timeout, 120.0))
    tmp = Path(tempfile.mkdtemp(prefix="kbmc-operator-"))
    try:
        from kbmc.files import write_private
        from kbmc.yamlio import dump_yaml

        values_file = tmp / vals.VALUES_FILE
        write_private(values_file, dump_yaml(the_plan.values))
        kept_file = None
        if the_plan.kept_values:
            kept_file = tmp / KEPT_FILE
            write_private(kept_file, dump_yaml(the_plan.kept_values))
        assert the_plan.checked is not None
        args = build_argv(params, the_plan.checked, installer_action(params.installer, the_plan.action),
                          str(values_file), str(kept_file) if kept_file else None)
        on_progress(f"running {params.installer} {args[0]} {args[1]} in {params.control_plane}")
        try:
            runner.run(params.installer, args, context=params.control_plane, kubeconfig=params.kubeconfig_path,
                       timeout=params.timeout + 60)
        except CommandError as exc:
            hint = orphan_role_hint(cp, exc.stderr_tail, params.control_plane)
            if hint:
                exc.hint = hint
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _wait(cp: KubeClient, params: InstallParams, on_progress: Callable[[str], None]) -> None:
    from kbmc.operator.wait import wait_manager

    wait_manager(cp, params.namespace, params.release, timeout=params.timeout, on_progress=on_progress)


def installer_action(installer: str, action: str) -> str:
    """kbcli has `kubeblocks install` and `kubeblocks upgrade`; helm's `upgrade --install` does both."""
    if installer == "kbcli":
        return "install" if action == "install" else "upgrade"
    return action


def apply_crds(client: KubeClient, crds: list[dict[str, Any]], *, timeout: float) -> None:
    """Server-side apply (CRDs are too large for client-side apply's annotation), then wait until established."""
    from concurrent.futures import ThreadPoolExecutor

    from kbmc.wait import Poll, wait_for

    def one(crd: dict[str, Any]) -> None:
        path = resource_path(CRD_API, "customresourcedefinitions", name=crd["metadata"]["name"])
        client.apply(path, crd, force=True)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, crds))
    names = {c["metadata"]["name"] for c in crds}

    def established() -> Poll:
        items = client.get(resource_path(CRD_API, "customresourcedefinitions"))["items"]
        ok = {i["metadata"]["name"] for i in items
              if any(c.get("type") == "Established" and c.get("status") == "True"
                     for c in (i.get("status") or {}).get("conditions") or [])}
        missing = sorted(names - ok)
        return Poll(not missing, f"not established yet: {', '.join(missing[:3])}" if missing else None)

    wait_for("the KubeBlocks CRDs", established, timeout=timeout, interval=0.5)


# helm's refusal to adopt an object it did not create.
_NOT_IMPORTABLE = re.compile(r'ClusterRole "([^"]+)" in namespace "" exists and cannot be imported')
_AGGREGATOR = "clusterrole-aggregation-controller"


def orphan_role_hint(cp: KubeClient, stderr: str, context: str) -> str | None:
    """Why helm refuses a ClusterRole, when it is the aggregation controller's leftover.

    After `helm uninstall`, kube-controller-manager's ClusterRole aggregation controller may still have the
    chart's aggregated role (e.g. `kubeblocks`, `kubeblocks-cluster-pod-role`) queued: its server-side apply of
    the rules re-creates the role helm just deleted, with nothing but the rules and no owner. helm then refuses
    it ("invalid ownership metadata"). Only such a role is named here; any other conflict keeps helm's message.
    """
    m = _NOT_IMPORTABLE.search(stderr or "")
    if not m:
        return None
    try:
        role = cp.get_or_none(resource_path("rbac.authorization.k8s.io/v1", "clusterroles", name=m.group(1)))
    except ApiError:
        return None
    if role is None:
        return None
    meta = role.get("metadata") or {}
    managers = {f.get("manager") for f in meta.get("managedFields") or []}
    if managers != {_AGGREGATOR} or meta.get("labels") or meta.get("annotations") or role.get("aggregationRule"):
        return None
    return (f"ClusterRole {m.group(1)} is a leftover of an earlier uninstall: the ClusterRole aggregation controller "
            f"re-created it with its rules only and no owner; delete it and run again: "
            f"kubectl --context {context} delete clusterrole {m.group(1)}")
