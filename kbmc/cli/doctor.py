"""`kbmc doctor`: every check in one table; exit code = worst finding."""

from typing import Annotated

import typer

from kbmc.cli.options import KbNamespaceOpt, ReleaseOpt, kb_namespace
from kbmc.cli.options import release as release_of
from kbmc.cli.state import state_of


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    ctx: typer.Context,
    namespace: KbNamespaceOpt = None,
    release: ReleaseOpt = None,
    allow_loopback: Annotated[bool, typer.Option(
        "--allow-loopback", help="Accept loopback servers in the Secret (as `env prepare --allow-loopback`).")] = False,
) -> None:
    """Check everything: kubeconfig, control plane, Secret, operator flags, pod RBAC, Cluster namespaces, network."""
    from kbmc.doctor import checks

    state = state_of(ctx)
    namespace = kb_namespace(state, namespace)
    release = release_of(state, release)
    t = state.topology()
    control_plane = state.control_plane()
    data_planes = list(state.data_planes or (t.data_plane_contexts if t else []))
    params = checks.DoctorParams(
        control_plane=control_plane, data_planes=data_planes, namespace=namespace, release=release,
        secret_name=state.secret_name, allow_loopback=allow_loopback,
        topology_checked=f"{t.source} validated: Cilium ids, pod CIDRs and MetalLB ranges unique and disjoint"
        if t else None)
    report = checks.doctor(state.registry(), params)
    out = state.out
    if out.machine:
        out.data(report.as_dict())
    else:
        mark = {checks.OK: "ok", checks.WARN: "WARN", checks.FAIL: "FAIL", checks.SKIP: "not checked"}
        out.table("kbmc doctor", ["check", "context", "status", "detail", "fix"],
                  [[r.check, r.scope, mark[r.status], r.detail, r.fix or ""] for r in report.rows])
        failed = sum(r.status == checks.FAIL for r in report.rows)
        if failed:
            out.error(f"{failed} check(s) failed")
        else:
            out.success("all checks passed")
    if report.exit_code:
        raise typer.Exit(report.exit_code)
