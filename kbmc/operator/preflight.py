"""Everything `operator install` checks before it runs anything.

Input first (no cluster needed): the contexts, the installer, the chart, the values. Then reads, still
writing nothing: the kubeconfig Secret from `env prepare` must hold every listed context, and no data
plane may carry KubeBlocks CRDs (where the InstanceSet CRD exists, a data plane's garbage collector
deletes the operator's pods there again and again).
"""

from __future__ import annotations

import base64
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbmc import kubeconfig as kc
from kbmc.clients import ApiError, ClientRegistry, KubeClient, resource_path
from kbmc.errors import InputError, OperationError
from kbmc.operator import values as vals
from kbmc.operator.chart import ChartRef, resolve
from kbmc.validation import context_name, dns1123_label, dns1123_subdomain, helm_release, positive_timeout, semantic_version

INSTALLERS = ("helm", "kbcli")
KBCLI_RELEASE = "kubeblocks"
SECRET_KEY = "kubeconfig"
KB_GROUP_SUFFIX = ".kubeblocks.io"
CRD_PATH = resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions")


@dataclass
class InstallParams:
    control_plane: str
    contexts: list[str]
    disabled: list[str]
    namespace: str
    release: str
    secret_name: str
    version: str
    installer: str = "helm"
    chart: str | None = None
    repo: str | None = None
    crds: str | None = None
    sets: list[str] = field(default_factory=list)
    set_strings: list[str] = field(default_factory=list)
    values_files: list[str] = field(default_factory=list)
    wait: bool = True
    timeout: float = 600.0
    force: bool = False
    dry_run: bool = False
    kubeconfig_path: str | None = None
    # False: `disabled` comes from kbmc.yaml (or nothing); the contexts the running operator has disabled
    # (`kbmc contexts disable`) are then kept. True: --contexts-disabled was given, it is the whole list.
    disabled_explicit: bool = False
    reset_values: bool = False  # drop the release's values this run does not pass (helm installer)


@dataclass
class Checked:
    """The inputs, checked and resolved."""

    chart: ChartRef | None  # None for kbcli: it installs the official chart of --version
    owned: dict[str, Any]  # multiCluster.* values kbmc passes in its values file
    user: dict[str, Any]  # --values files, then --set/--set-string, merged as helm merges them
    warnings: list[str] = field(default_factory=list)

    @property
    def desired(self) -> dict[str, Any]:
        """The user-supplied values the release should end up with (what `helm get values` returns)."""
        return vals.merge(self.owned, self.user)


def check_inputs(params: InstallParams) -> Checked:
    """Bad input, found before any cluster is contacted."""
    if params.installer not in INSTALLERS:
        raise InputError(f"--installer {params.installer!r} is not one of {', '.join(INSTALLERS)}")
    for what, value, check in (("namespace", params.namespace, dns1123_label),
                               ("release", params.release, helm_release),
                               ("--secret-name", params.secret_name, dns1123_subdomain),
                               ("--version", params.version, semantic_version)):
        if err := check(value):
            raise InputError(f"{what}: {err}")
    if err := positive_timeout(params.timeout):
        raise InputError(err)
    if not params.contexts:
        raise InputError("no data-plane contexts", hint="pass --data-planes or list them in kbmc.yaml")
    for name in [params.control_plane, *params.contexts]:
        if err := context_name(name):
            raise InputError(f"{err}: it cannot be passed to the operator")
    stray = [c for c in params.disabled if c not in params.contexts]
    if stray:
        raise InputError(f"disabled context(s) {', '.join(stray)} not in the data-plane contexts "
                         f"({', '.join(params.contexts)})",
                         hint="a disabled context must also be listed; fix --contexts-disabled or kbmc.yaml")
    if params.control_plane in params.disabled:
        raise InputError(f"the control plane's own context {params.control_plane!r} cannot be disabled",
                         hint="the operator refuses it at start-up; re-enable it in kbmc.yaml or --contexts-disabled")
    chart = None
    if params.installer == "kbcli":
        if params.chart or params.repo:
            raise InputError("--chart/--repo apply to --installer helm only",
                             hint="kbcli installs the official chart of --version; use --installer helm for another chart")
        if params.crds:
            raise InputError("--crds applies to --installer helm only", hint="kbcli installs the CRDs of --version itself")
        if params.release != KBCLI_RELEASE:
            raise InputError(f"release {params.release!r}: kbcli always names its release {KBCLI_RELEASE!r}",
                             hint="use --installer helm for another release name")
    else:
        chart = resolve(params.chart, params.repo)
    user = vals.user_values([_values_file(path) for path in params.values_files], params.sets, params.set_strings)
    if shutil.which(params.installer) is None:
        raise InputError(f"{params.installer} is not installed or not on PATH",
                         hint=f"install {params.installer}, or choose --installer "
                              f"{'kbcli' if params.installer == 'helm' else 'helm'}")
    owned = vals.multi_cluster_values(params.secret_name, params.contexts, params.disabled)
    return Checked(chart, owned, user)


def _values_file(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"--values {path}: no such file")
    return vals.read_values_file(path, p.read_text())


def secret_contexts(client: KubeClient, namespace: str, name: str) -> list[str] | None:
    """Context names in the kubeconfig Secret (never its credentials); None when the Secret is missing.

    Raises InputError when it exists but has no readable kubeconfig.
    """
    from kbmc.yamlio import YamlError, load_yaml

    secret = client.get_or_none(resource_path("v1", "secrets", namespace, name))
    if secret is None:
        return None
    where = f"Secret {namespace}/{name} in {client.context}"
    raw = (secret.get("data") or {}).get(SECRET_KEY)
    if raw is None:
        raise InputError(f"{where} has no key {SECRET_KEY!r}", hint="recreate it with `kbmc env prepare --force`")
    try:
        doc = load_yaml(base64.b64decode(raw).decode(), where)
    except (YamlError, ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict):
        raise InputError(f"{where}: key {SECRET_KEY!r} is not a kubeconfig", hint="recreate it with `kbmc env prepare`")
    return [str(c.get("name")) for c in doc.get("contexts") or [] if isinstance(c, dict)]


def check_secret(client: KubeClient, params: InstallParams) -> None:
    where = f"Secret {params.namespace}/{params.secret_name} in {params.control_plane}"
    names = secret_contexts(client, params.namespace, params.secret_name)
    if names is None:
        raise InputError(f"{where} not found",
                         hint="create it with `kbmc env prepare`, or name it with --secret-name")
    missing = [c for c in params.contexts if c not in names]
    if missing:
        raise InputError(f"{where} lacks context(s) {', '.join(missing)} (it has: {', '.join(names) or 'none'})",
                         hint="rerun `kbmc env prepare` with every data plane")


def kubeblocks_crds(client: KubeClient) -> list[str]:
    items = client.get(CRD_PATH)["items"]
    return sorted(i["metadata"]["name"] for i in items if i["metadata"]["name"].endswith(KB_GROUP_SUFFIX))


class CrdCheckFailed(OperationError):
    """Why one data plane could not be checked for KubeBlocks CRDs (the message does not name it)."""


def _why(context: str, exc: Exception) -> str:
    from kbmc import identity
    from kbmc.errors import KbmcError
    from kbmc.fanout import ContextResult

    error = str(exc) if isinstance(exc, KbmcError) else f"{type(exc).__name__}: {exc}"
    return identity.why(ContextResult(context, error=error, exception=exc))


def control_plane_id(registry: ClientRegistry, control_plane: str) -> str:
    """The control plane's cluster identity; OperationError naming it when it cannot be read."""
    from kbmc import identity

    try:
        return identity.cluster_id(registry.for_context(control_plane))
    except Exception as exc:  # noqa: BLE001 - any failure means the data planes cannot be told apart from it
        raise OperationError(f"{control_plane}: {_why(control_plane, exc)}") from exc


def data_plane_crds(registry: ClientRegistry, control_plane: str, context: str) -> list[str] | None:
    """The runbook's data-plane trap, for one data plane: the KubeBlocks CRDs it has (where the InstanceSet CRD
    exists, its garbage collector deletes the operator's pods). None when it is the control plane's own cluster,
    which needs them.

    Which data plane is the control plane itself is asked of the clusters (kbmc.identity), not read from the server
    addresses: one cluster may be reached under several names. Raises CrdCheckFailed when it cannot be checked.
    """
    from kbmc import identity

    if context == control_plane:
        return None
    try:
        own = control_plane_id(registry, control_plane)
    except OperationError as exc:
        raise CrdCheckFailed(f"cannot tell whether it is the control plane's cluster: {exc}") from exc
    try:
        client = registry.for_context(context)
        if identity.cluster_id(client) == own:
            return None
    except Exception as exc:  # noqa: BLE001 - this data plane's own failure
        raise CrdCheckFailed(_why(context, exc)) from exc
    try:
        return kubeblocks_crds(client)
    except ApiError as exc:
        raise CrdCheckFailed(exc.summary) from exc


def delete_crds_command(context: str, crds: list[str]) -> str:
    """The fix for data_plane_crds' finding: the exact kubectl command."""
    return f"kubectl --context {context} delete crd {' '.join(crds)}"


def check_data_planes(kube: kc.KubeConfig, registry: ClientRegistry, params: InstallParams) -> list[str]:
    """Refuse when a data plane (other than the control plane itself) has KubeBlocks CRDs; returns warnings."""
    from kbmc.fanout import fan_out

    control_plane_id(registry, params.control_plane)
    results = fan_out(params.contexts, lambda ctx: data_plane_crds(registry, params.control_plane, ctx))
    found = {r.context: r.value for r in results if r.ok and r.value}
    reasons = {r.context: r.reason for r in results if not r.ok}
    warnings: list[str] = []
    unreachable = []
    for ctx in params.contexts:
        if ctx not in reasons:
            continue
        if ctx in params.disabled or params.force:
            warnings.append(f"{ctx}: could not check for KubeBlocks CRDs ({reasons[ctx]})")
        else:
            unreachable.append(f"{ctx}: {reasons[ctx]}")
    if found:
        listing = "; ".join(f"{ctx} has {', '.join(names)}" for ctx, names in found.items())
        if not params.force:
            fixes = "; ".join(f"`{delete_crds_command(ctx, names)}`" for ctx, names in found.items())
            raise InputError(f"KubeBlocks CRDs in data plane(s): {listing}",
                             hint=f"remove them there (the operator's pods would be garbage-collected): {fixes}; "
                                  "or pass --force to go on")
        warnings.append(f"going on despite KubeBlocks CRDs in data plane(s) (--force): {listing}")
    if unreachable:
        raise OperationError("cannot check the data planes for KubeBlocks CRDs: " + "; ".join(unreachable)
                             + " (fix access, mark them disabled, or pass --force)")
    return warnings
