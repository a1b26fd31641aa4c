"""`kbmc init` and `kbmc validate`: write and check the topology file."""

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kbmc import defaults
from kbmc.cli.state import Globals, state_of
from kbmc.errors import InputError, ValidationError

if TYPE_CHECKING:
    from kbmc import topology as topo


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("validate")(validate)


def init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    stdout: Annotated[bool, typer.Option("--stdout", help="Print the file instead of writing it.")] = False,
    east_west: Annotated[str, typer.Option(help="East-west network: cilium, cloud-lb or none.")] = "cilium",
    north_south: Annotated[str, typer.Option(help="North-south network: nodeport, metallb or cloud-lb.")] = "nodeport",
) -> None:
    """Write a starter kbmc.yaml from your kubeconfig's contexts (no cluster is contacted).

    The control plane is --context (else the current context); the data planes are
    --data-planes (else every other context). Cilium ids, pod CIDRs and MetalLB ranges
    follow the runbook's example: 1..n, 10.1-n.0.0/16, then the next n /16s.
    """
    from kbmc import topology as topo
    from kbmc.files import write_private

    state = state_of(ctx)
    if east_west not in topo.EAST_WEST:
        raise InputError(f"--east-west {east_west!r} is not one of {', '.join(topo.EAST_WEST)}")
    if north_south not in topo.NORTH_SOUTH:
        raise InputError(f"--north-south {north_south!r} is not one of {', '.join(topo.NORTH_SOUTH)}")
    control_plane = state.context
    data_planes = state.data_planes
    if control_plane is None or data_planes is None:
        kube = state.kubeconfig()
        if not kube.contexts:
            raise InputError(f"no contexts in the kubeconfig ({kube.describe_sources()})",
                             hint="pass --context and --data-planes")
        control_plane = control_plane or kube.current_context or kube.context_names[0]
        if data_planes is None:
            data_planes = [c for c in kube.context_names if c != control_plane] or [control_plane]
            from kbmc.validation import context_name

            for name in data_planes:
                if err := context_name(name):
                    raise InputError(f"kubeconfig context {name!r} cannot be a data plane: {err}",
                                     hint="pass --data-planes with the contexts to use")
    text = topo.starter(control_plane, data_planes, east_west=east_west, north_south=north_south)
    if stdout:
        state.out.manifest(text)
        return
    path = Path(state.config_path or defaults.TOPOLOGY_FILE)
    if path.is_dir():
        raise InputError(f"{path} is a directory", hint=f"name a file, e.g. -f {path / defaults.TOPOLOGY_FILE}")
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: directory {path.parent} does not exist", hint="create it first")
    if path.exists() and not force:
        raise InputError(f"{path} already exists", hint="pass --force to overwrite it, or --stdout to print")
    try:
        write_private(path, text)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    state.out.success(f"wrote {path}: control plane {control_plane}, data planes {', '.join(data_planes)}")
    state.out.info("next: review it, then `kbmc validate`")


def validate(ctx: typer.Context) -> None:
    """Check the topology file without touching any cluster; every problem is listed with its field path."""
    from kbmc import topology as topo

    state = state_of(ctx)
    path = state.config_path or defaults.TOPOLOGY_FILE
    if not os.path.exists(path):
        raise InputError(f"topology file {path} does not exist", hint="create one with `kbmc init`")
    try:
        t = topo.load(path)
    except ValidationError as exc:
        if len(exc.problems) == 1:  # one problem, one line
            raise InputError(f"{path}: {exc.problems[0]}") from None
        for problem in exc.problems:
            state.out.error(f"{path}: {problem}")
        raise InputError(f"{path}: {len(exc.problems)} problem(s) found; nothing was changed") from None
    for note in t.notes:
        state.out.info(f"note: {note}")
    warnings = _kubeconfig_warnings(state, t)
    for warning in warnings:
        state.out.warn(warning)
    summary = {
        "file": path,
        "valid": True,
        "controlPlane": t.control_plane.context,
        "dataPlanes": t.data_plane_contexts,
        "disabled": t.disabled_contexts,
        "network": {"eastWest": t.network.east_west, "northSouth": t.network.north_south},
        "notes": t.notes,
        "warnings": warnings,
    }
    if state.out.machine:
        state.out.data(summary)
    else:
        state.out.success(f"{path} is valid: control plane {t.control_plane.context}, "
                          f"{len(t.data_planes)} data plane(s), east-west {t.network.east_west}, "
                          f"north-south {t.network.north_south}")


def _kubeconfig_warnings(state: Globals, t: "topo.Topology") -> list[str]:
    """Contexts the file names that the kubeconfig lacks: worth saying, not an error (it may be another machine's)."""
    if not state.has_kubeconfig():
        return []
    try:
        known = set(state.kubeconfig().context_names)
    except InputError as exc:
        return [f"kubeconfig not checked: {exc}"]
    named = [("controlPlane.context", t.control_plane.context)] + [
        (f"dataPlanes[{i}].context", d.context) for i, d in enumerate(t.data_planes)]
    return [f"{path}: context {ctx!r} is not in the kubeconfig ({state.kubeconfig().describe_sources()})"
            for path, ctx in named if ctx not in known]
