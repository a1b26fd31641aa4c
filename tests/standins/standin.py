"""A recording stand-in for an external CLI we cannot run here (cilium, kbcli, helm).

Each call is appended as one JSON line to $KBMC_STANDIN_LOG: tool, argv, the
subcommand path, the kube context, and when it started and ended. Arguments are
checked the way the real tool's flag parser would: unknown subcommands and flags,
flags missing their value, `--set` values that helm's parser rejects, and the
runbook's em-dash flags (`—context`) are refused with a non-zero exit and an error
on stderr.

$KBMC_STANDIN_FAIL="tool[ subcommand][@context]:code:message" makes matching calls
fail on purpose (several specs separated by ";;").

With $KBMC_STANDIN_CLUSTERS=1, cilium also acts on the cluster the way cilium-cli
does, through the real API server of the named context (kubeconfig: --kubeconfig,
else $KUBECONFIG); without it, cilium calls are only recorded:
- `install` creates kube-system/cilium-config (cluster-name, cluster-id,
  cluster-pool-ipv4-cidr, max-connected-clusters) and refuses a second install;
- `clustermesh enable` creates the kube-system/clustermesh-apiserver Service;
- `clustermesh connect` writes each peer's cluster name as a key of the
  kube-system/cilium-clustermesh Secret (helm mode keeps peers there), in the
  modes `unicast`, `bidirectional` (default) and `mesh`;
- `clustermesh disconnect` removes those keys again (both sides by default; `unicast`: this side only;
  `mesh`: every pair among them), a peer that is not there being no error;
- `clustermesh status [-o json]` fails while ClusterMesh is not enabled, else prints
  cilium-cli's status JSON (`connectivity.clusters`: remote cluster name ->
  configured/connected agent counts).
$KBMC_STANDIN_CILIUM_VERSION (default v0.18.3) is the reported cilium-cli release; before
v0.16.19 `clustermesh connect` takes one `--destination-context` and knows neither
`--connection-mode` nor `--parallel`, as the real releases did.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
from typing import Any

# tool -> (subcommand paths, flags taking a value, boolean flags, flag naming the kube context)
_COMMON_VALUE = {"--kubeconfig"}
SPECS: dict[str, tuple[set[tuple[str, ...]], set[str], set[str], str]] = {
    "cilium": (
        {("version",), ("status",), ("install",), ("upgrade",), ("uninstall",), ("clustermesh", "enable"),
         ("clustermesh", "disable"), ("clustermesh", "status"), ("clustermesh", "connect"),
         ("clustermesh", "disconnect"), ("connectivity", "test")},
        {"--context", "--set", "--version", "--service-type", "--destination-context", "--connection-mode",
         "--parallel", "--wait-duration", "-n", "--namespace", "-o", "--output"},
        {"--wait", "--enable-kvstoremesh", "--client"},
        "--context",
    ),
    "kbcli": (
        {("version",), ("kubeblocks", "install"), ("kubeblocks", "upgrade"), ("kubeblocks", "status"),
         ("kubeblocks", "uninstall"), ("addon", "list"), ("addon", "enable")},
        {"--context", "--set", "--set-string", "-f", "--values", "--version", "--timeout", "-n", "--namespace"},
        {"--create-namespace", "--wait", "--all", "--auto-approve"},
        "--context",
    ),
    "helm": (
        {("version",), ("install",), ("upgrade",), ("uninstall",), ("status",), ("list",), ("repo", "add"),
         ("repo", "update"), ("get", "values")},
        {"--kube-context", "--set", "--set-string", "-f", "--values", "--version", "--timeout", "-n",
         "--namespace", "-o", "--output", "--filter", "--repo"},
        {"--create-namespace", "--wait", "--install", "--atomic", "--all-namespaces", "-A", "--skip-crds",
         "--no-hooks"},
        "--kube-context",
    ),
}
_SET_FLAGS = {"--set", "--set-string"}
_VALUE_OPTS = {"--set", "--set-string", "--set-file", "--set-json", "-f", "--values"}  # kbcli: helm's value flags

# Subcommands whose flags differ from the tool's common set, as the real tool defines them:
# path -> (flags taking a value, boolean flags, takes positional arguments).
# kbcli kubeblocks install/upgrade: apecloud/kbcli pkg/cmd/kubeblocks/install.go and upgrade.go (cobra.NoArgs).
COMMAND_SPECS: dict[tuple[str, tuple[str, ...]], tuple[set[str], set[str], bool]] = {
    ("kbcli", ("kubeblocks", "install")): (
        _VALUE_OPTS | {"--context", "--version", "-n", "--namespace", "--timeout", "--pod-anti-affinity",
                       "--topology-keys", "--node-labels", "--tolerations"},
        {"--create-namespace", "--check", "--wait", "--wait-addons", "--force"},
        False,
    ),
    ("kbcli", ("kubeblocks", "upgrade")): (
        _VALUE_OPTS | {"--context", "--version", "-n", "--namespace", "--timeout"},
        {"--check", "--wait", "--auto-approve"},
        False,
    ),
}
# cilium clustermesh disconnect (cilium-cli cli/clustermesh.go, newCmdClusterMeshDisconnectWithHelm): its own
# --destination-context (a string slice: comma-separated or repeated) and --connection-mode, nothing else (no
# --parallel), besides cilium's global flags.
COMMAND_SPECS[("cilium", ("clustermesh", "disconnect"))] = (
    {"--context", "-n", "--namespace", "--destination-context", "--connection-mode"}, set(), False)
_BOOL_VALUES = {"true", "false", "1", "0", "t", "f", "True", "False", "TRUE", "FALSE"}
DEFAULT_CILIUM_VERSION = "v0.18.3"
MULTI_DESTINATION_SINCE = (0, 16, 19)
_NEW_CONNECT_FLAGS = {"--connection-mode", "--parallel"}


class Failed(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _split_set(value: str) -> list[str]:
    """Split a --set value at unescaped commas, as helm's strvals parser does."""
    return [p.replace("\\,", ",") for p in re.split(r"(?<!\\),", value)]


def _command_of(tool: str, argv: list[str]) -> tuple[str, ...] | None:
    words = [a for a in argv if not a.startswith("-")]
    for n in (2, 1):
        if (tool, tuple(words[:n])) in COMMAND_SPECS:
            return tuple(words[:n])
    return None


def parse(tool: str, argv: list[str]) -> tuple[tuple[str, ...], dict[str, list[str]], list[str]]:
    """The subcommand, flags and positional arguments; on a parse error, the tool's message and exit 1."""
    try:
        return _parse(tool, argv)
    except Failed as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(exc.code) from None


def _parse(tool: str, argv: list[str]) -> tuple[tuple[str, ...], dict[str, list[str]], list[str]]:
    paths, value_flags, bool_flags, _ = SPECS[tool]
    value_flags = value_flags | _COMMON_VALUE
    specific = _command_of(tool, argv)
    positional_ok = True
    if specific is not None:
        value_flags, bool_flags, positional_ok = COMMAND_SPECS[(tool, specific)]
        value_flags = value_flags | _COMMON_VALUE
    words: list[str] = []
    flags: dict[str, list[str]] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg[:1] in ("\u2014", "\u2013"):
            raise Failed(f'unknown command "{arg}" for "{tool}" (an em dash is not "--")')
        if arg.startswith("-"):
            name, eq, inline = arg.partition("=")
            if name in bool_flags:
                if eq and inline not in _BOOL_VALUES:
                    raise Failed(f'invalid argument "{inline}" for "{name}" flag: strconv.ParseBool: '
                                 f'parsing "{inline}": invalid syntax')
                flags.setdefault(name, []).append(inline if eq else "true")
            elif name in value_flags:
                if eq:
                    value = inline
                elif i + 1 < len(argv):
                    i += 1
                    value = argv[i]
                else:
                    raise Failed(f"flag needs an argument: {name}")
                if name in _SET_FLAGS:
                    for item in _split_set(value):
                        if "=" not in item:
                            raise Failed(f'failed parsing {name} data: key "{item}" has no value')
                if name in ("-f", "--values") and not os.path.isfile(value):
                    raise Failed(f"open {value}: no such file or directory")
                flags.setdefault(name, []).append(value)
            else:
                raise Failed(f"unknown flag: {name}")
        else:
            words.append(arg)
        i += 1
    for n in (2, 1):
        if tuple(words[:n]) in paths:
            if words[n:] and not positional_ok:
                raise Failed(f'unknown command "{words[n]}" for "{tool} {" ".join(words[:n])}"')
            return tuple(words[:n]), flags, words[n:]
    raise Failed(f'unknown command "{" ".join(words)}" for "{tool}"')


def cilium_version() -> tuple[str, tuple[int, ...]]:
    text = os.environ.get("KBMC_STANDIN_CILIUM_VERSION", DEFAULT_CILIUM_VERSION)
    return text, tuple(int(p) for p in text.lstrip("v").split("-")[0].split("."))


def _injected_failure(tool: str, command: tuple[str, ...], context: str | None) -> tuple[int, str] | None:
    for spec in filter(None, os.environ.get("KBMC_STANDIN_FAIL", "").split(";;")):
        target, code, message = spec.split(":", 2)
        who, _, where = target.partition("@")
        words = who.split()
        if words[0] != tool or tuple(words[1:]) != command[:len(words) - 1]:
            continue
        if where and where != context:
            continue
        return int(code), message
    return None


# ---- cilium against the cluster -------------------------------------------------------------------

NAMESPACE = "kube-system"
CONFIG = "cilium-config"
MESH_SERVICE = "clustermesh-apiserver"
MESH_SECRET = "cilium-clustermesh"


class Cluster:
    """One context's API, through kbmc's own client (the stand-in runs in kbmc's environment)."""

    def __init__(self, context: str, kubeconfig: str | None) -> None:
        from kbmc import kubeconfig as kc
        from kbmc.clients import ClientRegistry

        config = kc.load(kubeconfig)
        if context not in config.contexts:
            raise Failed(f'unable to create Kubernetes client: context "{context}" does not exist')
        self.context = context
        self.client = ClientRegistry(config).for_context(context)

    def path(self, plural: str, name: str | None = None) -> str:
        from kbmc.clients import resource_path

        return resource_path("v1", plural, NAMESPACE, name)

    def config(self) -> dict[str, str] | None:
        cm = self.client.get_or_none(self.path("configmaps", CONFIG))
        return None if cm is None else dict(cm.get("data") or {})

    def mesh_enabled(self) -> bool:
        return self.client.get_or_none(self.path("services", MESH_SERVICE)) is not None

    def peers(self) -> list[str]:
        secret = self.client.get_or_none(self.path("secrets", MESH_SECRET))
        return sorted((secret or {}).get("data") or {})

    def add_peers(self, names: list[str]) -> None:
        data = {n: base64.b64encode(f"endpoints:\n- https://{n}.mesh.cilium.io:2379\n".encode()).decode()
                for n in names}
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": MESH_SECRET, "namespace": NAMESPACE},
                "data": data}
        if self.client.get_or_none(self.path("secrets", MESH_SECRET)) is None:
            self.client.create(self.path("secrets"), body)
        else:
            self.client.patch(self.path("secrets", MESH_SECRET), {"data": data})


def _remove_peers(cluster: Cluster, names: list[str]) -> None:
    """Drop peers from kube-system/cilium-clustermesh (a name that is not there is fine, as in cilium-cli)."""
    from kbmc.clients import resource_path

    path = resource_path("v1", "secrets", NAMESPACE, MESH_SECRET)
    secret = cluster.client.get_or_none(path)
    if secret is None:
        return
    data = {k: v for k, v in (secret.get("data") or {}).items() if k not in names}
    if data != (secret.get("data") or {}):
        cluster.client.replace(path, {**secret, "data": data})


def _ensure_namespace(cluster: Cluster) -> None:
    from kbmc.clients import resource_path

    if cluster.client.get_or_none(resource_path("v1", "namespaces", name=NAMESPACE)) is None:
        cluster.client.create(resource_path("v1", "namespaces"),
                              {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})


# Cilium chart values the stand-in models (install/kubernetes/cilium/values.yaml).
MODELLED_VALUES = {"cluster.name", "cluster.id", "ipam.operator.clusterPoolIPv4PodCIDRList",
                   "clustermesh.maxConnectedClusters"}


def _sets(flags: dict[str, list[str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in flags.get("--set", []):
        for item in _split_set(raw):
            key, _, value = item.partition("=")
            values[key] = value
    return values


def _mesh_identity(cluster: Cluster) -> str:
    config = cluster.config()
    if config is None:
        raise Failed(f'unable to retrieve ConfigMap "{CONFIG}": configmaps "{CONFIG}" not found')
    if not cluster.mesh_enabled():
        raise Failed(f'unable to get clustermesh service "{MESH_SERVICE}": services "{MESH_SERVICE}" not found')
    name, cid = config.get("cluster-name", "default"), config.get("cluster-id", "0")
    if name == "default" or cid == "0":
        raise Failed(f"remote cluster has non-unique name ({name}) and/or ID ({cid})")
    return name


def run_cilium(command: tuple[str, ...], flags: dict[str, list[str]]) -> str:
    version, version_tuple = cilium_version()
    if command == ("version",):
        lines = [f"cilium-cli: {version} compiled with go1.23.4 on linux/amd64",
                 "cilium image (default): v1.16.5", "cilium image (stable): v1.16.5"]
        if "--client" not in flags:
            lines.append("cilium image (running): unknown. Unable to obtain cilium version. Reason: release: not found")
        return "\n".join(lines) + "\n"
    if command == ("clustermesh", "disconnect") and version_tuple < MULTI_DESTINATION_SINCE \
            and "--connection-mode" in flags:
        raise Failed("unknown flag: --connection-mode")  # a flag-parse error: before anything else
    if not os.environ.get("KBMC_STANDIN_CLUSTERS"):
        return ""
    context = (flags.get("--context") or [None])[-1]
    if context is None:
        raise Failed("the stand-in needs --context: kbmc must never rely on the current context")
    kubeconfig = (flags.get("--kubeconfig") or [os.environ.get("KUBECONFIG")])[-1]
    cluster = Cluster(context, kubeconfig)
    if command == ("install",):
        if cluster.config() is not None:
            raise Failed("cannot re-use a name that is still in use")
        sets = _sets(flags)
        # Helm ignores a value key the chart does not read, so a misspelt key installs silently with the
        # chart's default. The stand-in models only these chart values and refuses any other key, so a test
        # catches a key the real chart would not read.
        unknown = sorted(set(sets) - MODELLED_VALUES)
        if unknown:
            raise Failed(f"the stand-in models no Helm value {', '.join(unknown)} "
                         f"(the Cilium chart's keys it knows: {', '.join(sorted(MODELLED_VALUES))})")
        data = {"cluster-name": sets.get("cluster.name", "default"), "cluster-id": sets.get("cluster.id", "0"),
                "cluster-pool-ipv4-cidr": sets.get("ipam.operator.clusterPoolIPv4PodCIDRList", "10.0.0.0/8"),
                "ipam": "cluster-pool"}
        if "clustermesh.maxConnectedClusters" in sets:
            data["max-connected-clusters"] = sets["clustermesh.maxConnectedClusters"]
        _ensure_namespace(cluster)
        cluster.client.create(cluster.path("configmaps"), {"apiVersion": "v1", "kind": "ConfigMap",
                                                            "metadata": {"name": CONFIG, "namespace": NAMESPACE},
                                                            "data": data})
        return "🔮 Auto-detected Kubernetes kind: unknown\n✅ Cilium was successfully installed!\n"
    if command == ("clustermesh", "enable"):
        if cluster.config() is None:
            raise Failed(f'Unable to enable ClusterMesh: configmaps "{CONFIG}" not found')
        service_type = (flags.get("--service-type") or ["NodePort"])[-1]
        if service_type not in ("LoadBalancer", "NodePort", "ClusterIP"):
            raise Failed(f'Unable to enable ClusterMesh: unknown service type "{service_type}"')
        if not cluster.mesh_enabled():
            cluster.client.create(cluster.path("services"), {
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": MESH_SERVICE, "namespace": NAMESPACE},
                "spec": {"type": service_type, "selector": {"k8s-app": MESH_SERVICE},
                         "ports": [{"port": 2379, "targetPort": 2379, "protocol": "TCP"}]}})
        return "✅ ClusterMesh enabled!\n"
    if command == ("clustermesh", "status"):
        if not cluster.mesh_enabled():
            raise Failed(f'Unable to determine status: deployments.apps "{MESH_SERVICE}" not found')
        peers = cluster.peers()
        config = cluster.config() or {}
        # cilium-cli's clustermesh.Status (one agent here); zero values are omitted as its omitempty tags do.
        connectivity: dict[str, Any] = {"clusters": {p: {"configured": 1, "connected": 1} for p in peers},
                                        "total": 1}
        if peers:
            connectivity["connected"] = {"min": len(peers), "avg": float(len(peers)), "max": len(peers)}
        status = {"access_information": {"ServiceIPs": ["192.0.2.1"], "ServicePort": 32379,
                                         "ClusterID": config.get("cluster-id"),
                                         "ClusterName": config.get("cluster-name")},
                  "connectivity": connectivity, "kvstoremesh": {"enabled": False}}
        if (flags.get("-o") or flags.get("--output") or ["summary"])[-1] == "json":
            return json.dumps(status, indent=2) + "\n"
        return f"✅ All 1 nodes are connected to all clusters [min:{len(peers)} / avg:{len(peers)} / max:{len(peers)}]\n"
    if command == ("clustermesh", "disconnect"):
        destinations = flags.get("--destination-context") or []
        if version_tuple < MULTI_DESTINATION_SINCE:
            names = destinations[-1:]  # a plain string flag then: the last one wins
        else:
            names = [n for value in destinations for n in value.split(",") if n]
        if not names:
            raise Failed("no destination context specified, use --destination-context to specify which cluster "
                         "to disconnect from")
        mode = (flags.get("--connection-mode") or ["bidirectional"])[-1]
        if mode not in ("unicast", "bidirectional", "mesh"):
            raise Failed(f"invalid connection mode {mode!r}")
        involved = {context: cluster, **{n: Cluster(n, kubeconfig) for n in names}}
        identity = {ctx: _mesh_identity(c) for ctx, c in involved.items()}
        if mode == "mesh":
            for ctx, c in involved.items():
                _remove_peers(c, [identity[o] for o in involved if o != ctx])
        else:
            _remove_peers(cluster, [identity[n] for n in names])
            if mode == "bidirectional":
                for n in names:
                    _remove_peers(involved[n], [identity[context]])
        return "✅ Disconnected cluster(s)\n"
    if command == ("clustermesh", "connect"):
        destinations = flags.get("--destination-context") or []
        if version_tuple < MULTI_DESTINATION_SINCE:
            for flag in _NEW_CONNECT_FLAGS:
                if flag in flags:
                    raise Failed(f"unknown flag: {flag}")
            if len(destinations) != 1:
                raise Failed('"--destination-context" given more than once')
            names = destinations
        else:
            names = [n for value in destinations for n in value.split(",") if n]
        if not names:
            raise Failed("--destination-context is required")
        mode = (flags.get("--connection-mode") or ["bidirectional"])[-1]
        if mode not in ("unicast", "bidirectional", "mesh"):
            raise Failed(f"invalid connection mode {mode!r}")
        involved = {context: cluster, **{n: Cluster(n, kubeconfig) for n in names}}
        _connect_delay(mode, len(involved), flags)
        identity = {ctx: _mesh_identity(c) for ctx, c in involved.items()}
        if mode == "mesh":
            for ctx, c in involved.items():
                c.add_peers([identity[o] for o in involved if o != ctx])
        else:
            cluster.add_peers([identity[n] for n in names])
            if mode == "bidirectional":
                for n in names:
                    involved[n].add_peers([identity[context]])
        return "✅ Connected cluster(s)\n"
    return ""


def _connect_delay(mode: str, clusters: int, flags: dict[str, list[str]]) -> None:
    """KBMC_STANDIN_CONNECT_SECONDS: how long one cluster-to-cluster connection takes (for benchmarks).

    One call makes (clusters - 1) connections, or every pair among them in mesh mode, `--parallel` at a time
    (1 when not given, as for an old cilium-cli that connects one destination per call).
    """
    seconds = float(os.environ.get("KBMC_STANDIN_CONNECT_SECONDS") or 0)
    if seconds <= 0:
        return
    connections = clusters * (clusters - 1) // 2 if mode == "mesh" else clusters - 1
    parallel = max(1, int((flags.get("--parallel") or ["1"])[-1]))
    time.sleep(seconds * -(-connections // parallel))


def main(tool: str, argv: list[str]) -> int:
    started = time.time()
    command: tuple[str, ...] = ()
    flags: dict[str, list[str]] = {}
    positional: list[str] = []
    context_flag = SPECS[tool][3]
    code, out, err = 0, "", ""
    try:
        command, flags, positional = _parse(tool, argv)
        context = (flags.get(context_flag) or [None])[-1]
        injected = _injected_failure(tool, command, context)
        if injected:
            code, err = injected
        elif tool == "cilium":
            out = run_cilium(command, flags)
        elif command == ("version",):
            out = f"{tool} stand-in (kbmc tests)\n"
    except Failed as exc:
        code, err = exc.code, f"Error: {exc}"
    except Exception as exc:  # noqa: BLE001 - a stand-in bug must show, not pass silently
        code, err = 3, f"stand-in error: {type(exc).__name__}: {exc}"
    if command:
        values_files = {path: open(path).read() for name in ("-f", "--values") for path in flags.get(name, [])}
        record: dict[str, Any] = {"tool": tool, "argv": argv, "command": list(command), "flags": flags,
                                  "args": positional, "context": (flags.get(context_flag) or [None])[-1],
                                  "valuesFiles": values_files, "started": started, "ended": time.time(),
                                  "exit": code}
        log = os.environ.get("KBMC_STANDIN_LOG")
        if log:
            with open(log, "a") as fh:
                fh.write(json.dumps(record) + "\n")
    if out:
        sys.stdout.write(out)
    if err:
        print(err, file=sys.stderr)
    return code
