"""`kbmc cluster`: cross-cluster database Clusters."""

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kbmc.cli.options import ClusterNamespaceFilterOpt, ClusterNamespaceOpt, checked_namespace
from kbmc.cli.state import Globals, parse_timeout, split_contexts, state_of
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
    namespace: ClusterNamespaceOpt = "default",
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
    timeout: Annotated[str, typer.Option(help="How long --wait waits: seconds or a duration (500ms, 2m, 1h30m).")
                       ] = "600",
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
    placed, placement_source = _placement(state, placement, no_placement)
    params = manifests.EtcdParams(
        api=api or (topology.api_version_for_kubeblocks if topology else "v1alpha1"),
        name=name, generate_name=generate_name, namespace=namespace, replicas=replicas,
        cpu=cpu, memory=memory, cpu_limit=cpu_limit, memory_limit=memory_limit,
        storage=storage, storage_class=storage_class, termination_policy=termination_policy,
        component_def=component_def, service_version=service_version,
        placement=placed, placement_source=placement_source,
        network=network or (topology.network.east_west if topology else "cilium"),
        clouds=list(dict.fromkeys(cloud or [])), address_type=address_type, subnet_id=subnet_id,
        service_placement=service_placement, pod_service=pod_service,
        annotations=manifests.parse_pairs(annotation or [], "--annotation"),
        labels=manifests.parse_pairs(label or [], "--label"),
    )
    if (wait or create_namespace or dry_run) and not apply:
        raise InputError("--wait, --create-namespace and --dry-run go with --apply")
    timeout_s = parse_timeout(timeout)
    text = manifests.render_etcd(params, _placement_rules(state, params.placement))
    if not apply:
        if state.output == "json":
            import json

            from kbmc.yamlio import load_yaml

            state.out.manifest(json.dumps(load_yaml(text, "manifest"), indent=2) + "\n")
        else:
            state.out.manifest(text)
        return
    _apply(state, params, text, create_namespace=create_namespace, dry_run=dry_run, wait=wait, timeout=timeout_s)


def _placement(state: Globals, flag: str | None, no_placement: bool) -> tuple[list[str] | None, str]:
    """The placement and where it came from (named in messages about it)."""
    if no_placement:
        return None, "--no-placement"
    if flag is not None:
        return split_contexts(flag, "--placement"), "--placement"
    source = "kbmc.yaml's enabled data planes" if state.topology() else "--data-planes"
    return _default_placement(state), source


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


_API_HELP = "Cluster API: v1alpha1 (KubeBlocks 0.9) or v1 (1.0); default from kbmc.yaml's version."


def _api_of(state: Globals, api: Optional[str]) -> str:
    if api is not None and api not in ("v1alpha1", "v1"):
        raise InputError(f"--api {api!r} is not one of v1alpha1, v1")
    topology = state.topology()
    return api or (topology.api_version_for_kubeblocks if topology else "v1alpha1")


def _fallback_planes(state: Globals) -> list[str]:
    """Where to look when a Cluster names no placement: the given or configured data planes, if any."""
    if state.data_planes:
        return list(state.data_planes)
    return _default_placement(state) or []


@app.command("status")
def status(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The Cluster's name.")],
    namespace: ClusterNamespaceOpt = "default",
    api: Annotated[Optional[str], typer.Option(help=_API_HELP, show_default=False)] = None,
) -> None:
    """One Cluster across clusters: phase and conditions, and per data plane its pods, PVCs and Services."""
    from kbmc.cluster.status import status as cluster_status

    checked_namespace(namespace)
    state = state_of(ctx)
    api_version = _api_of(state, api)
    control_plane = state.control_plane()
    state.require_contexts([control_plane])
    view = cluster_status(state.registry(), control_plane, namespace, name, api_version, state.namespace,
                          _fallback_planes(state))
    if state.out.machine:
        state.out.data(view)
        return
    state.out.info(f"Cluster {namespace}/{name} in {control_plane}: {view['phase'] or 'no phase yet'}")
    for cond in view["conditions"]:
        if cond["status"] != "True":
            state.out.info(f"  {cond['type']}: {cond['reason']} {cond['message']}".rstrip())
    rows: list[list[str]] = []
    for context, plane in view["dataPlanes"].items():
        note = "disabled" if plane["disabled"] else ""
        if not plane["reachable"]:
            rows.append([context, "unreachable", "", "", "", "", plane.get("error", "")])
            continue
        pvcs = {p["name"]: p["bound"] for p in plane["pvcs"]}
        for pod in plane["pods"] or [{"name": "-", "phase": "", "ready": False, "role": "", "node": ""}]:
            bound = [v for k, v in pvcs.items() if k.endswith("-" + pod["name"])]
            rows.append([context, pod["name"], pod["phase"], "yes" if pod["ready"] else "no", pod["role"],
                         ("bound" if all(bound) else "pending") if bound else "", note])
        rows.append([context, f"services: {', '.join(plane['services']) or '-'}", "", "", "", "", note])
    state.out.table(None, ["CONTEXT", "POD", "PHASE", "READY", "ROLE", "PVC", "NOTE"], rows)


@app.command("list")
def list_(
    ctx: typer.Context,
    namespace: ClusterNamespaceFilterOpt = None,
    api: Annotated[Optional[str], typer.Option(help=_API_HELP, show_default=False)] = None,
) -> None:
    """Every KubeBlocks Cluster, with its placement and ready/total pods per data plane."""
    from kbmc.cluster.status import list_clusters

    if namespace is not None:
        checked_namespace(namespace)
    state = state_of(ctx)
    api_version = _api_of(state, api)
    control_plane = state.control_plane()
    state.require_contexts([control_plane])
    rows = list_clusters(state.registry(), control_plane, api_version, namespace)
    if state.out.machine:
        state.out.data(rows)
        return

    def pods(counts: dict[str, dict[str, object]]) -> str:
        return " ".join(f"{c}={v['ready']}/{v['total']}" if "error" not in v else f"{c}=unreachable"
                        for c, v in counts.items())

    state.out.table(None, ["NAMESPACE", "NAME", "PHASE", "PLACEMENT", "READY/TOTAL"],
                    [[r["namespace"], r["name"], r["phase"], ",".join(r["placement"]) or "(operator's choice)",
                      pods(r["pods"])] for r in rows])


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The Cluster's name.")],
    namespace: ClusterNamespaceOpt = "default",
    api: Annotated[Optional[str], typer.Option(help=_API_HELP, show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be removed; change nothing.")] = False,
    timeout: Annotated[str, typer.Option(
        help="How long to wait for the operator to delete the Cluster: seconds or a duration (500ms, 2m, 1h30m).")
                       ] = "300",
) -> None:
    """Delete a Cluster, wait for the operator, then remove what it leaves in the data planes.

    Removes only objects labelled both app.kubernetes.io/instance=NAME and app.kubernetes.io/managed-by=kubeblocks
    in the Cluster's namespace (their finalizers included). A data plane that is down is reported; run it again.
    """
    from kbmc.cluster.delete import DeleteParams
    from kbmc.cluster.delete import delete as delete_cluster
    from kbmc.errors import OperationError

    checked_namespace(namespace)
    state = state_of(ctx)
    timeout_s = parse_timeout(timeout)
    api_version = _api_of(state, api)
    params = DeleteParams(control_plane=state.control_plane(), data_planes=_fallback_planes(state),
                          namespace=namespace, name=name, api=api_version, dry_run=dry_run, timeout=timeout_s)
    state.require_contexts([params.control_plane, *params.data_planes])
    with state.out.progress(f"deleting {name}") as advance:
        result = delete_cluster(state.registry(), params, on_progress=lambda reason: advance(f"{name}: {reason}"))
    verb = "would remove" if dry_run else "removed"
    if result.found:
        state.out.success(f"Cluster {namespace}/{name} {'would be deleted' if dry_run else 'deleted'} "
                          f"in {params.control_plane}")
    else:
        state.out.info(f"Cluster {namespace}/{name} not found in {params.control_plane}; "
                       "cleaning up what it left in the data planes")
    payload = []
    for plane in result.planes:
        if plane.ok:
            state.out.info(f"{plane.context}: {verb} {', '.join(plane.value or []) or 'nothing'}")
        else:
            state.out.error(f"{plane.context}: {plane.error}")
        payload.append({"context": plane.context, "ok": plane.ok, "removed": plane.value or [],
                        **({"error": plane.error} if not plane.ok else {})})
    if state.out.machine:
        state.out.data({"name": name, "namespace": namespace, "found": result.found, "dryRun": dry_run,
                        "dataPlanes": payload})
    if result.failed:
        raise OperationError(f"could not clean up {', '.join(p.context for p in result.failed)}",
                             hint=f"run `kbmc cluster delete {name} -n {namespace}` again once they are reachable")
