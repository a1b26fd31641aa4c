"""`kbmc network`: Cilium ClusterMesh (east-west), MetalLB and per-pod Services (north-south)."""

from typing import Annotated, Any, Optional

import click
import typer

from kbmc.cli.options import ClusterNamespaceOpt, checked_namespace
from kbmc.cli.state import Globals, parse_timeout, state_of
from kbmc.errors import EXIT_FAILED, InputError

app = typer.Typer(help="Cross-cluster traffic: Cilium ClusterMesh, MetalLB, per-pod Services.", no_args_is_help=True)

STEP_CHOICES = click.Choice(["install", "enable", "connect", "status"])
MESH_SERVICE_CHOICES = click.Choice(["NodePort", "LoadBalancer"])


_DURATION = "seconds or a duration (500ms, 2m, 1h30m)"


def _print_plan(state: Globals, plan: dict[str, Any]) -> None:
    """The plan as data on stdout (also grouped per cluster, in order), and as a table for people on stderr."""
    per_cluster: dict[str, list[Any]] = {}
    for a in plan["actions"]:
        per_cluster.setdefault(a["context"], []).append(
            a["argv"] if "argv" in a else f"apply {a['apply']['kind']} {a['apply']['namespace']}/{a['apply']['name']}")
    plan = {**plan, "perCluster": per_cluster}
    state.out.data(plan)
    if state.out.machine:
        return
    if plan.get("decisions"):
        state.out.table("per cluster (what a run would do)", ["CONTEXT", "STEP", "DECISION"],
                        [[d["context"], d["step"], d["decision"]] for d in plan["decisions"]])
    rows = []
    for a in plan["actions"]:
        what = " ".join(a["argv"]) if "argv" in a else f"apply {a['apply']['kind']} {a['apply']['namespace']}/{a['apply']['name']}"
        rows.append([a["context"], a["step"], a.get("round", ""), what])
    state.out.table("plan (dry run: nothing was run)", ["CONTEXT", "STEP", "ROUND", "ACTION"], rows)


@app.command("cilium")
def cilium(
    ctx: typer.Context,
    step: Annotated[Optional[list[str]], typer.Option(
        "--step", click_type=STEP_CHOICES, help="Run only this step (repeatable): install, enable, connect, status.",
        show_default=False)] = None,
    service_type: Annotated[Optional[str], typer.Option(
        "--service-type", click_type=MESH_SERVICE_CHOICES,
        help="How the clustermesh-apiserver is exposed (default NodePort). Refused for a cluster whose ClusterMesh "
             "is already enabled with another type.", show_default=False)] = None,
    parallel: Annotated[int, typer.Option(help="Remote connections at once, with a cilium-cli that has --parallel.")
                        ] = 4,
    timeout: Annotated[str, typer.Option(
        help=f"How long each `cilium clustermesh status --wait` may take: {_DURATION}.")] = "900",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (every command, per cluster); run nothing.")
                       ] = False,
) -> None:
    """Cilium ClusterMesh across the data planes: install, enable, connect every pair, wait (runbook step 4).

    Each cluster's name, id and pod CIDR come from kbmc.yaml. Idempotent: a re-run does only what is missing.
    """
    from kbmc.network import cilium as core
    from kbmc.runner import ShRunner

    state = state_of(ctx)
    timeout_s = parse_timeout(timeout)
    if parallel < 1:
        raise InputError(f"--parallel {parallel} must be at least 1")
    topology = state.topology()
    contexts = state.data_plane_contexts()
    params = core.CiliumParams(
        members=core.members_from(topology, contexts),
        service_type=service_type,
        max_connected_clusters=topology.network.max_connected_clusters if topology else 255,
        steps=tuple(s for s in core.STEPS if not step or s in step),
        timeout=timeout_s, parallel=parallel, kubeconfig=state.kubeconfig_path, dry_run=dry_run,
    )
    state.require_contexts(contexts)
    registry, runner = state.registry(), ShRunner()
    plan = core.build_plan(registry, runner, params)
    for context, seen in plan.observed.items():
        if seen.status_error:
            state.out.warn(f"{context}: `cilium clustermesh status` failed ({seen.status_error}); "
                           "its pairs are connected again")
    if dry_run:
        _print_plan(state, plan.as_dict(state.kubeconfig_path))
    plan.refuse()  # what a run would refuse, a dry run refuses too (exit 2), after showing the plan
    if dry_run:
        return
    result = core.run(registry, runner, params, plan, on_event=state.out.info)
    if state.out.machine:
        state.out.data(result.as_dict())
    else:
        state.out.table("clusters", ["CONTEXT", "INSTALL", "MESH", "STATUS", "CONNECTED PEERS"],
                        [[c.context, c.install, c.mesh, c.status, ", ".join(c.peers) or "-"] for c in result.clusters])
        state.out.table("pairs", ["PAIR", "STATE"], [[f"{a} <-> {b}", s] for (a, b), s in result.pairs.items()])
    if not result.done:
        failures = result.failures()
        what = f": {failures[0]}" + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else "") if failures else ""
        state.out.error(f"ClusterMesh is not complete{what}; fix it and re-run (done steps are skipped)")
        raise typer.Exit(EXIT_FAILED)
    state.out.success(core.summary_line(result, params.steps))


@app.command("metallb")
def metallb(
    ctx: typer.Context,
    chart: Annotated[Optional[str], typer.Option(
        help="Chart: a local directory or .tgz, or an oci:// reference (default: the official repository; "
             "air-gapped users need this).", show_default=False)] = None,
    version: Annotated[Optional[str], typer.Option(
        "--version", help="Chart version for the repository or an oci:// chart (default: the release kbmc pins); refused with a local "
                          "chart of another version (helm installs a local chart as it is).", show_default=False)] = None,
    timeout: Annotated[str, typer.Option(
        help=f"Time per cluster for the install, the controller and the webhook: {_DURATION}.")] = "300",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (commands and objects); run nothing.")
                       ] = False,
) -> None:
    """MetalLB in every data plane, with its address pool and L2 advertisement from kbmc.yaml (runbook step 4).

    Waits for MetalLB's controller and validating webhook before applying the pool, retrying while the
    webhook does not answer. Idempotent: a re-run changes nothing.
    """
    from kbmc.network import metallb as core
    from kbmc.runner import ShRunner

    state = state_of(ctx)
    timeout_s = parse_timeout(timeout)
    contexts = state.data_plane_contexts()
    params = core.MetallbParams(members=core.members_from(state.topology(), contexts), chart=chart,
                                version=version, timeout=timeout_s,
                                kubeconfig=state.kubeconfig_path, dry_run=dry_run)
    state.require_contexts(contexts)
    core.check_api_server_addresses(state.kubeconfig(), params.members)
    registry, runner = state.registry(), ShRunner()
    planned = core.plan(registry, runner, params)
    if dry_run:
        _print_plan(state, planned.as_dict(state.kubeconfig_path))
        return
    outcomes = core.run(registry, runner, params, planned, on_event=state.out.info)
    if state.out.machine:
        state.out.data({"done": all(core.ok(o) for o in outcomes), "clusters": [o.as_dict() for o in outcomes]})
    else:
        state.out.table("MetalLB", ["CONTEXT", "HELM", "POOL", "L2ADVERTISEMENT", "ADDRESSES"],
                        [[o.context, o.helm, o.pool, o.advertisement, ", ".join(o.addresses)] for o in outcomes])
    if not all(core.ok(o) for o in outcomes):
        failed = [o.context for o in outcomes if not core.ok(o)]
        state.out.error(f"MetalLB is not ready in {', '.join(failed)}; fix it and re-run")
        raise typer.Exit(EXIT_FAILED)
    state.out.success("MetalLB ready in " + ", ".join(o.context for o in outcomes))


@app.command("expose")
def expose(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The KubeBlocks Cluster (in the control plane).", show_default=False)],
    namespace: ClusterNamespaceOpt = "default",
    service_type: Annotated[str, typer.Option(
        "--type", click_type=click.Choice(["NodePort", "LoadBalancer"]), help="Service type per pod.")] = "NodePort",
    port: Annotated[Optional[str], typer.Option(
        help="Expose only this port (number or container port name; default: every container port).",
        show_default=False)] = None,
    component: Annotated[Optional[str], typer.Option(help="Only this component's pods.", show_default=False)] = None,
    address_type: Annotated[str, typer.Option(
        "--address-type", click_type=click.Choice(["InternalIP", "ExternalIP"]),
        help="Which node address NodePort endpoints use.")] = "InternalIP",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until every LoadBalancer has an address.")
                    ] = False,
    timeout: Annotated[str, typer.Option(help=f"How long --wait waits: {_DURATION}.")] = "300",
    delete: Annotated[bool, typer.Option("--delete", help="Remove the Services kbmc created for this Cluster.")
                      ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the Services; change nothing.")] = False,
) -> None:
    """One Service per pod of a Cluster, in the pod's data plane, and the client endpoint table (runbook step 4)."""
    from kbmc.network import expose as core

    checked_namespace(namespace)
    state = state_of(ctx)
    timeout_s = parse_timeout(timeout)
    control_plane = state.control_plane()
    data_planes = state.data_plane_contexts()
    params = core.ExposeParams(name=name, namespace=namespace, control_plane=control_plane, data_planes=data_planes,
                               service_type=service_type, port=port, address_type=address_type, component=component,
                               wait=wait, timeout=timeout_s, dry_run=dry_run)
    core.validate(params)
    state.require_contexts([control_plane, *data_planes])
    registry = state.registry()
    if delete:
        result = core.delete(registry, params)
        if state.out.machine:
            state.out.data({"deleted": result.deleted, "errors": result.errors})
        verb = "would delete" if dry_run else "deleted"
        for c, names in result.deleted.items():
            state.out.info(f"{c}: {verb} {len(names)} Service(s){': ' + ', '.join(names) if names else ''}")
    else:
        topology = state.topology()
        apis = [topology.api_version_for_kubeblocks] if topology else []
        apis += [a for a in ("v1", "v1alpha1") if a not in apis]
        result = core.expose(registry, params, apis, on_event=state.out.info)
        if dry_run:
            _print_plan(state, {"actions": [a.as_dict() for a in result.actions], "remove": result.removed})
        elif state.out.machine:
            state.out.data({"endpoints": [e.as_dict() for e in result.endpoints], "removed": result.removed,
                            "errors": result.errors})
        else:
            state.out.table(f"endpoints of {namespace}/{name} ({service_type})",
                            ["POD", "CONTEXT", "COMPONENT", "ROLE", "PORT", "ADDRESS"],
                            [[e.pod, e.context, e.component, e.role, e.port_name,
                              f"not exposed: {e.error}" if e.error else e.address] for e in result.endpoints])
        verb = "would remove" if dry_run else "removed"
        for c, stale in result.removed.items():
            for svc, pod in stale.items():
                state.out.info(f"{c}: {verb} stale Service {svc} (pod {pod} is no longer in {c})")
    for c, error in result.errors.items():
        state.out.error(f"{c}: {error}")
    if not delete and result.timed_out:
        state.out.error(f"{result.timed_out}; the Services are in place, re-run with --wait to wait again")
    if result.errors or (not delete and result.timed_out):
        raise typer.Exit(EXIT_FAILED)
