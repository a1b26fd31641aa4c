"""`kbmc rbac`: the operator's pod RBAC in every data plane."""

from typing import Annotated, Optional

import typer

from kbmc.cli.state import state_of
from kbmc.errors import EXIT_FAILED

app = typer.Typer(help="The operator's pod RBAC in every data plane.", no_args_is_help=True)

_VERBS = {"created": "would create", "updated": "would update"}


@app.command("sync")
def sync(
    ctx: typer.Context,
    role: Annotated[Optional[list[str]], typer.Option(
        "--role", metavar="NAME", help="ClusterRole to copy (repeatable; default: kubeblocks-cluster-pod-role and "
                       "kubeblocks-volume-protection-pod-role).", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print a diff of each change, per data plane.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Take over a role helm or Kubernetes owns in a data plane.")
                     ] = False,
) -> None:
    """Copy the operator's pod ClusterRoles from the control plane to every enabled data plane (runbook step 3).

    Aggregated roles are copied flattened (their rules, no aggregationRule), so the data plane's
    aggregation controller cannot rewrite them. Disabled data planes are skipped.
    """
    from kbmc.rbac import source
    from kbmc.rbac import sync as rbac

    state = state_of(ctx)
    topology = state.topology()
    params = rbac.SyncParams(
        control_plane=state.control_plane(),
        data_planes=state.data_plane_contexts(),
        disabled=topology.disabled_contexts if topology else [],
        roles=list(role) if role else list(source.DEFAULT_ROLES),
        dry_run=dry_run,
        diff=diff,
        force=force,
    )
    rbac.check_params(params)
    state.require_contexts([params.control_plane, *(c for c in params.data_planes if c not in params.disabled)])
    write, _ = rbac.targets(params)
    with state.out.progress("syncing pod RBAC", total=len(write)) as advance:
        result = rbac.sync(state.registry(), params, on_done=lambda r: advance(f"{r.context}: {r.result}"))

    for role_ in result.roles:
        if role_.note:
            state.out.warn(role_.note)
    if state.out.machine:
        state.out.data(result.as_dict())
    else:
        if diff:
            state.out.raw("".join(c.diff for r in result.contexts for c in r.roles if c.diff))
        rows, styles = [], []
        for r in result.contexts:
            shown = _VERBS.get(r.result, r.result) if dry_run else r.result
            if r.reason:
                shown = f"{shown}: {r.reason}"
            details = ", ".join(f"{c.name} {_VERBS.get(c.action, c.action) if dry_run else c.action}"
                                for c in r.roles)
            rows.append([r.context, shown, details])
            styles.append("red" if not r.ok else ("dim" if r.result == "skipped" else None))
        state.out.table(None, ["CONTEXT", "RESULT", "ROLES"], rows, styles=styles)
    failed = [r.context for r in result.contexts if not r.ok]
    if failed:
        state.out.error(f"rbac sync failed for {', '.join(failed)} (fix it and run again: the others are done)")
        raise typer.Exit(EXIT_FAILED)
    if dry_run:
        state.out.info("dry run: nothing was written")
