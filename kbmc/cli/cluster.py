"""`kbmc cluster`: cross-cluster database Clusters."""

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kbmc.cli.state import Globals, split_contexts, state_of
from kbmc.errors import InputError

if TYPE_CHECKING:  # the modules themselves are imported inside the command: start-up matters
    from kbmc.cluster.manifests import EtcdParams, PlacementRules

app = typer.Typer(help="Render and create cross-cluster database Clusters.", no_args_is_help=True)
create_app = typer.Typer(help="Render (and with --apply, create) a Cluster.", no_args_is_help=True)
app.add_typer(create_app, name="create")


@create_app.command("etcd")
def etcd(
    ctx: typer.Context,
    api: Annotated[Optional[str], typer.Option(
        help="Cluster API: v1alpha1 (KubeBlocks 0.9) or v1 (1.0); default from kbmc.yaml's version.",
        show_default=False)] = None,
    name: Annotated[Optional[str], typer.Option(help="Cluster name (default: generated).", show_default=False)] = None,
    generate_name: Annotated[str, typer.Option(help="Name prefix when --name is not given.")] = "etcd",
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Namespace of the Cluster.")] = "default",
    replicas: Annotated[int, typer.Option(help="Number of etcd members.")] = 3,
    cpu: Annotated[str, typer.Option(help="CPU request, also the limit unless --cpu-limit.")] = "100m",
    memory: Annotated[str, typer.Option(help="Memory request, also the limit unless --memory-limit.")] = "100M",
    cpu_limit: Annotated[Optional[str], typer.Option(show_default=False, help="CPU limit.")] = None,
    memory_limit: Annotated[Optional[str], typer.Option(show_default=False, help="Memory limit.")] = None,
    storage: Annotated[Optional[str], typer.Option(
        help="Data volume size (default: 1Gi self-built, 20Gi cloud).", show_default=False)] = None,
    storage_class: Annotated[Optional[str], typer.Option(show_default=False, help="StorageClass of the data volume.")] = None,
    termination_policy: Annotated[str, typer.Option(
        help="DoNotTerminate, Halt (v1alpha1 only), Delete or WipeOut.")] = "WipeOut",
    component_def: Annotated[Optional[str], typer.Option(
        help="ComponentDefinition (default: etcd-0.9.0 for v1alpha1, etcd for v1).", show_default=False)] = None,
    service_version: Annotated[Optional[str], typer.Option(
        help="etcd version (v1 default: 3.6.1).", show_default=False)] = None,
    placement: Annotated[Optional[str], typer.Option(
        help="Data-plane contexts, comma-separated (default: kbmc.yaml's enabled data planes).",
        show_default=False)] = None,
    no_placement: Annotated[bool, typer.Option("--no-placement", help="Let the operator choose the contexts.")] = False,
    network: Annotated[Optional[str], typer.Option(
        help="East-west network: cilium, cloud-lb or none (default: kbmc.yaml's, else cilium).",
        show_default=False)] = None,
    cloud: Annotated[Optional[list[str]], typer.Option(
        help="aliyun and/or volcengine (repeat for the cross-cloud case); with --network cloud-lb.",
        show_default=False)] = None,
    address_type: Annotated[Optional[str], typer.Option(
        help="Load balancer address type: intranet or internet (default: intranet; internet across clouds).",
        show_default=False)] = None,
    subnet_id: Annotated[Optional[str], typer.Option(help="Volcengine load balancer subnet id.",
                                                     show_default=False)] = None,
    service_placement: Annotated[Optional[str], typer.Option(
        help="mirror or unique (default: unique with cloud-lb).", show_default=False)] = None,
    pod_service: Annotated[bool, typer.Option("--pod-service/--no-pod-service",
                                              help="One peer Service per pod.")] = True,
    annotation: Annotated[Optional[list[str]], typer.Option(
        help="Extra Cluster annotation KEY=VALUE (repeatable).", show_default=False)] = None,
    label: Annotated[Optional[list[str]], typer.Option(help="Extra Cluster label KEY=VALUE (repeatable).",
                                                       show_default=False)] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Create it in the control plane.")] = False,
    create_namespace: Annotated[bool, typer.Option(
        "--create-namespace", help="With --apply: create the namespace in the control plane and every placed data plane.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="With --apply: follow the Cluster until Running.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds for --wait.")] = 600.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --apply: server-side dry run, nothing is created.")
                       ] = False,
) -> None:
    """A cross-cluster etcd Cluster (runbook step 5): YAML on stdout, or created with --apply.

    Works offline: `kbmc cluster create etcd | kubectl apply -f -`.
    """
    from kbmc.cluster import manifests

    state = state_of(ctx)
    topology = state.topology()
    if placement is not None and no_placement:
        raise InputError("--placement and --no-placement contradict each other")
    params = manifests.EtcdParams(
        api=api or (topology.api_version_for_kubeblocks if topology else "v1alpha1"),
        name=name, generate_name=generate_name, namespace=namespace, replicas=replicas,
        cpu=cpu, memory=memory, cpu_limit=cpu_limit, memory_limit=memory_limit,
        storage=storage, storage_class=storage_class, termination_policy=termination_policy,
        component_def=component_def, service_version=service_version,
        placement=None if no_placement else (split_contexts(placement, "--placement") or _default_placement(state)),
        network=network or (topology.network.east_west if topology else "cilium"),
        clouds=list(dict.fromkeys(cloud or [])), address_type=address_type, subnet_id=subnet_id,
        service_placement=service_placement, pod_service=pod_service,
        annotations=manifests.parse_pairs(annotation or [], "--annotation"),
        labels=manifests.parse_pairs(label or [], "--label"),
    )
    if (wait or create_namespace or dry_run) and not apply:
        raise InputError("--wait, --create-namespace and --dry-run go with --apply")
    if timeout <= 0:
        raise InputError(f"--timeout {timeout:g} must be greater than zero")
    text = manifests.render_etcd(params, _placement_rules(state, params.placement))
    if not apply:
        if state.output == "json":
            import json

            from kbmc.yamlio import load_yaml

            state.out.manifest(json.dumps(load_yaml(text, "manifest"), indent=2) + "\n")
        else:
            state.out.manifest(text)
        return
    _apply(state, params, text, create_namespace=create_namespace, dry_run=dry_run, wait=wait, timeout=timeout)


def _default_placement(state: Globals) -> list[str] | None:
    topology = state.topology()
    if topology:
        return topology.enabled_contexts
    return list(state.data_planes) if state.data_planes else None


def _placement_rules(state: Globals, placement: list[str] | None) -> "PlacementRules":
    from kbmc.cluster.manifests import PlacementRules

    topology = state.topology()
    if topology:
        return PlacementRules(known=topology.data_plane_contexts, disabled=topology.disabled_contexts)
    if placement is None:
        return PlacementRules()
    # No kbmc.yaml: the kubeconfig's contexts are the known ones, when there is a kubeconfig.
    if not state.has_kubeconfig():
        return PlacementRules()
    return PlacementRules(known=state.kubeconfig().context_names)


def _apply(state: Globals, params: "EtcdParams", text: str, *, create_namespace: bool, dry_run: bool, wait: bool,
           timeout: float) -> None:
    from kbmc.cluster import apply as clusters
    from kbmc.cluster.manifests import COMPONENT_DEF
    from kbmc.yamlio import load_yaml

    control_plane = state.control_plane()
    # With --no-placement the operator may use any enabled data plane: check them all.
    placed = params.placement or _default_placement(state) or []
    apply_params = clusters.ApplyParams(
        control_plane=control_plane, data_planes=placed, namespace=params.namespace, api=params.api,
        component_def=params.component_def or COMPONENT_DEF[params.api], kubeblocks_namespace=state.namespace,
        create_namespace=create_namespace, dry_run=dry_run)
    state.require_contexts([control_plane, *placed])
    registry = state.registry()
    result = clusters.apply(registry, load_yaml(text, "manifest"), apply_params)
    for warning in result.warnings:
        state.out.warn(warning)
    if result.namespaces_created:
        verb = "would create" if dry_run else "created"
        state.out.info(f"{verb} namespace {params.namespace} in {', '.join(result.namespaces_created)}")
    kind = f"cluster.apps.kubeblocks.io/{result.name}"
    verb = "unchanged (it exists with this spec)" if result.unchanged else (
        "validated (server dry run)" if dry_run else "created")
    state.out.success(f"{kind} {verb} in {control_plane} namespace {result.namespace}")
    if state.out.machine:
        state.out.data(result.created)
    else:
        state.out.raw(result.name + "\n")
    if wait and not dry_run:
        with state.out.progress(f"waiting for {result.name}") as advance:
            phase = clusters.wait_running(registry, control_plane, params.api, params.namespace, result.name,
                                          timeout=timeout, on_progress=lambda reason: advance(f"{result.name}: {reason}"))
        state.out.success(f"{result.name} is {phase}")
