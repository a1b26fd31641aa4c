"""`kbmc operator`: KubeBlocks in the control plane, in multi-cluster mode (runbook step 2)."""

from typing import Annotated, Optional

import click
import typer

from kbmc.cli.options import KbNamespaceOpt, ReleaseOpt, kb_namespace
from kbmc.cli.options import release as release_of
from kbmc.cli.state import Globals, parse_timeout, split_contexts, state_of
from kbmc.errors import EXIT_FAILED

app = typer.Typer(help="Install KubeBlocks in the control plane (multi-cluster mode) and show its state.",
                  no_args_is_help=True)


def _disabled(state: Globals, flag: Optional[str], contexts: list[str]) -> list[str]:
    if flag is not None:
        return (split_contexts(flag, "--contexts-disabled") or []) if flag else []
    t = state.topology()
    return [c for c in t.disabled_contexts if c in contexts] if t else []


@app.command("install")
def install(
    ctx: typer.Context,
    installer: Annotated[str, typer.Option(click_type=click.Choice(["helm", "kbcli"]),
                                           help="Which tool installs the chart.")] = "helm",
    chart: Annotated[Optional[str], typer.Option(
        help="Chart: a name in --repo (default: kubeblocks), an oci:// reference, a directory or a .tgz.",
        show_default=False)] = None,
    repo: Annotated[Optional[str], typer.Option(
        help="Chart repository URL (default: https://apecloud.github.io/helm-charts).", show_default=False)] = None,
    version: Annotated[Optional[str], typer.Option(
        help="KubeBlocks version (default: kbmc.yaml's, else 0.9.0).", show_default=False)] = None,
    crds: Annotated[Optional[str], typer.Option(
        help="CRD manifest FILE or URL, for charts without crds/ (default: the release's kubeblocks_crds.yaml).",
        show_default=False)] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Chart value K=V (repeatable), passed through.",
                                                      show_default=False)] = None,
    set_string: Annotated[Optional[list[str]], typer.Option(
        "--set-string", help="Chart value K=V kept a string (repeatable).", show_default=False)] = None,
    values: Annotated[Optional[list[str]], typer.Option(
        "--values", help="Chart values FILE (repeatable), passed through.", show_default=False)] = None,
    secret_name: Annotated[Optional[str], typer.Option(
        "--secret-name", help="The data planes' kubeconfig Secret (default: kbmc.yaml's kubeconfigSecret).",
        show_default=False)] = None,
    contexts_disabled: Annotated[Optional[str], typer.Option(
        "--contexts-disabled", help="Disabled data-plane contexts, comma-separated (default: kbmc.yaml's "
        "enabled: false).", show_default=False)] = None,
    namespace: KbNamespaceOpt = None,
    release: ReleaseOpt = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the manager Deployment until available.")
                    ] = True,
    timeout: Annotated[str, typer.Option(
        help="Time for the installer and --wait: seconds or a duration (500ms, 2m, 1h30m).")] = "600",
    force: Annotated[bool, typer.Option("--force", help="Go on although a data plane has KubeBlocks CRDs.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the exact command and values; run nothing.")
                       ] = False,
    reset_values: Annotated[bool, typer.Option(
        "--reset-values", help="Drop the release's values this run does not pass (default: keep them, named).")
    ] = False,
) -> None:
    """Install or upgrade KubeBlocks in the control plane with the multi-cluster values.

    CRDs go in first (server-side); never into a data plane. Re-running with the same values changes nothing.
    """
    from kbmc.operator import install as core
    from kbmc.operator.preflight import InstallParams
    from kbmc.runner import ShRunner

    state = state_of(ctx)
    namespace = kb_namespace(state, namespace)
    release = release_of(state, release)
    t = state.topology()
    contexts = state.data_plane_contexts()
    params = InstallParams(
        control_plane=state.control_plane(),
        contexts=contexts,
        disabled=_disabled(state, contexts_disabled, contexts),
        namespace=namespace,
        release=release,
        secret_name=secret_name or state.secret_name,
        version=version if version is not None else (t.control_plane.version if t else _default_version()),
        installer=installer, chart=chart, repo=repo, crds=crds,
        sets=list(set_ or []), set_strings=list(set_string or []), values_files=list(values or []),
        wait=wait, timeout=parse_timeout(timeout), force=force, dry_run=dry_run, kubeconfig_path=state.kubeconfig_path,
        disabled_explicit=contexts_disabled is not None, reset_values=reset_values,
    )
    out = state.out
    with out.progress("installing KubeBlocks") as advance:
        result = core.install(state.kubeconfig(), state.registry(), ShRunner(), params, on_progress=advance)
    plan = result.plan
    for warning in plan.warnings:
        out.warn(warning)
    if dry_run or out.machine:
        out.data({**plan.as_dict(), "dryRun": dry_run, "revisionAfter": result.revision, "ready": result.ready})
    where = f"release {params.release} in {params.control_plane}/{params.namespace}"
    if dry_run:
        import shlex

        out.info(f"would run: {shlex.join(plan.argv)}")
        if plan.crds_source:
            out.info(f"after applying {len(plan.crds) or 'the'} CRDs server-side from {plan.crds_source}")
        verb = {"install": "would install", "upgrade": "would upgrade", "unchanged": "would leave unchanged"}
        out.info(f"dry run: {verb[plan.action]} {where}; nothing was run")
        return
    if plan.action == "unchanged":
        out.success(f"{where} is up to date (revision {plan.revision}); nothing changed")
    elif plan.action == "install":
        rev = f"revision {result.revision}; " if result.revision else ""
        out.success(f"installed {where} ({rev}contexts {','.join(params.contexts)})")
    else:
        rev = f" to revision {result.revision}" if result.revision else ""
        out.success(f"upgraded {where}{rev}: {'; '.join(plan.changes)}")
    if result.ready is False:
        out.warn("the manager Deployment is not available yet (see `kbmc operator status`)")


def _default_version() -> str:
    from kbmc import defaults

    return defaults.KUBEBLOCKS_VERSION


@app.command("status")
def status(
    ctx: typer.Context,
    namespace: KbNamespaceOpt = None,
    release: ReleaseOpt = None,
    contexts_disabled: Annotated[Optional[str], typer.Option(
        "--contexts-disabled", help="Disabled data-plane contexts to compare with, comma-separated (default: "
        "kbmc.yaml's enabled: false).", show_default=False)] = None,
) -> None:
    """The control plane's KubeBlocks: version, readiness, and the multi-cluster flags it really runs with."""
    from kbmc.operator import status as core

    state = state_of(ctx)
    namespace = kb_namespace(state, namespace)
    release = release_of(state, release)
    t = state.topology()
    control_plane = state.control_plane()
    state.require_contexts([control_plane])
    expected = None
    if t is not None or state.data_planes:
        contexts = state.data_plane_contexts()
        expected = core.Expected(contexts, _disabled(state, contexts_disabled, contexts), state.secret_name)
    report = core.status(state.registry().for_context(control_plane), namespace, release, expected)
    out = state.out
    if out.machine:
        out.data(report)
    else:
        secret = report["secret"]
        rows = [
            ["installed", "yes" if report["installed"] else "no"],
            ["revision", report["revision"] if report["revision"] is not None else "-"],
            ["chart", report["chart"] or "-"],
            ["release", f"revision {report['revision']} {report['releaseStatus'] or ''}".strip()
             if report["revision"] is not None else "-"],
            ["version", report["version"] or "-"],
            ["ready", f"{'yes' if report['ready'] else 'no'} ({report['replicas'] or '-'})"],
            ["contexts", ",".join(report["contexts"]) or "-"],
            ["contextsDisabled", ",".join(report["contextsDisabled"]) or "-"],
            ["secret", f"{secret['name']} ({'exists' if secret['exists'] else 'MISSING'})" if secret else "-"],
            ["matchesConfig", {True: "yes", False: "NO", None: "-"}[report["matchesConfig"]]],
        ]
        out.table(f"KubeBlocks in {control_plane}/{report['namespace']}", ["", ""], rows)
        for problem in report["problems"]:
            out.warn(problem)
    if not report["installed"]:
        out.error(f"KubeBlocks release {report['release']} is not installed in {control_plane}/{report['namespace']}")
        raise typer.Exit(EXIT_FAILED)
