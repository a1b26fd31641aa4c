"""`contexts disable/enable`: change the operator's --multi-cluster-contexts-disabled safely.

helm-managed release (the normal case): `helm upgrade --reuse-values` with only
`multiCluster.contextsDisabled` changed, the chart rebuilt from helm's own release record (or `--chart`), so a
later `helm upgrade` keeps it. Otherwise: the flag patched in place in every Deployment carrying it (manager and
dataprotection), with resourceVersion preconditions. Either way under the `kbmc-contexts` Lease (lease.py),
re-reading the live state once it is held, so concurrent runs for different contexts all land.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbmc.clients import ApiError, ClientRegistry, KubeClient, resource_path
from kbmc.contexts import lease
from kbmc.contexts import live as lv
from kbmc.errors import InputError, OperationError
from kbmc.operator import release as rel
from kbmc.operator import status as st
from kbmc.runner import Runner

VIA = ("auto", "helm", "deployment")


@dataclass
class ToggleParams:
    control_plane: str
    targets: list[str]
    disable: bool
    namespace: str
    release: str
    via: str = "auto"
    chart: str | None = None
    force: bool = False
    wait: bool = False
    timeout: float = 300.0
    dry_run: bool = False
    kubeconfig_path: str | None = None


@dataclass
class ToggleResult:
    action: str  # changed | unchanged | dry-run
    via: str  # helm | deployment
    contexts: list[str]
    before: list[str]
    after: list[str]
    revision_before: int | None = None
    revision_after: int | None = None
    deployments: list[str] = field(default_factory=list)  # the Deployments written (deployment mode)
    live_args: dict[str, list[str]] = field(default_factory=dict)  # Deployment -> its --multi-cluster-* args
    clusters: list[dict[str, Any]] = field(default_factory=list)  # Clusters placed on the targets
    waited: bool = False
    outside: list[str] = field(default_factory=list)  # targets not among the operator's contexts
    collapsed: list[str] = field(default_factory=list)  # repeated disabled flags written as one: what changed

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "via": self.via, "contexts": self.contexts,
                "contextsDisabledBefore": self.before, "contextsDisabled": self.after,
                "revisionBefore": self.revision_before, "revisionAfter": self.revision_after,
                "deploymentsWritten": self.deployments, "liveArgs": self.live_args,
                "placedClusters": self.clusters, "waited": self.waited,
                "notOperatorContexts": self.outside, "collapsedFlags": self.collapsed}


def check_params(params: ToggleParams) -> None:
    if params.via not in VIA:
        raise InputError(f"--via {params.via!r} is not one of {', '.join(VIA)}")
    if not params.targets:
        raise InputError("no context given", hint="name one or more data-plane contexts")
    if len(set(params.targets)) != len(params.targets):
        raise InputError(f"context listed twice: {','.join(params.targets)}")
    if params.disable and params.control_plane in params.targets:
        raise InputError(f"the control plane's own context {params.control_plane!r} cannot be disabled "
                         "(the operator refuses to start with it disabled)")
    if params.chart is not None and not Path(params.chart).exists():
        raise InputError(f"--chart {params.chart}: no such chart directory or .tgz")


def desired(live: lv.Live, params: ToggleParams, known: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The new disabled list: what is there (the live flag and the release's value, merged: never drop one),
    plus or minus the targets, in the operator's contexts order; refusals raised here.

    A target already in the wanted state is a no-op, wherever it comes from: disabling a stray that is disabled
    already, enabling a context that is not disabled. A name neither the operator (contexts, disabled list,
    release) nor `known` (the kubeconfig's contexts) has is a mistake: refused (exit 2)."""
    current = set(live.disabled) | (set(live.release_disabled) if live.helm_managed else set())
    operator = set(live.contexts) | current
    unknown = [c for c in params.targets if c not in operator and c not in known]
    if params.disable:
        # Disabling something the operator does not use: refused, unless it is disabled already (a stray).
        missing = [c for c in params.targets if c not in live.contexts and c not in current]
    else:
        missing = unknown
    if missing:
        raise InputError(f"context(s) {', '.join(missing)} not in the operator's contexts "
                         f"({','.join(live.contexts) or 'none'})"
                         + ("" if params.disable else " nor in your kubeconfig"),
                         hint=f"check the name with `kbmc contexts list`, or add it first with "
                              f"`kbmc contexts add {missing[0]}`")
    wanted = current | set(params.targets) if params.disable else current - set(params.targets)
    # The operator's contexts order; a stray disabled context (not in the contexts) kept after them.
    after = [c for c in live.contexts if c in wanted] + sorted(c for c in wanted if c not in live.contexts)
    if params.disable and not params.force and not [c for c in live.contexts if c not in wanted]:
        raise InputError(f"disabling {', '.join(params.targets)} would leave no enabled data plane",
                         hint="pass --force to disable the last one anyway")
    return after


def outside(live: lv.Live, params: ToggleParams) -> list[str]:
    """Targets that are not among the operator's contexts (a stray disabled one, or an enable of a context the
    operator does not use): said, so an "already enabled" is not read as "in use"."""
    return [c for c in params.targets if c not in live.contexts]


def mode(live: lv.Live, params: ToggleParams) -> str:
    if params.via == "helm" and not live.helm_managed:
        raise InputError(f"release {params.release} is not managed by helm here", hint="use --via deployment")
    if params.via != "auto":
        return params.via
    return "helm" if live.helm_managed else "deployment"


def _unchanged(live: lv.Live, via: str, after: list[str]) -> bool:
    same_args = all(
        st.split(st.flag_value(c.get("args") or [], st.FLAG_DISABLED)) == after
        for d in live.deployments for c in lv.flag_containers(d))
    return same_args and (via == "deployment" or live.release_disabled == after)


def toggle(registry: ClientRegistry, runner: Runner, params: ToggleParams,
           on_progress: Callable[[str], None] = lambda _: None) -> ToggleResult:
    check_params(params)
    cp = registry.for_context(params.control_plane)
    live = lv.read(cp, params.namespace, params.release)
    via = mode(live, params)
    if via == "helm":
        _check_helm(runner)
    known = set(registry.kubeconfig.contexts)
    after = desired(live, params, known)
    result = ToggleResult("unchanged", via, live.contexts, live.disabled, after,
                          revision_before=live.release.revision if live.release else None,
                          outside=outside(live, params))
    if params.disable:
        result.clusters = lv.placed_clusters(cp, params.targets)
    if _unchanged(live, via, after):
        result.revision_after = result.revision_before
        result.live_args = {d["metadata"]["name"]: lv.multi_cluster_args(d) for d in live.deployments}
        return result
    if via == "helm" and live.release_disabled != after:
        refuse_hand_added_args(cp, params, live)
    if params.dry_run:
        result.action = "dry-run"
        return result
    on_progress(f"waiting for the lease {params.namespace}/{lease.LEASE_NAME}")
    with lease.held(cp, params.namespace, timeout=params.timeout):
        live = lv.read(cp, params.namespace, params.release)  # again, under the lease
        after = desired(live, params, known)
        result.before, result.after, result.contexts = live.disabled, after, live.contexts
        result.revision_before = live.release.revision if live.release else None
        if not _unchanged(live, via, after):
            result.action = "changed"
            result.collapsed = repeated_flags(live, after)
            if via == "helm":
                on_progress(f"helm upgrade {params.release}: multiCluster.contextsDisabled={','.join(after)}")
            result.deployments = write_operator(cp, runner, params, live, via, None, after, on_progress)
    if params.wait:
        from kbmc.operator.wait import wait_manager

        wait_manager(cp, params.namespace, params.release, timeout=params.timeout, on_progress=on_progress)
        result.waited = True
    final = lv.read(cp, params.namespace, params.release)
    result.revision_after = final.release.revision if final.release else None
    result.live_args = {d["metadata"]["name"]: lv.multi_cluster_args(d) for d in final.deployments}
    return result


def _rendered_args(cp: KubeClient, params: ToggleParams) -> dict[tuple[str, str], list[str]]:
    """(Deployment, container) -> the args helm's record of the release renders for it."""
    import re

    from kbmc.yamlio import load_yaml

    doc = rel.record(cp, params.namespace, params.release) or {}
    rendered: dict[tuple[str, str], list[str]] = {}
    for part in re.split(r"(?m)^---[ \t]*$", str(doc.get("manifest") or "")):
        obj = load_yaml(part, f"release {params.release}'s manifest") if part.strip() else None
        if not isinstance(obj, dict) or obj.get("kind") != "Deployment":
            continue
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for c in pod.get("containers") or []:
            rendered[(str((obj.get("metadata") or {}).get("name")), str(c.get("name")))] = [
                str(a) for a in c.get("args") or []]
    return rendered


def repeated_flags(live: lv.Live, after: list[str]) -> list[str]:
    """What writing the flag once changes where it was given several times: the manager (Go's flag package)
    used the last; the earlier values were not in effect and are dropped (enabling nothing that was disabled)."""
    from kbmc.operator.manager import flag_count

    notes = []
    for d in live.deployments:
        for c in lv.flag_containers(d):
            args = [str(a) for a in c.get("args") or []]
            n = flag_count(args, st.FLAG_DISABLED)
            if n > 1:
                values = lv.all_values(args, st.FLAG_DISABLED)
                ignored = sorted({x for v in values[:-1] for x in st.split(v)} - set(st.split(values[-1])))
                notes.append(f"Deployment {d['metadata']['name']} gave {st.FLAG_DISABLED} {n} times (in effect: "
                             f"the last, {values[-1] or '(none)'}); written once as {','.join(after) or '(none)'}"
                             + (f"; dropped from the earlier, ignored ones: {','.join(ignored)} (they were "
                                "enabled and stay enabled)" if ignored else ""))
    return notes


def hand_added_args(cp: KubeClient, params: ToggleParams, live: lv.Live,
                    rendered: dict[tuple[str, str], list[str]] | None = None) -> dict[str, list[str]]:
    """Deployment -> the manager args it runs with that the release does not render (added or edited by hand).

    A helm upgrade replaces the args list with the rendered one (the list changes with contextsDisabled), so
    those would be dropped. kbmc's own --multi-cluster-* flags are compared by value in multi_cluster_drift."""
    rendered = _rendered_args(cp, params) if rendered is None else rendered
    extra: dict[str, list[str]] = {}
    for d in live.deployments:
        name = d["metadata"]["name"]
        for c in lv.flag_containers(d):
            want = rendered.get((name, str(c.get("name"))))
            added = [a for a in c.get("args") or [] if want is not None and a not in want
                     and not a.startswith("--multi-cluster-")]
            if added:
                extra.setdefault(name, []).extend(added)
    return extra


def multi_cluster_drift(live: lv.Live, rendered: dict[tuple[str, str], list[str]],
                        contexts: list[str] | None) -> list[tuple[str, str]]:
    """(problem, fix) for every multi-cluster flag the live Deployments run with that the helm upgrade would
    not render: a data plane added to (or taken out of) --multi-cluster-contexts by hand, another
    --multi-cluster-kubeconfig. `contexts` is the contexts the upgrade sets (None: the release's, unchanged):
    a difference it makes on purpose is not drift. --multi-cluster-contexts-disabled is not compared: the
    change merges the live and the release's lists (it never drops one)."""
    found: list[tuple[str, str]] = []
    for d in live.deployments:
        name = d["metadata"]["name"]
        for c in lv.flag_containers(d):
            want = rendered.get((name, str(c.get("name"))))
            if want is None:
                continue
            args = [str(a) for a in c.get("args") or []]
            have_ctx = st.split(st.flag_value(args, st.FLAG_CONTEXTS))
            release_ctx = st.split(st.flag_value(want, st.FLAG_CONTEXTS))
            will = release_ctx if contexts is None else contexts
            on_purpose = set(will) ^ set(release_ctx)
            for extra in [x for x in have_ctx if x not in will and x not in on_purpose]:
                found.append((f"Deployment {name} runs with {extra} in {st.FLAG_CONTEXTS}, the release does not "
                              "render it", f"`kbmc contexts add {extra}` (records it in the release)"))
            for gone in [x for x in will if x not in have_ctx and x not in on_purpose]:
                found.append((f"Deployment {name} runs without {gone} in {st.FLAG_CONTEXTS}, the release "
                              "renders it", f"`kbmc contexts remove {gone}`"))
            for flag in sorted({a.split("=", 1)[0] for a in [*args, *want] if a.startswith("--multi-cluster-")}
                               - {st.FLAG_CONTEXTS, st.FLAG_DISABLED}):
                if st.flag_value(args, flag) != st.flag_value(want, flag):
                    found.append((f"Deployment {name} runs with {flag}={st.flag_value(args, flag)}, the release "
                                  f"renders {st.flag_value(want, flag)}", "`kbmc operator install`"))
    return list(dict.fromkeys(found))


def refuse_hand_added_args(cp: KubeClient, params: ToggleParams, live: lv.Live,
                           contexts: list[str] | None = None) -> None:
    """Refuse a helm upgrade that would drop or change what the Deployments run with by hand: other args, or
    multi-cluster flags that differ from what the release renders (nothing changed yet)."""
    rendered = _rendered_args(cp, params)
    drift = multi_cluster_drift(live, rendered, contexts)
    if drift:
        problems = "; ".join(p for p, _ in drift)
        fixes = " or ".join(dict.fromkeys(f for _, f in drift))
        raise InputError(f"the helm upgrade of release {params.release} would undo a change made to the "
                         f"Deployments by hand ({problems}); nothing changed",
                         hint=f"run {fixes} first, or pass --via deployment to change the Deployments only "
                              "(a later helm upgrade reverts them)")
    extra = hand_added_args(cp, params, live, rendered)
    if extra:
        named = "; ".join(f"{name}: {' '.join(args)}" for name, args in extra.items())
        raise InputError(f"the helm upgrade of release {params.release} would drop args added to the Deployments "
                         f"by hand ({named})", hint="pass --via deployment to keep them (any later helm upgrade drops them too), "
                         "or remove them by hand first")


def _check_helm(runner: Runner) -> None:
    if shutil.which("helm") is None:
        raise InputError("helm is not installed or not on PATH (the release is helm-managed)",
                         hint="install helm, or pass --via deployment (a later helm upgrade would then revert it)")


def write_operator(cp: KubeClient, runner: Runner, params: ToggleParams, live: lv.Live, via: str,
                   contexts: list[str] | None, disabled: list[str], on_progress: Callable[[str], None]) -> list[str]:
    """Set the operator's contexts (None: as they are) and disabled contexts; call with the lease held.
    Returns the Deployments patched directly."""
    mc = (live.release.config.get("multiCluster") or {}) if live.release else {}
    release_contexts = st.split(str(mc.get("contexts") or ""))
    in_release = live.release_disabled == disabled and (contexts is None or release_contexts == contexts)
    if via == "helm" and not in_release:  # the release already says so: only the Deployments drifted
        refuse_hand_added_args(cp, params, live, contexts)
        values: dict[str, Any] = {"contextsDisabled": ",".join(disabled)}
        if contexts is not None:
            values["contexts"] = ",".join(contexts)
        on_progress(f"helm upgrade {params.release}: " + ", ".join(f"multiCluster.{k}={v}" for k, v in values.items()))
        _helm_upgrade(cp, runner, params, {"multiCluster": values})
        # helm's three-way merge leaves a flag someone edited by hand alone when the rendered value did not
        # change: the Deployments are set too (below) wherever they still differ, so the live args match.
        live = lv.read(cp, params.namespace, params.release)

    def transform(args: list[str]) -> list[str]:
        out = lv.with_disabled(args, disabled)
        return out if contexts is None else lv.with_contexts(out, contexts)

    return _patch_deployments(cp, live, transform, on_progress)


def _patch_deployments(cp: KubeClient, live: lv.Live, transform: Callable[[list[str]], list[str]],
                       on_progress: Callable[[str], None]) -> list[str]:
    """Replace each Deployment with the flag changed, conditioned on the resourceVersion just read; on a
    conflict read again and redo (never a blind overwrite of someone else's change)."""
    written = []
    for deployment in live.deployments:
        name = deployment["metadata"]["name"]
        path = resource_path("apps/v1", "deployments", live.namespace, name)
        current = deployment
        for _attempt in range(10):
            changed = False
            for container in lv.flag_containers(current):
                args = container.get("args") or []
                new = transform(args)
                if new != args:
                    container["args"] = new
                    changed = True
            if not changed:
                break
            try:
                cp.replace(path, current)  # carries metadata.resourceVersion: 409 when it moved
                written.append(name)
                on_progress(f"patched Deployment {name}")
                break
            except ApiError as exc:
                if not exc.conflict:
                    raise
                current = cp.get(path)
        else:
            raise OperationError(f"Deployment {live.namespace}/{name} kept changing under kbmc; retry")
    return written


def _helm_upgrade(cp: KubeClient, runner: Runner, params: ToggleParams, values_doc: dict[str, Any]) -> None:
    from kbmc.files import write_private
    from kbmc.operator.install import helm_timeout
    from kbmc.yamlio import dump_yaml

    tmp = Path(tempfile.mkdtemp(prefix="kbmc-contexts-"))
    try:
        chart = params.chart
        if chart is None:
            doc = rel.record(cp, params.namespace, params.release)
            if doc is None or not doc.get("chart"):
                raise OperationError(f"helm's record of release {params.release} has no chart",
                                     hint="pass --chart with the chart it was installed from")
            chart = str(write_chart(doc["chart"], tmp / "chart"))
        values = tmp / "kbmc-contexts-values.yaml"
        write_private(values, dump_yaml(values_doc))
        # --reuse-values: every other value as the release has it. --no-hooks: the same chart again, so the
        # chart's pre-upgrade hook (its CRD upgrade Job) has nothing to do; --skip-crds for the same reason.
        args = ["upgrade", params.release, chart, "--namespace", params.namespace, "--reuse-values",
                "--values", str(values), "--skip-crds", "--no-hooks", "--timeout", helm_timeout(params.timeout)]
        runner.run("helm", args, context=params.control_plane, kubeconfig=params.kubeconfig_path,
                   timeout=params.timeout + 60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_chart(chart: dict[str, Any], dest: Path) -> Path:
    """A chart directory from helm's release record (metadata, default values, templates, files)."""
    from kbmc.yamlio import dump_yaml

    meta = chart.get("metadata") or {}
    if meta.get("dependencies"):
        raise InputError(f"chart {meta.get('name')} has subcharts, which helm's record does not keep",
                         hint="pass --chart with the chart the release was installed from")
    dest.mkdir(parents=True)
    (dest / "Chart.yaml").write_text(dump_yaml(meta))
    (dest / "values.yaml").write_text(dump_yaml(chart.get("values") or {}))
    if chart.get("schema"):
        (dest / "values.schema.json").write_bytes(base64.b64decode(chart["schema"]))
    for entry in (chart.get("templates") or []) + (chart.get("files") or []):
        name = str(entry.get("name", ""))
        target = (dest / name).resolve()
        if not name or not str(target).startswith(str(dest.resolve()) + "/"):
            raise OperationError(f"helm's record holds a file outside the chart: {name!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(entry.get("data") or ""))
    return dest


def write_config(path: str, contexts: list[str], enabled: bool) -> bool:
    """Set `enabled` of those data planes in kbmc.yaml (true is the default, so it is dropped). True if changed."""
    from kbmc.files import write_private
    from kbmc.yamlio import dump_yaml, load_yaml

    text = Path(path).read_text()
    doc = load_yaml(text, path)
    changed = False
    for dp in doc.get("dataPlanes") or []:
        if isinstance(dp, dict) and dp.get("context") in contexts:
            if enabled and "enabled" in dp:
                del dp["enabled"]
                changed = True
            elif not enabled and dp.get("enabled", True):
                dp["enabled"] = False
                changed = True
    if changed:
        write_private(path, dump_yaml(doc))
    return changed


def drop_from_config(path: str, context: str) -> bool:
    """Take a data plane out of kbmc.yaml's dataPlanes (after `contexts remove`). True if it was listed."""
    from kbmc.files import write_private
    from kbmc.yamlio import dump_yaml, load_yaml

    doc = load_yaml(Path(path).read_text(), path)
    planes = doc.get("dataPlanes") or []
    kept = [dp for dp in planes if not (isinstance(dp, dict) and dp.get("context") == context)]
    if len(kept) == len(planes):
        return False
    doc["dataPlanes"] = kept
    write_private(path, dump_yaml(doc))
    return True
