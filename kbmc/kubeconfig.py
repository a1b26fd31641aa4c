"""Reading, merging and reducing kubeconfig files, the way kubectl does.

kubectl's rules (client-go clientcmd): `--kubeconfig` names one file; otherwise
`KUBECONFIG` lists files (separated by os.pathsep) merged so that the first file
to define a cluster, user or context by name wins, and the first file that sets
`current-context` wins; otherwise `~/.kube/config`. Relative file references in
a kubeconfig are resolved against the directory of the file that holds them.
"""

from __future__ import annotations

import base64
import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbmc.errors import InputError

# kubeconfig fields that name a file, and the inline field each becomes when flattened.
_FILE_FIELDS = {
    "cluster": {"certificate-authority": "certificate-authority-data"},
    "user": {"client-certificate": "client-certificate-data", "client-key": "client-key-data"},
}
_TOKEN_FILE = "tokenFile"
# Fields whose values are credentials: never printed.
SECRET_FIELDS = frozenset(
    {"client-key-data", "client-certificate-data", "token", "password", "tokenFile", "client-key"}
)


@dataclass
class ContextEntry:
    name: str
    cluster_name: str
    user_name: str
    namespace: str | None
    cluster: dict[str, Any]
    user: dict[str, Any]
    # The file each part came from, for error messages and relative paths.
    source: str = ""

    @property
    def server(self) -> str:
        return str(self.cluster.get("server", ""))


@dataclass
class KubeConfig:
    """A merged kubeconfig: named clusters, users and contexts with their source files."""

    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)
    current_context: str | None = None
    sources: list[str] = field(default_factory=list)
    # name -> file that defined it (first wins)
    origin: dict[str, str] = field(default_factory=dict)

    @property
    def context_names(self) -> list[str]:
        return list(self.contexts)

    def context(self, name: str) -> ContextEntry:
        if name not in self.contexts:
            known = ", ".join(self.contexts) or "none"
            raise InputError(
                f"context {name!r} is not in the kubeconfig ({self.describe_sources()}); known contexts: {known}",
                hint="check --context/--data-planes or KUBECONFIG",
            )
        ctx = self.contexts[name]
        cluster_name = ctx.get("cluster", "")
        user_name = ctx.get("user", "")
        if cluster_name not in self.clusters:
            raise InputError(f"context {name!r} refers to cluster {cluster_name!r}, which the kubeconfig does not define")
        if user_name and user_name not in self.users:
            raise InputError(f"context {name!r} refers to user {user_name!r}, which the kubeconfig does not define")
        return ContextEntry(
            name=name,
            cluster_name=cluster_name,
            user_name=user_name,
            namespace=ctx.get("namespace"),
            cluster=self.clusters[cluster_name],
            user=self.users.get(user_name, {}),
            source=self.origin.get(f"context/{name}", ""),
        )

    def describe_sources(self) -> str:
        return ", ".join(self.sources) if self.sources else "no file"

    def minimal(
        self,
        contexts: list[str],
        *,
        inline: bool = True,
        server_overrides: dict[str, str] | None = None,
        current_context: str | None = None,
    ) -> dict[str, Any]:
        """A self-contained kubeconfig holding only `contexts` and what they use.

        With `inline`, file references are read and embedded as data, so the result
        works where the files do not exist (inside a pod, on another machine).
        """
        overrides = server_overrides or {}
        clusters: dict[str, Any] = {}
        users: dict[str, Any] = {}
        ctx_list = []
        for name in contexts:
            entry = self.context(name)
            cluster = copy.deepcopy(entry.cluster)
            user = copy.deepcopy(entry.user)
            if name in overrides:
                cluster["server"] = overrides[name]
            if inline:
                cluster = _inline_files(cluster, "cluster", name)
                user = _inline_files(user, "user", name)
            # A rewritten server gets its own cluster entry, so two contexts sharing
            # one cluster name but different overrides cannot clash.
            cluster_key = entry.cluster_name if name not in overrides else f"{entry.cluster_name}-{name}"
            if cluster_key in clusters and clusters[cluster_key] != cluster:
                raise InputError(f"contexts disagree about cluster {cluster_key!r}; give them distinct clusters")
            clusters[cluster_key] = cluster
            if entry.user_name:
                users[entry.user_name] = user
            ctx_body: dict[str, Any] = {"cluster": cluster_key}
            if entry.user_name:
                ctx_body["user"] = entry.user_name
            if entry.namespace:
                ctx_body["namespace"] = entry.namespace
            ctx_list.append({"name": name, "context": ctx_body})
        doc: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": n, "cluster": c} for n, c in sorted(clusters.items())],
            "users": [{"name": n, "user": u} for n, u in sorted(users.items())],
            "contexts": ctx_list,
            "preferences": {},
        }
        doc["current-context"] = current_context if current_context is not None else (contexts[0] if contexts else "")
        return doc


def _inline_files(section: dict[str, Any], kind: str, context: str) -> dict[str, Any]:
    out = dict(section)
    for file_key, data_key in _FILE_FIELDS[kind].items():
        path = out.pop(file_key, None)
        if path and not out.get(data_key):
            out[data_key] = base64.b64encode(_read_referenced(path, context, file_key)).decode()
    if kind == "user" and out.get(_TOKEN_FILE) and not out.get("token"):
        out["token"] = _read_referenced(out.pop(_TOKEN_FILE), context, _TOKEN_FILE).decode().strip()
    return out


def _read_referenced(path: str, context: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(
            f"context {context!r}: cannot read {what} file {path}: {exc.strerror or exc}",
            hint="fix the path or embed the data (kubectl config view --flatten)",
        ) from None


def default_paths(explicit: str | None, env: Mapping[str, str] | None = None) -> list[str]:
    """The kubeconfig files kubectl would read, in precedence order."""
    if explicit:
        return [explicit]
    listed = (os.environ if env is None else env).get("KUBECONFIG", "")
    if listed:
        # kubectl drops empty entries and duplicates, keeping the first.
        seen: list[str] = []
        for part in listed.split(os.pathsep):
            if part and part not in seen:
                seen.append(part)
        return seen
    return [str(Path.home() / ".kube" / "config")]


def load(explicit: str | None = None, env: Mapping[str, str] | None = None) -> KubeConfig:
    """Load and merge the kubeconfig files kubectl would use."""
    paths = default_paths(explicit, env)
    merged = KubeConfig()
    for path in paths:
        p = Path(path)
        if not p.exists():
            # kubectl ignores missing KUBECONFIG entries but not a missing --kubeconfig.
            if explicit:
                raise InputError(f"kubeconfig {path} does not exist", hint="check --kubeconfig")
            continue
        doc = _read_doc(p)
        merged.sources.append(str(p))
        _merge(merged, doc, p)
    return merged


def from_dict(doc: dict[str, Any], source: str = "<memory>") -> KubeConfig:
    merged = KubeConfig(sources=[source])
    _merge(merged, doc, None)
    return merged


def _read_doc(path: Path) -> dict[str, Any]:
    from kbmc.yamlio import YamlError, load_yaml  # YAML costs start-up time: only when a file is read

    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    try:
        doc = load_yaml(text, str(path))
    except YamlError as exc:
        raise InputError(f"kubeconfig {exc}", hint="is it a kubeconfig file?") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError(f"kubeconfig {path}: expected a mapping at the top level, got {type(doc).__name__}")
    return doc


def _merge(merged: KubeConfig, doc: dict[str, Any], path: Path | None) -> None:
    base = path.parent if path else None
    for list_key, inner_key, target in (
        ("clusters", "cluster", merged.clusters),
        ("users", "user", merged.users),
        ("contexts", "context", merged.contexts),
    ):
        items = doc.get(list_key) or []
        if not isinstance(items, list):
            raise InputError(f"kubeconfig {path}: {list_key} must be a list")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise InputError(f"kubeconfig {path}: {list_key}[{i}] has no name")
            name = item["name"]
            if name in target:
                continue  # first file wins
            body = item.get(inner_key) or {}
            if not isinstance(body, dict):
                raise InputError(f"kubeconfig {path}: {list_key}[{i}].{inner_key} must be a mapping")
            target[name] = _absolutize(body, inner_key, base)
            merged.origin[f"{inner_key}/{name}"] = str(path) if path else ""
    current = doc.get("current-context")
    if current and merged.current_context is None:
        merged.current_context = str(current)


def _absolutize(body: dict[str, Any], kind: str, base: Path | None) -> dict[str, Any]:
    body = dict(body)
    if base is None or kind == "context":
        return body
    keys = list(_FILE_FIELDS[kind]) + ([_TOKEN_FILE] if kind == "user" else [])
    for key in keys:
        value = body.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            body[key] = str(base / value)
    return body


# ---- fitness for use from inside a pod -------------------------------------------------


def is_loopback_server(server: str) -> bool:
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(server).hostname or ""
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def in_pod_problems(entry: ContextEntry, *, allow_loopback: bool, server_override: str | None) -> list[str]:
    """Why a context's credentials cannot work from inside a pod in another cluster."""
    problems = []
    server = server_override or entry.server
    if not server:
        problems.append(f"context {entry.name!r}: cluster {entry.cluster_name!r} has no server")
    elif not allow_loopback and is_loopback_server(server):
        problems.append(
            f"context {entry.name!r}: server {server} is a loopback address, unreachable from a pod in the "
            f"control plane; pass --server {entry.name}=https://<address reachable from the control plane> "
            f"(for kind: kind get kubeconfig --internal), or --allow-loopback if it really works"
        )
    if "exec" in entry.user:
        command = (entry.user.get("exec") or {}).get("command", "?")
        problems.append(
            f"context {entry.name!r}: user {entry.user_name!r} authenticates with exec plugin {command!r}, "
            f"which does not exist in the operator's pod; use a service-account token or client certificate"
        )
    if "auth-provider" in entry.user:
        provider = (entry.user.get("auth-provider") or {}).get("name", "?")
        problems.append(
            f"context {entry.name!r}: user {entry.user_name!r} uses auth-provider {provider!r}, which cannot "
            f"refresh inside the operator's pod; use a service-account token or client certificate"
        )
    if not entry.user:
        problems.append(f"context {entry.name!r}: has no user credentials")
    return problems


def redact(doc: Any) -> Any:
    """A copy of a kubeconfig (or any mapping) with every credential replaced."""
    if isinstance(doc, dict):
        return {k: ("REDACTED" if k in SECRET_FIELDS and v else redact(v)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [redact(v) for v in doc]
    return doc
