"""Rendering KubeBlocks Cluster manifests (runbook step 5): a cross-cluster etcd.

Everything is checked here, offline, before a manifest exists: quantities,
names, placement, the network/cloud combination and the API version's rules.
The runbook's first cloud example nests the `peer` service under
volumeClaimTemplates; the template always renders the corrected structure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kbmc import validation as v
from kbmc.errors import InputError

APIS = ("v1alpha1", "v1")
NETWORKS = ("cilium", "cloud-lb", "none")
CLOUDS = ("aliyun", "volcengine")
ADDRESS_TYPES = ("intranet", "internet")
SERVICE_PLACEMENTS = ("mirror", "unique")
TERMINATION = {"v1alpha1": ("DoNotTerminate", "Halt", "Delete", "WipeOut"), "v1": ("DoNotTerminate", "Delete", "WipeOut")}
COMPONENT_DEF = {"v1alpha1": "etcd-0.9.0", "v1": "etcd"}
SERVICE_VERSION_V1 = "3.6.1"
# The Cluster CRDs' rules for componentSpecs[].componentDef and .serviceVersion (KubeBlocks 0.9.0 for
# v1alpha1, 1.0.1 for v1; the tests compare them with the real CRDs). v1 names must start with a letter.
COMPONENT_DEF_PATTERN = {"v1alpha1": r"^[a-z0-9]([a-z0-9\.\-]*[a-z0-9])?$", "v1": r"^[a-z]([a-z0-9\.\-]*[a-z0-9])?$"}
COMPONENT_DEF_MAX = 64
SERVICE_VERSION_MAX = 32
# The names the template renders, from which the operator derives object names.
COMPONENT_NAME = "etcd"
SERVICE_NAME = "peer"
MAX_SERVICE_NAME = 63  # Service names are DNS-1035 labels
GENERATED_SUFFIX = 5  # the API server appends 5 random characters to generateName

PLACEMENT_ANNOTATION = "apps.kubeblocks.io/multi-cluster-placement"
SERVICE_PLACEMENT_ANNOTATION = "apps.kubeblocks.io/multi-cluster-service-placement"
# The operator's annotations kbmc renders from its own flags, with their checks: never from --annotation,
# where they would skip those checks (or be dropped silently when the flag is given too).
RESERVED_ANNOTATIONS = {PLACEMENT_ANNOTATION: "--placement (or --no-placement)",
                        SERVICE_PLACEMENT_ANNOTATION: "--service-placement"}
CILIUM_GLOBAL = "service.cilium.io/global"
ALIYUN_ADDRESS_TYPE = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type"
VOLCENGINE_SUBNET = "service.beta.kubernetes.io/volcengine-loadbalancer-subnet-id"
VOLCENGINE_ADDRESS_TYPE = "service.beta.kubernetes.io/volcengine-loadbalancer-address-type"
VOLCENGINE_ADDRESS = {"internet": "PUBLIC", "intranet": "PRIVATE"}


@dataclass
class EtcdParams:
    api: str = "v1alpha1"
    name: str | None = None
    generate_name: str = "etcd"
    namespace: str = "default"
    replicas: int = 3
    cpu: str = "100m"
    memory: str = "100M"
    cpu_limit: str | None = None
    memory_limit: str | None = None
    storage: str | None = None  # default: 1Gi self-built, 20Gi cloud
    storage_class: str | None = None
    termination_policy: str = "WipeOut"
    component_def: str | None = None
    service_version: str | None = None
    placement: list[str] | None = None  # None: no annotation (the operator picks)
    placement_source: str = "--placement"  # where the placement came from, for messages
    network: str = "cilium"
    clouds: list[str] = field(default_factory=list)
    address_type: str | None = None
    subnet_id: str | None = None
    service_placement: str | None = None
    pod_service: bool = True
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class PlacementRules:
    """What placement contexts are allowed: known ones, and disabled ones (refused)."""

    known: list[str] | None = None  # None: cannot be verified (no kbmc.yaml, no kubeconfig)
    disabled: list[str] = field(default_factory=list)


def parse_pairs(values: list[str], flag: str) -> dict[str, str]:
    """`--label`/`--annotation` KEY=VALUE values; keys checked as the API server checks that kind of key."""
    check_key = v.annotation_key if flag == "--annotation" else v.label_key
    pairs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"{flag} {item!r} must be KEY=VALUE")
        if err := check_key(key) or v.utf8(value):
            raise InputError(f"{flag} {err}")
        pairs[key] = value
    return pairs


def derived_suffixes(p: EtcdParams) -> list[str]:
    """What the operator appends to the Cluster's name for its Services (KubeBlocks' naming):
    `<cluster>-<component>-headless`, `<cluster>-<component>-<service>` and, with pod services,
    `<cluster>-<component>-<service>-<ordinal>`."""
    base = f"-{COMPONENT_NAME}"
    suffixes = [f"{base}-headless", f"{base}-{SERVICE_NAME}"]
    if p.pod_service:
        suffixes.append(f"{base}-{SERVICE_NAME}-{max(p.replicas - 1, 0)}")
    return suffixes


def name_limit(p: EtcdParams) -> tuple[int, str]:
    """The longest Cluster name whose derived Service names fit, and the longest suffix."""
    longest = max(derived_suffixes(p), key=len)
    return MAX_SERVICE_NAME - len(longest), longest


def _check_names(p: EtcdParams) -> None:
    limit, suffix = name_limit(p)
    why = f"the operator names a Service <name>{suffix}, at most {MAX_SERVICE_NAME} characters"
    if p.name is not None:
        if err := v.dns1035_label(p.name):
            raise InputError(f"--name: {err} (Service names are derived from it)")
        if len(p.name) > limit:
            raise InputError(f"--name {p.name!r} is longer than {limit} characters ({why})")
        return
    prefix = p.generate_name
    if not re.fullmatch(r"[a-z][-a-z0-9]*", prefix):
        raise InputError(f"--generate-name {prefix[:70]!r} must start with a lowercase letter and hold only lowercase "
                         "letters, digits and '-' (Service names are derived from it)")
    if len(prefix) + GENERATED_SUFFIX > limit:
        raise InputError(f"--generate-name {prefix[:70]!r} is longer than {limit - GENERATED_SUFFIX} characters "
                         f"(the server appends {GENERATED_SUFFIX}; {why})")


def _check_component(p: EtcdParams) -> None:
    if p.component_def is not None:
        pattern = COMPONENT_DEF_PATTERN[p.api]
        if len(p.component_def) > COMPONENT_DEF_MAX or not re.fullmatch(pattern[1:-1], p.component_def):
            first = "a letter" if p.api == "v1" else "a letter or digit"
            raise InputError(f"--component-def {p.component_def[:70]!r} must be at most {COMPONENT_DEF_MAX} lowercase "
                             f"letters, digits, '.' and '-', starting with {first} and ending with a letter or "
                             f"digit ({p.api} Cluster API)")
    if p.service_version is not None:
        if len(p.service_version) > SERVICE_VERSION_MAX:
            raise InputError(f"--service-version {p.service_version[:40]!r} is longer than {SERVICE_VERSION_MAX} "
                             "characters (the Cluster CRD's limit)")
        if err := v.semantic_version(p.service_version):
            raise InputError(f"--service-version {err} (the operator matches it as one)")
        if p.api == "v1" and v.label_value(p.service_version):
            raise InputError(f"--service-version {p.service_version!r}: KubeBlocks 1.0 puts it in a pod label, "
                             "so it may hold only letters, digits, '-', '_' and '.' (no '+build')")


def check(p: EtcdParams, rules: PlacementRules) -> None:
    """Raise InputError for the first problem, in the order a user would fix them."""
    if p.api not in APIS:
        raise InputError(f"--api {p.api!r} is not one of {', '.join(APIS)}")
    if err := v.replicas(p.replicas):
        raise InputError(err)
    _check_names(p)
    if err := v.dns1123_label(p.namespace):
        raise InputError(f"--namespace: {err}")
    if p.storage_class is not None and (err := v.dns1123_subdomain(p.storage_class)):
        raise InputError(f"--storage-class: {err}")
    _check_component(p)
    for flag, value in (("--cpu", p.cpu), ("--memory", p.memory), ("--cpu-limit", p.cpu_limit),
                        ("--memory-limit", p.memory_limit), ("--storage", p.storage)):
        if value is not None and (err := v.positive_quantity(value, flag)):
            raise InputError(err)
    for flag, request, limit in (("cpu", p.cpu, p.cpu_limit), ("memory", p.memory, p.memory_limit)):
        if limit is not None and v.quantity_nanos(limit) < v.quantity_nanos(request):
            raise InputError(f"--{flag}-limit {limit} is below the request --{flag} {request}")
    if p.termination_policy not in TERMINATION[p.api]:
        extra = " (Halt was removed in KubeBlocks 1.0's v1 API)" if p.termination_policy == "Halt" else ""
        raise InputError(f"--termination-policy {p.termination_policy!r} is not one of "
                         f"{', '.join(TERMINATION[p.api])} for {p.api}{extra}")
    if p.network not in NETWORKS:
        raise InputError(f"--network {p.network!r} is not one of {', '.join(NETWORKS)}")
    for cloud in p.clouds:
        if cloud not in CLOUDS:
            raise InputError(f"--cloud {cloud!r} is not one of {', '.join(CLOUDS)}")
    if p.clouds and p.network != "cloud-lb":
        raise InputError(f"--cloud {','.join(p.clouds)} needs --network cloud-lb (got --network {p.network})")
    if p.network == "cloud-lb" and not p.clouds:
        raise InputError("--network cloud-lb needs --cloud aliyun and/or --cloud volcengine")
    if p.address_type is not None:
        if p.address_type not in ADDRESS_TYPES:
            raise InputError(f"--address-type {p.address_type!r} is not one of {', '.join(ADDRESS_TYPES)}")
        if p.network != "cloud-lb":
            raise InputError("--address-type only applies to --network cloud-lb")
    if "volcengine" in p.clouds and not p.subnet_id:
        raise InputError("--cloud volcengine needs --subnet-id (the VKE load balancer's subnet)")
    if p.subnet_id and "volcengine" not in p.clouds:
        raise InputError("--subnet-id only applies to --cloud volcengine")
    if p.service_placement is not None:
        if p.service_placement not in SERVICE_PLACEMENTS:
            raise InputError(f"--service-placement {p.service_placement!r} is not one of {', '.join(SERVICE_PLACEMENTS)}")
        if p.service_placement == "unique" and not p.pod_service:
            raise InputError("--service-placement unique needs pod services (drop --no-pod-service)")
    if p.network == "cloud-lb" and not p.pod_service:
        raise InputError("--network cloud-lb needs pod services: each replica gets its own load balancer")
    if p.subnet_id is not None and (err := v.utf8(p.subnet_id)):
        raise InputError(f"--subnet-id {err}")
    for key, value in p.labels.items():
        if err := v.label_value(value):
            raise InputError(f"--label {key}: {err}")
    for key in p.annotations:
        if key.lower() in RESERVED_ANNOTATIONS:
            flag = RESERVED_ANNOTATIONS[key.lower()]
            raise InputError(f"--annotation {key} is reserved: kbmc renders the operator's annotation, checked, "
                             f"from {flag.split()[0]}", hint=f"use {flag} instead")
    _check_placement(p.placement, p.placement_source, rules)
    if err := v.annotations_size(values(p)["annotations"]):
        raise InputError(f"--annotation: the Cluster's {err}")


def _check_placement(placement: list[str] | None, source: str, rules: PlacementRules) -> None:
    if placement is None:
        return
    if not placement:
        if source == "--placement":
            raise InputError("--placement is empty", hint="name data-plane contexts, or use --no-placement")
        raise InputError(f"no data planes to place the Cluster on ({source} lists none)",
                         hint="pass --placement, or --no-placement to let the operator choose")
    if len(set(placement)) != len(placement):
        raise InputError(f"{source} {','.join(placement)} lists a context twice")
    for ctx in placement:
        if err := v.context_name(ctx):
            raise InputError(f"{source}: {err}")
        if ctx in rules.disabled:
            raise InputError(f"{source}: context {ctx!r} is disabled in kbmc.yaml; place the cluster elsewhere "
                             "or set enabled: true for it in kbmc.yaml")
        if rules.known is not None and ctx not in rules.known:
            raise InputError(f"{source}: unknown context {ctx!r} (known data planes: {', '.join(rules.known)})")


def values(p: EtcdParams) -> dict[str, Any]:
    """The template's inputs, with every default resolved."""
    cloud = p.network == "cloud-lb"
    annotations = dict(p.annotations)
    if p.placement is not None:
        annotations[PLACEMENT_ANNOTATION] = ",".join(p.placement)
    service_annotations: dict[str, str] = {}
    service_placement = p.service_placement or ("unique" if cloud else None)
    if service_placement:
        service_annotations[SERVICE_PLACEMENT_ANNOTATION] = service_placement
    if p.network == "cilium":
        service_annotations[CILIUM_GLOBAL] = "true"
    # Across clouds the load balancers must be public; inside one cloud, private.
    address = p.address_type or ("internet" if len(p.clouds) > 1 else "intranet")
    if "aliyun" in p.clouds:
        service_annotations[ALIYUN_ADDRESS_TYPE] = address
    if "volcengine" in p.clouds:
        service_annotations[VOLCENGINE_SUBNET] = p.subnet_id or ""
        service_annotations[VOLCENGINE_ADDRESS_TYPE] = VOLCENGINE_ADDRESS[address]
    service_version = p.service_version or (SERVICE_VERSION_V1 if p.api == "v1" else None)
    return {
        "api": p.api,
        "name": p.name,
        "generate_name": p.generate_name,
        "namespace": p.namespace,
        "labels": p.labels,
        "annotations": annotations,
        "termination_policy": p.termination_policy,
        "component_name": COMPONENT_NAME,
        "service_name": SERVICE_NAME,
        "component_def": p.component_def or COMPONENT_DEF[p.api],
        "service_version": service_version,
        "replicas": p.replicas,
        "cpu_request": p.cpu,
        "cpu_limit": p.cpu_limit or p.cpu,
        "memory_request": p.memory,
        "memory_limit": p.memory_limit or p.memory,
        "storage": p.storage or ("20Gi" if cloud else "1Gi"),
        "storage_class": p.storage_class,
        "service_type": "LoadBalancer" if cloud else "ClusterIP",
        "service_annotations": service_annotations,
        "pod_service": p.pod_service,
    }


def render_etcd(p: EtcdParams, rules: PlacementRules | None = None) -> str:
    """The Cluster as YAML text; raises InputError before rendering anything invalid."""
    from kbmc.templating import render

    check(p, rules or PlacementRules())
    return render("etcd/cluster.yaml.j2", **values(p))
