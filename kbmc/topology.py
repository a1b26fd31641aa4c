"""The topology file (`kbmc.yaml`): one declarative description of the whole setup.

Every command takes its defaults from it; flags override. `validate()` checks it
without touching any cluster and reports every problem with its field path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbmc import defaults
from kbmc import validation as v
from kbmc.errors import InputError, ValidationError

API_VERSION = "kbmc.io/v1alpha1"
KIND = "Topology"
DEFAULT_FILE = defaults.TOPOLOGY_FILE
DEFAULT_NAMESPACE = defaults.NAMESPACE
DEFAULT_RELEASE = defaults.RELEASE
DEFAULT_VERSION = defaults.KUBEBLOCKS_VERSION
DEFAULT_SECRET = defaults.KUBECONFIG_SECRET

EAST_WEST = ("cilium", "cloud-lb", "none")
NORTH_SOUTH = ("nodeport", "metallb", "cloud-lb")
# Cilium: cluster.id 1..255, or up to 511 when every cluster sets maxConnectedClusters=511.
MAX_CONNECTED = (255, 511)
# Both used with fullmatch, ASCII only: `$` would also match before a final newline, `\d` any Unicode digit.
_CILIUM_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_VERSION = re.compile(r"v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?")
HELM_RELEASE_MAX = v.HELM_RELEASE_MAX  # helm refuses longer release names


@dataclass
class ControlPlane:
    context: str
    namespace: str = DEFAULT_NAMESPACE
    release: str = DEFAULT_RELEASE
    version: str = DEFAULT_VERSION
    kubeconfig_secret: str = DEFAULT_SECRET


@dataclass
class DataPlane:
    context: str
    enabled: bool = True
    cilium_name: str | None = None
    cilium_id: int | None = None
    pod_cidr: str | None = None
    lb_addresses: list[str] = field(default_factory=list)


@dataclass
class Network:
    east_west: str = "none"
    north_south: str = "nodeport"
    max_connected_clusters: int = 255


@dataclass
class Topology:
    control_plane: ControlPlane
    data_planes: list[DataPlane]
    network: Network = field(default_factory=Network)
    source: str = DEFAULT_FILE
    notes: list[str] = field(default_factory=list)

    @property
    def data_plane_contexts(self) -> list[str]:
        return [d.context for d in self.data_planes]

    @property
    def enabled_contexts(self) -> list[str]:
        return [d.context for d in self.data_planes if d.enabled]

    @property
    def disabled_contexts(self) -> list[str]:
        return [d.context for d in self.data_planes if not d.enabled]

    @property
    def api_version_for_kubeblocks(self) -> str:
        """The Cluster API of the KubeBlocks version in use: v1 from 1.0 on."""
        major = self.control_plane.version.lstrip("v").split(".", 1)[0]
        return "v1" if major.isdigit() and int(major) >= 1 else "v1alpha1"


# ---- schema ------------------------------------------------------------------------------------
# Each mapping lists its allowed keys: value = (type, required).
Schema = dict[str, tuple[type, bool]]
_TOP: Schema = {"apiVersion": (str, True), "kind": (str, True), "controlPlane": (dict, True),
        "dataPlanes": (list, True), "network": (dict, False)}
_CP: Schema = {"context": (str, True), "namespace": (str, False), "release": (str, False),
       "version": (str, False), "kubeconfigSecret": (str, False)}
_DP: Schema = {"context": (str, True), "enabled": (bool, False), "cilium": (dict, False), "metallb": (dict, False)}
_CILIUM: Schema = {"clusterName": (str, True), "clusterID": (int, True), "podCIDR": (str, True)}
_METALLB: Schema = {"addresses": (list, True)}
_NET: Schema = {"eastWest": (str, False), "northSouth": (str, False), "cilium": (dict, False)}
_NET_CILIUM: Schema = {"maxConnectedClusters": (int, False)}


class _Collector:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def mapping(self, value: Any, path: str, schema: Schema) -> dict[str, Any]:
        """Check keys and value types; return only the well-typed entries."""
        if not isinstance(value, dict):
            self.add(path, f"expected a mapping, got {_type_name(value)}")
            return {}
        good: dict[str, Any] = {}
        for key in value:
            if key not in schema:
                allowed = ", ".join(schema)
                self.add(_join(path, key), f"unknown key (allowed here: {allowed})")
        for key, (typ, required) in schema.items():
            if key not in value or value[key] is None:
                if required:
                    self.add(_join(path, key), "is required")
                continue
            item = value[key]
            # bool is an int in Python; a YAML `true` is not a cluster id.
            if not isinstance(item, typ) or (typ is int and isinstance(item, bool)):
                self.add(_join(path, key), f"expected {_TYPE_WORDS[typ]}, got {_type_name(item)}")
                continue
            good[key] = item
        return good


_TYPE_WORDS = {str: "a string", int: "an integer", bool: "true or false", dict: "a mapping", list: "a list"}


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {str: "a string", int: "an integer", bool: "a boolean", dict: "a mapping", list: "a list",
            float: "a number"}.get(type(value), type(value).__name__)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def parse(doc: Any, source: str = DEFAULT_FILE) -> Topology:
    """Validate a loaded topology document; raise ValidationError listing every problem."""
    c = _Collector()
    top = c.mapping(doc, "", _TOP)
    if "apiVersion" in top and top["apiVersion"] != API_VERSION:
        c.add("apiVersion", f"must be {API_VERSION}, got {top['apiVersion']!r}")
    if "kind" in top and top["kind"] != KIND:
        c.add("kind", f"must be {KIND}, got {top['kind']!r}")

    cp = _parse_control_plane(c, top.get("controlPlane"))
    net = _parse_network(c, top.get("network") or {})
    dps = [_parse_data_plane(c, item, f"dataPlanes[{i}]", net) for i, item in enumerate(top.get("dataPlanes") or [])]
    if "dataPlanes" in top and not top["dataPlanes"]:
        c.add("dataPlanes", "must list at least one data plane")
    _check_across(c, [(i, d) for i, d in enumerate(dps) if d])

    notes = []
    if cp and cp.context in [d.context for d in dps if d]:
        notes.append(f"controlPlane.context {cp.context!r} is also a data plane (allowed: the control plane reuses it)")
    if c.problems or cp is None:
        raise ValidationError(source, c.problems or ["controlPlane: is required"])
    return Topology(cp, [d for d in dps if d], net, source=source, notes=notes)


def _parse_control_plane(c: _Collector, raw: Any) -> ControlPlane | None:
    if raw is None:
        return None
    m = c.mapping(raw, "controlPlane", _CP)
    for key, check in (("namespace", v.dns1123_label), ("release", v.helm_release),
                       ("kubeconfigSecret", v.dns1123_subdomain)):
        if key in m and (err := check(m[key])):
            c.add(f"controlPlane.{key}", err)
    if "version" in m and not _VERSION.fullmatch(m["version"]):
        c.add("controlPlane.version", f"{m['version']!r} is not a version like 0.9.0 or 1.0.1")
    if "context" in m and (err := ("must not be empty" if not m["context"] else v.context_name(m["context"]))):
        c.add("controlPlane.context", err)
    if "context" not in m:
        return None
    return ControlPlane(
        context=m["context"],
        namespace=m.get("namespace", DEFAULT_NAMESPACE),
        release=m.get("release", DEFAULT_RELEASE),
        version=m.get("version", DEFAULT_VERSION).lstrip("v"),
        kubeconfig_secret=m.get("kubeconfigSecret", DEFAULT_SECRET),
    )


def _parse_network(c: _Collector, raw: Any) -> Network:
    m = c.mapping(raw, "network", _NET)
    net = Network()
    if "eastWest" in m:
        if m["eastWest"] in EAST_WEST:
            net.east_west = m["eastWest"]
        else:
            c.add("network.eastWest", f"{m['eastWest']!r} is not one of {', '.join(EAST_WEST)}")
    if "northSouth" in m:
        if m["northSouth"] in NORTH_SOUTH:
            net.north_south = m["northSouth"]
        else:
            c.add("network.northSouth", f"{m['northSouth']!r} is not one of {', '.join(NORTH_SOUTH)}")
    if "cilium" in m:
        cm = c.mapping(m["cilium"], "network.cilium", _NET_CILIUM)
        if "maxConnectedClusters" in cm:
            if cm["maxConnectedClusters"] in MAX_CONNECTED:
                net.max_connected_clusters = cm["maxConnectedClusters"]
            else:
                c.add("network.cilium.maxConnectedClusters", f"must be 255 or 511, got {cm['maxConnectedClusters']}")
    return net


def _parse_data_plane(c: _Collector, raw: Any, path: str, net: Network) -> DataPlane | None:
    m = c.mapping(raw, path, _DP)
    if "context" not in m:
        return None
    if err := v.context_name(m["context"]):
        c.add(f"{path}.context", err)
    dp = DataPlane(context=m["context"], enabled=m.get("enabled", True))
    if "cilium" in m:
        cm = c.mapping(m["cilium"], f"{path}.cilium", _CILIUM)
        name = cm.get("clusterName")
        if name is not None:
            if len(name) > 32:
                c.add(f"{path}.cilium.clusterName", f"{name[:40]!r}… is longer than 32 characters (Cilium's limit)")
            elif not _CILIUM_NAME.fullmatch(name):
                c.add(f"{path}.cilium.clusterName",
                      f"{name!r} must be lowercase letters, digits and '-', starting and ending with a letter or digit")
            dp.cilium_name = name
        cid = cm.get("clusterID")
        if cid is not None:
            top = net.max_connected_clusters
            if not 1 <= cid <= top:
                more = "" if top == 511 else " (up to 511 with network.cilium.maxConnectedClusters: 511)"
                shown = cid if abs(cid) < 10**12 else f"a {len(str(abs(cid)))}-digit number"
                c.add(f"{path}.cilium.clusterID", f"{shown} is out of range 1..{top}{more}")
            dp.cilium_id = cid
        if "podCIDR" in cm:
            net_, err = v.parse_cidr(cm["podCIDR"])
            if err:
                c.add(f"{path}.cilium.podCIDR", err)
            elif net_ is not None and net_.version != 4:
                # kbmc installs it as ipam.operator.clusterPoolIPv4PodCIDRList (cluster-pool IPAM, IPv4).
                c.add(f"{path}.cilium.podCIDR", f"{cm['podCIDR']} is not an IPv4 CIDR; kbmc sets up Cilium's "
                      "IPv4 cluster pool only (an IPv6 pod CIDR is not supported)")
            dp.pod_cidr = cm["podCIDR"]
    elif net.east_west == "cilium":
        c.add(f"{path}.cilium", "is required when network.eastWest is cilium (clusterName, clusterID, podCIDR)")
    if "metallb" in m:
        mm = c.mapping(m["metallb"], f"{path}.metallb", _METALLB)
        addresses = mm.get("addresses", [])
        if "addresses" in mm and not addresses:
            c.add(f"{path}.metallb.addresses", "must list at least one CIDR or range")
        for i, addr in enumerate(addresses):
            _, err = v.parse_address_range(addr)
            if err:
                c.add(f"{path}.metallb.addresses[{i}]", err)
        dp.lb_addresses = [a for a in addresses if isinstance(a, str)]
    elif net.north_south == "metallb":
        c.add(f"{path}.metallb", "is required when network.northSouth is metallb (addresses)")
    return dp


def _check_across(c: _Collector, dps: list[tuple[int, DataPlane]]) -> None:
    """Rules across data planes; `dps` keeps each plane's index in the file (a plane that failed to parse is absent)."""
    def dupes(values: list[tuple[int, Any]], what: str, field_name: str) -> None:
        first: dict[Any, int] = {}
        for i, value in values:
            if value is None:
                continue
            if value in first:
                c.add(f"dataPlanes[{i}].{field_name}", f"duplicate {what} {value!r} (also dataPlanes[{first[value]}])")
            else:
                first[value] = i

    dupes([(i, d.context) for i, d in dps], "context", "context")
    dupes([(i, d.cilium_name) for i, d in dps], "Cilium cluster name", "cilium.clusterName")
    dupes([(i, d.cilium_id) for i, d in dps], "Cilium cluster id", "cilium.clusterID")

    # Every pod CIDR and LB range must be disjoint from every other: integer intervals, sorted and swept.
    paths: list[str] = []
    intervals: list[tuple[int, int]] = []
    for i, d in dps:
        if d.pod_cidr and (interval := v.cidr_interval(d.pod_cidr)):
            paths.append(f"dataPlanes[{i}].cilium.podCIDR")
            intervals.append(interval)
        for j, addr in enumerate(d.lb_addresses):
            found, _ = v.parse_address_range(addr)
            if found:
                paths.append(f"dataPlanes[{i}].metallb.addresses[{j}]")
                intervals.append(found)
    for a, b in v.overlapping(intervals):
        c.add(paths[b], f"overlaps {paths[a]}; pod CIDRs and LB ranges must all be disjoint")


# ---- files -------------------------------------------------------------------------------------


def load(path: str | Path) -> Topology:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"topology file {p} does not exist", hint="create one with `kbmc init`") from None
    except OSError as exc:
        raise InputError(f"cannot read topology file {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line = text_line(p.read_bytes(), exc.start)
        raise InputError(f"topology file {p} is not UTF-8 text (line {line}, byte {exc.object[exc.start]:#04x})",
                         hint="save it as UTF-8") from None
    return parse(_parsed(text, str(p)), str(p))


def _parsed(text: str, source: str) -> Any:
    """The YAML document, from kbmc's cache when this exact text was read before: importing PyYAML alone costs
    more than the rest of an offline render, and the file rarely changes between runs. Only documents that
    loaded cleanly are cached; every check in `parse` runs each time."""
    from kbmc import cache

    doc = cache.load_parsed("topology", text)
    if doc is not None:
        return doc
    from kbmc.yamlio import YamlError, load_yaml  # PyYAML only when there is a file to read

    try:
        doc = load_yaml(text, source)
    except YamlError as exc:
        raise InputError(str(exc)) from None
    cache.store_parsed("topology", text, doc)
    return doc


def text_line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def find(explicit: str | None) -> Topology | None:
    """The topology named by --config, else ./kbmc.yaml when present, else None."""
    if explicit:
        return load(explicit)
    default = Path(DEFAULT_FILE)
    return load(default) if default.exists() else None


# ---- the starter file (`kbmc init`) ---------------------------------------------------------------


def starter(control_plane: str, data_planes: list[str], *, east_west: str = "cilium",
            north_south: str = "nodeport") -> str:
    """A topology following the runbook's example: ids 1..n, pod CIDRs 10.1-n.0.0/16,
    LB ranges right after them (10.n+1-2n.0.0/16)."""
    from kbmc.templating import render

    n = len(data_planes)
    if 2 * n > 255:
        raise InputError(f"{n} data planes are more than the starter's 10.x.0.0/16 plan holds; write the file by hand")
    names: list[str] = []
    for i, ctx in enumerate(data_planes):
        name = _cilium_name(ctx, i + 1)
        names.append(name if name not in names else f"{name[:28]}-{i + 1}")
    planes = [
        {
            "context": ctx,
            "cilium_name": names[i],
            "cilium_id": i + 1,
            "pod_cidr": f"10.{i + 1}.0.0/16",
            "lb_range": f"10.{n + i + 1}.0.0/16",
        }
        for i, ctx in enumerate(data_planes)
    ]
    text = render(
        "topology/kbmc.yaml.j2",
        api_version=API_VERSION,
        control_plane=control_plane,
        namespace=DEFAULT_NAMESPACE,
        release=DEFAULT_RELEASE,
        version=DEFAULT_VERSION,
        secret=DEFAULT_SECRET,
        east_west=east_west,
        north_south=north_south,
        data_planes=planes,
    )
    from kbmc.yamlio import load_yaml

    parse(load_yaml(text, "starter"), "starter")  # what init writes must validate
    return text


def _cilium_name(context: str, index: int) -> str:
    """A Cilium cluster name derived from a context name (ARNs and such get a plain one)."""
    name = re.sub(r"[^a-z0-9-]+", "-", context.lower()).strip("-")[:32].strip("-")
    return name or f"cluster-{index}"
