"""`kbmc contexts`: the operator's data planes, listed, disabled and enabled (runbook step 6, failover)."""

from typing import Annotated, Optional

import click
import typer

from kbmc.cli.options import KbNamespaceOpt as NamespaceOpt
from kbmc.cli.options import ReleaseOpt, kb_namespace
from kbmc.cli.options import release as release_of
from kbmc.cli.state import parse_timeout, state_of

app = typer.Typer(help="List, disable and enable the operator's data-plane contexts.", no_args_is_help=True)


def _checked_contexts(contexts: list[str], *, one: bool = False) -> None:
    """Each CONTEXT argument a context name the operator can use (not empty, no comma list), else InputError.

    Checked before anything else: a bad name must never be looked up, or suggested back in a command to run.
    """
    from kbmc.errors import InputError
    from kbmc.validation import context_name

    for name in contexts:
        if err := context_name(name):
            hint = None
            if "," in name:
                parts = [p.strip() for p in name.split(",") if p.strip()]
                hint = ("name one context, and run the command once for each" if one
                        else f"pass one context per argument: {' '.join(parts)}")
            elif not name:
                hint = "name a data-plane context: `kbmc contexts list` shows them"
            raise InputError(err, hint=hint)


@app.command("list")
def list_(ctx: typer.Context, namespace: NamespaceOpt = None, release: ReleaseOpt = None) -> None:
    """One row per data plane: in the operator, disabled, in the Secret, reachable, KubeBlocks pods/PVCs there."""
    from kbmc.contexts import listing

    state = state_of(ctx)
    namespace = kb_namespace(state, namespace)
    release = release_of(state, release)
    control_plane = state.control_plane()
    state.require_contexts([control_plane])
    t = state.topology()
    configured = None
    if t is not None:
        configured = listing.Configured(t.data_plane_contexts, t.disabled_contexts,
                                        {d.context: d.cilium_id for d in t.data_planes if d.cilium_id is not None})
    elif state.data_planes:
        configured = listing.Configured(list(state.data_planes), [], {}, source="--data-planes")
    report = listing.list_contexts(state.registry(), control_plane, namespace, release, state.secret_name, configured)
    out = state.out
    # As `env check`: a data plane that cannot be reached is a failure (exit 1), after every row is shown.
    unreachable = [r["context"] for r in report["contexts"] if not r["reachable"]]
    if out.machine:
        out.data(report)
        if unreachable:
            raise typer.Exit(1)
        return
    yes = {True: "yes", False: "no"}
    rows = []
    for r in report["contexts"]:
        placed = "-"
        if r["pods"] is not None:
            clusters = sorted(set(r["pods"]["byCluster"]) | set(r["pvcs"]["byCluster"]))
            placed = f"{r['pods']['count']} pods, {r['pvcs']['count']} PVCs" + (
                f" ({', '.join(clusters)})" if clusters else "")
        reach = f"{r['version']} {r['latencyMs']}ms" if r["reachable"] else f"NO: {r['error']}"
        rows.append([r["context"], yes[r["inOperator"]], yes[r["disabled"]], yes[r["inSecret"]], reach, placed,
                     "-" if r["ciliumClusterID"] is None else str(r["ciliumClusterID"])])
    out.table(f"data planes of {report['controlPlane']}/{report['namespace']}",
              ["context", "operator", "disabled", "secret", "reachable", "KubeBlocks objects", "cilium id"], rows)
    if not report["installed"]:
        out.warn(f"KubeBlocks release {report['release']} is not installed (see `kbmc operator install`)")
    for r in report["contexts"]:
        for d in r["differences"]:
            out.warn(f"{r['context']}: {d['problem']} (fix: {d['fix']})")
    if unreachable:
        out.error(f"not reachable: {', '.join(unreachable)} (see `kbmc env check`)")
        raise typer.Exit(1)


def _toggle(ctx: typer.Context, contexts: list[str], disable: bool, namespace: Optional[str], release: Optional[str],
            via: str, chart: Optional[str], force: bool, wait: bool, timeout: str, dry_run: bool,
            write_config: bool) -> None:
    from kbmc.contexts import toggle as core
    from kbmc.errors import InputError
    from kbmc.runner import ShRunner

    _checked_contexts(contexts)
    timeout_s = parse_timeout(timeout)
    state = state_of(ctx)
    namespace = kb_namespace(state, namespace)
    release = release_of(state, release)
    control_plane = state.control_plane()
    t = state.topology()
    if write_config and t is None:
        raise InputError("--write-config needs a kbmc.yaml", hint="create one with `kbmc init`, or drop --write-config")
    state.require_contexts([control_plane])
    params = core.ToggleParams(control_plane=control_plane, targets=contexts, disable=disable,
                               namespace=namespace, release=release, via=via,
                               chart=chart, force=force, wait=wait, timeout=timeout_s, dry_run=dry_run,
                               kubeconfig_path=state.kubeconfig_path)
    out = state.out
    with out.progress("disabling" if disable else "enabling") as advance:
        result = core.toggle(state.registry(), ShRunner(), params, on_progress=advance)
    config_changed = False
    if write_config and t is not None and not dry_run:
        config_changed = core.write_config(t.source, contexts, enabled=not disable)
    if out.machine:
        out.data({**result.as_dict(), "configWritten": config_changed})
    names = ", ".join(contexts)
    after = ",".join(result.after) or "(none)"
    if result.action == "unchanged":
        out.success(f"{names} already {'disabled' if disable else 'enabled'}; nothing changed "
                    f"(contextsDisabled: {after})")
    elif result.action == "dry-run":
        out.info(f"dry run: would set contextsDisabled {','.join(result.before) or '(none)'} -> {after} "
                 f"via {result.via}; nothing was changed")
    else:
        how = (f"helm release {params.release} revision {result.revision_before} -> {result.revision_after}"
               if result.via == "helm" else f"Deployment(s) {', '.join(result.deployments)} patched")
        out.success(f"{'disabled' if disable else 'enabled'} {names}: contextsDisabled "
                    f"{','.join(result.before) or '(none)'} -> {after} ({how})")
    for note in result.collapsed:
        out.warn(note)
    for name in result.outside:
        if name in result.after:
            out.warn(f"{name} is disabled but not one of the operator's contexts ({','.join(result.contexts)}): "
                     f"a stray flag; `kbmc contexts enable {name}` drops it")
        elif not disable:
            out.info(f"{name} is not one of the operator's contexts ({','.join(result.contexts)}): nothing to "
                     f"enable; `kbmc contexts add {name}` makes it a data plane")
    if result.waited:
        for name, args in result.live_args.items():
            out.info(f"{name} runs with: {' '.join(args)}")
    if disable and result.action != "unchanged" or disable and result.clusters:
        for c in result.clusters:
            out.warn(f"Cluster {c['namespace']}/{c['name']} has replicas placed on {','.join(c['on'])}: "
                     "they will not be managed there and show fewer ready replicas")
        out.info("new Clusters must be placed on enabled data planes (`kbmc cluster create` refuses disabled ones)")
    if config_changed:
        out.info(f"updated {t.source if t else 'kbmc.yaml'}")


ContextsArg = Annotated[list[str], typer.Argument(help="Data-plane contexts.", show_default=False)]
ViaOpt = Annotated[str, typer.Option(click_type=click.Choice(["auto", "helm", "deployment"]),
                                     help="Change the helm release (auto: when helm manages it) or patch the "
                                          "Deployments.")]
ChartOpt = Annotated[Optional[str], typer.Option(
    help="The release's chart (directory or .tgz) for the helm upgrade (default: rebuilt from helm's record).",
    show_default=False)]
WaitOpt = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the manager's rollout; print its flags.")]
TimeoutOpt = Annotated[str, typer.Option(
    help="Time for helm, the lease and --wait: seconds or a duration (500ms, 2m, 1h30m).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Say what would change; change nothing.")]
WriteConfigOpt = Annotated[bool, typer.Option("--write-config", help="Also set enabled: in kbmc.yaml.")]


@app.command("disable")
def disable(ctx: typer.Context, contexts: ContextsArg, namespace: NamespaceOpt = None, release: ReleaseOpt = None,
            via: ViaOpt = "auto", chart: ChartOpt = None,
            force: Annotated[bool, typer.Option("--force", help="Allow disabling the last enabled data plane.")
                             ] = False,
            wait: WaitOpt = False, timeout: TimeoutOpt = "300", dry_run: DryRunOpt = False,
            write_config: WriteConfigOpt = False) -> None:
    """Stop the operator from using data planes (failover): merged into --multi-cluster-contexts-disabled."""
    _toggle(ctx, contexts, True, namespace, release, via, chart, force, wait, timeout, dry_run, write_config)


@app.command("enable")
def enable(ctx: typer.Context, contexts: ContextsArg, namespace: NamespaceOpt = None, release: ReleaseOpt = None,
           via: ViaOpt = "auto", chart: ChartOpt = None, wait: WaitOpt = False, timeout: TimeoutOpt = "300",
           dry_run: DryRunOpt = False, write_config: WriteConfigOpt = False) -> None:
    """Let the operator use data planes again: removed from --multi-cluster-contexts-disabled."""
    _toggle(ctx, contexts, False, namespace, release, via, chart, False, wait, timeout, dry_run, write_config)


def _member(ctx: typer.Context, context: str, adding: bool, namespace: Optional[str], release: Optional[str],
            via: str, chart: Optional[str], server: Optional[str], allow_loopback: bool, force: bool, purge: bool,
            timeout: str, dry_run: bool) -> None:
    from kbmc.contexts import members as core
    from kbmc.runner import ShRunner

    _checked_contexts([context], one=True)
    timeout_s = parse_timeout(timeout)
    state = state_of(ctx)
    namespace = kb_namespace(state, namespace)
    release = release_of(state, release)
    control_plane = state.control_plane()
    state.require_contexts([control_plane])
    t = state.topology()
    runner = ShRunner()
    mesh = None
    if t is not None and t.network.east_west == "cilium":
        from kbmc.network.cilium import Member

        plane = next((d for d in t.data_planes if d.context == context), None)
        member = None
        if plane is not None and plane.cilium_name and plane.cilium_id is not None and plane.pod_cidr:
            member = Member(context, plane.cilium_name, plane.cilium_id, plane.pod_cidr)
        mesh = core.MeshParams(member, t.network.max_connected_clusters, timeout_s)
    params = core.MemberParams(control_plane=control_plane, context=context, namespace=namespace,
                               release=release, secret_name=state.secret_name, via=via, chart=chart,
                               server=server, allow_loopback=allow_loopback, force=force, purge=purge,
                               dry_run=dry_run, timeout=timeout_s, kubeconfig_path=state.kubeconfig_path,
                               config_path=str(t.source) if t is not None and t.source else None)
    out = state.out
    with out.progress(f"{'adding' if adding else 'removing'} {context}") as advance:
        run = core.add if adding else core.remove
        result = run(state.kubeconfig(), state.registry(), runner, params, mesh, on_progress=advance)
    if out.machine:
        out.data(result.as_dict())
    else:
        out.table(f"{'add' if adding else 'remove'} {context}" + (" (dry run)" if dry_run else ""),
                  ["step", "status", "detail"], [[s.name, s.status, s.detail] for s in result.steps])
    if dry_run:
        out.info("dry run: nothing was changed")
    else:
        out.success(f"{'added' if adding else 'removed'} {context}")


@app.command("add")
def add(ctx: typer.Context,
        context: Annotated[str, typer.Argument(help="The new data plane's context.", show_default=False)],
        namespace: NamespaceOpt = None, release: ReleaseOpt = None, via: ViaOpt = "auto", chart: ChartOpt = None,
        server: Annotated[Optional[str], typer.Option(
            help="Its API server URL as the control plane reaches it (as `env prepare --server`).",
            show_default=False)] = None,
        allow_loopback: Annotated[bool, typer.Option("--allow-loopback", help="Accept a loopback server.")] = False,
        timeout: TimeoutOpt = "300", dry_run: DryRunOpt = False) -> None:
    """Add a data plane: the Secret, the operator's contexts, the pod RBAC, the Cilium mesh. Re-run resumes."""
    _member(ctx, context, True, namespace, release, via, chart, server, allow_loopback, False, False, timeout, dry_run)


@app.command("remove")
def remove(ctx: typer.Context,
           context: Annotated[str, typer.Argument(help="The data plane's context.", show_default=False)],
           namespace: NamespaceOpt = None, release: ReleaseOpt = None, via: ViaOpt = "auto", chart: ChartOpt = None,
           force: Annotated[bool, typer.Option("--force", help="Go on although KubeBlocks pods/PVCs are there.")
                            ] = False,
           purge: Annotated[bool, typer.Option("--purge", help="Also delete kbmc's RBAC copies there.")] = False,
           timeout: TimeoutOpt = "300", dry_run: DryRunOpt = False) -> None:
    """Remove a data plane: the mesh, the operator's contexts and disabled list, the Secret (--purge: RBAC)."""
    _member(ctx, context, False, namespace, release, via, chart, None, False, force, purge, timeout, dry_run)
