"""`kbmc env`: the data-plane kubeconfig Secret and the reachability preflight."""

from typing import Annotated, Optional

import typer

from kbmc import defaults
from kbmc.cli.options import KbNamespaceOpt, kb_namespace
from kbmc.cli.state import parse_timeout, state_of
from kbmc.errors import EXIT_FAILED

app = typer.Typer(help="The data-plane kubeconfig Secret and the reachability preflight.", no_args_is_help=True)


@app.command("prepare")
def prepare(
    ctx: typer.Context,
    secret_name: Annotated[Optional[str], typer.Option(
        "--secret-name", help="Secret name (default: kbmc.yaml's kubeconfigSecret).", show_default=False)] = None,
    namespace: KbNamespaceOpt = None,
    server: Annotated[Optional[list[str]], typer.Option(
        "--server", help="CONTEXT=URL: a data plane's API address as seen from inside the control plane.",
        show_default=False)] = None,
    allow_loopback: Annotated[bool, typer.Option(
        "--allow-loopback", help="Accept 127.0.0.1/localhost servers (only where that really reaches them).")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Take over a same-named Secret kbmc did not create, of another type, or immutable "
                        "(its other keys are kept).")] = False,
    allow_remove: Annotated[bool, typer.Option(
        "--allow-remove", help="Remove contexts from the Secret even though the running operator still lists "
                               "them in --multi-cluster-contexts.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be written; change nothing.")] = False,
    show_secrets: Annotated[bool, typer.Option("--show-secrets", help="Print credentials in -o/--dry-run output.")] = False,
) -> None:
    """Create or update the Secret holding the data planes' kubeconfig (runbook step 1).

    The kubeconfig holds exactly the data-plane contexts, with certificate files inlined;
    credentials that cannot work from inside a pod are refused before anything is written.
    """
    from kbmc.env import secret

    state = state_of(ctx)
    namespace = kb_namespace(state, namespace)
    params = secret.PrepareParams(
        control_plane=state.control_plane(),
        data_planes=state.data_plane_contexts(),
        namespace=namespace,
        secret_name=secret_name or state.secret_name,
        allow_loopback=allow_loopback,
        force=force,
        allow_remove=allow_remove,
        dry_run=dry_run,
    )
    params.server_overrides = secret.parse_server_overrides(server or [], params.data_planes)
    result = secret.prepare(state.kubeconfig(), state.registry(), params)

    manifest = secret.revealed_secret(result.secret) if show_secrets else secret.redacted_secret(result.secret)
    if dry_run or state.out.machine:
        state.out.data(manifest, reveal=show_secrets)
    where = f"Secret {result.namespace}/{result.name} in {params.control_plane}"
    if result.namespace_created:
        state.out.info(f"{'would create' if dry_run else 'created'} namespace {result.namespace} in {params.control_plane}")
    if result.action == "unchanged":
        state.out.success(f"{where} is up to date ({', '.join(params.data_planes)}); nothing changed")
        return
    details = []
    for label, names in (("added", result.added), ("removed", result.removed), ("changed", result.changed)):
        if names and result.action in ("updated", "replaced"):
            details.append(f"{label} {', '.join(names)}")
    suffix = f": {'; '.join(details)}" if details else f" (contexts: {', '.join(params.data_planes)})"
    state.out.success(f"{where} {result.verb}{suffix}")
    if not dry_run:
        state.out.info(f"next: install the operator with multiCluster.kubeConfig={result.name} "
                       f"and check reachability with `kbmc env check --in-cluster`")


@app.command("check")
def check(
    ctx: typer.Context,
    in_cluster: Annotated[bool, typer.Option(
        "--in-cluster", help="Also check from inside the control plane with the Secret, via a short-lived Job.")] = False,
    secret_name: Annotated[Optional[str], typer.Option("--secret-name", help="Secret for --in-cluster.",
                                                       show_default=False)] = None,
    namespace: KbNamespaceOpt = None,
    image: Annotated[str, typer.Option(help="Image with kubectl for the --in-cluster Job.")] = defaults.CHECK_IMAGE,
    timeout: Annotated[str, typer.Option(
        help="How long to wait for the --in-cluster Job: seconds or a duration (500ms, 2m, 1h30m).")] = "120",
) -> None:
    """Preflight: every cluster reachable, authenticated, and allowed what the operator needs (runbook step 1)."""
    from kbmc.env import check as envcheck

    state = state_of(ctx)
    timeout_s = parse_timeout(timeout)
    namespace = kb_namespace(state, namespace)
    control_plane = state.control_plane()
    data_planes = state.data_plane_contexts()
    state.require_contexts([control_plane, *data_planes])
    registry = state.registry()
    total = len(set([control_plane, *data_planes]))
    with state.out.progress("checking clusters", total=total) as advance:
        results = envcheck.check_all(registry, control_plane, data_planes,
                                     on_done=lambda r: advance(f"checked {r.context}"))
    if in_cluster:
        name = secret_name or state.secret_name
        cp = next(r for r in results if r.context == control_plane)
        if cp.reachable:
            state.out.info(f"running the in-cluster check Job in {control_plane} ({namespace})")
            verdicts = envcheck.run_in_cluster(registry.for_context(control_plane), namespace, name,
                                               data_planes, image=image, timeout=timeout_s)
        else:
            verdicts = {dp: "not run: control plane unreachable" for dp in data_planes}
        for r in results:
            if r.context in verdicts:
                r.in_cluster = verdicts[r.context]

    if state.out.machine:
        state.out.data({"ok": all(r.ok for r in results), "contexts": [r.as_dict() for r in results]})
    else:
        columns = ["CONTEXT", "ROLE", "OK", "VERSION", "USER", "LATENCY", "PROBLEMS"]
        if in_cluster:
            columns.insert(6, "IN-CLUSTER")
        rows = []
        for r in results:
            problems = "; ".join(([r.error] if r.error else []) + ([f"missing: {', '.join(r.missing)}"] if r.missing else [])
                                 + [f"warning: {w}" for w in r.warnings])
            row = [r.context, r.role, "yes" if r.ok else "NO", r.version or "-", r.user or "-",
                   f"{r.latency_ms:.0f}ms" if r.latency_ms is not None else "-", problems]
            if in_cluster:
                row.insert(6, r.in_cluster or "-")
            rows.append(row)
        state.out.table(None, columns, rows, styles=[None if r.ok else "red" for r in results])
    if not all(r.ok for r in results):
        failed = [r.context for r in results if not r.ok]
        state.out.error(f"check failed for {', '.join(failed)}")
        raise typer.Exit(EXIT_FAILED)
