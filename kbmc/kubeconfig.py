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

from kbmc import redact
from kbmc.errors import InputError

# kubeconfig fields that name a file, and the inline field each becomes when flattened.
_FILE_FIELDS = {
    "cluster": {"certificate-authority": "certificate-authority-data"},
    "user": {"client-certificate": "client-certificate-data", "client-key": "client-key-data"},
}
_TOKEN_FILE = "tokenFile"
# Fields whose values are credentials: kbmc.redact.SECRET_KEYS (never printed).


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
        problems = kubectl_problems(cluster_name, self.clusters[cluster_name], user_name,
                                    self.users.get(user_name, {}), ctx.get("namespace"))
        if problems:
            raise InputError(f"context {name!r}: invalid configuration (kubectl refuses it too): {'; '.join(problems)}",
                             hint="fix the kubeconfig entry")
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
            if cluster.get("server"):
                try:
                    cluster["server"] = server_url(cluster)
                except ValueError as exc:
                    raise InputError(f"context {name!r}: {exc}") from None
            user = resolve_token(user, name)
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
            if kind == "user":  # a CA is public; client certificates and keys are not shown
                redact.register(out[data_key])
    return out


def resolve_token(user: dict[str, Any], context: str) -> dict[str, Any]:
    """The user with its bearer token as client-go sends it.

    client-go: a `tokenFile` wins over an inline `token` (the file is re-read and
    used for every request), and the file's content is whitespace-trimmed
    (strings.TrimSpace). An inline token is sent as written (kubectl_problems refuses
    one with a newline, as kubectl fails on it). The result holds no file reference,
    so it works where the file does not exist.
    """
    out = dict(user)
    token_file = out.pop(_TOKEN_FILE, None)
    if token_file:
        raw = _read_referenced(token_file, context, _TOKEN_FILE)
        try:
            token = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise InputError(f"context {context!r}: tokenFile {token_file} is not UTF-8 text "
                             f"(byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                             hint="a token is ASCII; rewrite the file") from None
        if not token:
            raise InputError(f"context {context!r}: read empty token from file {token_file!r}",
                             hint="write the token into the file")
        redact.register(token)
        if any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in token):
            raise InputError(f"context {context!r}: the token in tokenFile {token_file} contains a newline or another "
                             f"control character inside it, which no HTTP header can carry (kubectl: net/http: "
                             f"invalid header field value for \"Authorization\")",
                             hint="write only the token into the file")
        out["token"] = token
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
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    try:
        text = _decode(raw)
    except UnicodeDecodeError as exc:
        raise InputError(f"kubeconfig {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                         f"{exc.start})", hint="is it a kubeconfig file? kubectl reads UTF-8 YAML, or UTF-16 with a "
                                               "byte-order mark") from None
    except ValueError as exc:
        raise InputError(f"kubeconfig {path}: {exc}", hint="save it as UTF-8") from None
    try:
        doc = load_yaml(text, str(path), duplicate_keys="last")  # kubectl: the last duplicate key wins
    except YamlError as exc:
        raise InputError(f"kubeconfig {exc}", hint="is it a kubeconfig file?") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError(f"kubeconfig {path}: expected a mapping at the top level, got {type(doc).__name__}")
    return doc


def _decode(raw: bytes) -> str:
    """The text of a kubeconfig as go-yaml reads it: UTF-8, or UTF-16 (either order) / UTF-8 with a BOM.

    UTF-32 is refused as kubectl refuses it (its BOM starts like UTF-16's, then NULs follow:
    "yaml: control characters are not allowed").
    """
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise ValueError("UTF-32 text is not read by kubectl either (yaml: control characters are not allowed)")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    return raw.decode("utf-8-sig")


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
        in_this_file: set[str] = set()
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise InputError(f"kubeconfig {path}: {list_key}[{i}] has no name")
            name = item["name"]
            if name in in_this_file:  # client-go's conversion refuses the whole file
                raise InputError(f"kubeconfig {path or '<memory>'}: duplicate name {name!r} in list {list_key} "
                                 f"(kubectl: duplicate name \"{name}\" in list)", hint="rename or remove one entry")
            in_this_file.add(name)
            body = item.get(inner_key) or {}
            if not isinstance(body, dict):
                raise InputError(f"kubeconfig {path}: {list_key}[{i}].{inner_key} must be a mapping")
            # A null field is an absent one for kubectl (`exec: null` is no exec plugin).
            body = {k: v for k, v in body.items() if v is not None}
            if inner_key == "user":
                _register_credentials(body)  # before any message could quote them
            if type_problems := _type_problems(inner_key, body):
                raise InputError(f"kubeconfig {path or '<memory>'}: {list_key}[{i}] ({name!r}): "
                                 f"{'; '.join(type_problems)} (kubectl refuses the whole file)",
                                 hint="quote the value or fix the field")
            if inner_key == "cluster":
                _register_url_credentials(body.get("server"), body.get("proxy-url"))
            if name in target:
                continue  # first file wins
            target[name] = _absolutize(body, inner_key, base)
            merged.origin[f"{inner_key}/{name}"] = str(path) if path else ""
    current = doc.get("current-context")
    if current is not None and not isinstance(current, str):
        raise InputError(f"kubeconfig {path or '<memory>'}: json: cannot unmarshal {_go_type(current)} into Go "
                         f"struct field Config.current-context of type string", hint="quote the value")
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


def _register_credentials(user: dict[str, Any]) -> None:
    """Tell the redactor every credential of a kubeconfig user, so no message can show it."""
    for key in ("token", "password", "client-key-data", "client-certificate-data"):
        redact.register(user.get(key))
    provider = user.get("auth-provider")
    if isinstance(provider, dict) and isinstance(provider.get("config"), dict):
        for key, value in provider["config"].items():
            if "token" in key or "secret" in key:
                redact.register(value)


def _register_url_credentials(*urls: Any) -> None:
    for url in urls:
        redact.register_url(url)


def kubectl_problems(cluster_name: str, cluster: dict[str, Any], user_name: str, user: dict[str, Any],
                     namespace: Any = None) -> list[str]:
    """What client-go's clientcmd validation (and its TLS transport) refuses, in kubectl's words."""
    problems: list[str] = []
    if not cluster.get("server"):
        problems.append(f"no server found for cluster {cluster_name!r}")
    else:
        try:
            server_url(cluster)
        except ValueError as exc:
            problems.append(str(exc))
    proxy = cluster.get("proxy-url")
    if proxy:
        try:
            scheme = go_parse_url(str(proxy)).scheme
        except ValueError as exc:
            problems.append(f"invalid 'proxy-url' for cluster {cluster_name!r}: could not parse ({exc})")
            scheme = None
        if scheme is not None and scheme not in ("http", "https", "socks5"):
            problems.append(f"invalid 'proxy-url' for cluster {cluster_name!r}: unsupported scheme {scheme!r}, "
                            f"must be http, https, or socks5")
    if cluster.get("certificate-authority") and cluster.get("certificate-authority-data"):
        problems.append(f"certificate-authority-data and certificate-authority are both specified for {cluster_name}")
    if cluster.get("insecure-skip-tls-verify") and (cluster.get("certificate-authority")
                                                    or cluster.get("certificate-authority-data")):
        problems.append(f"cluster {cluster_name!r}: specifying a root certificates file with the insecure flag "
                        f"is not allowed")
    token = user.get("token")
    if isinstance(token, str) and not user.get(_TOKEN_FILE) and any(ord(c) < 32 and c != "\t" or ord(c) == 127
                                                                     for c in token):
        problems.append(f"the token of user {user_name} contains a newline or another control character, which "
                        f"no HTTP header can carry (kubectl: net/http: invalid header field value for "
                        f"\"Authorization\"); remove it (a `token: |` block adds a newline) or use a tokenFile, "
                        f"which is read trimmed")
    token_file = user.get(_TOKEN_FILE)
    if isinstance(token_file, str) and token_file:
        try:
            content = Path(token_file).read_bytes().decode("utf-8", errors="replace").strip()
        except OSError:
            content = ""  # reported where the file is read
        if any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in content):
            problems.append(f"the token in tokenFile {token_file} of user {user_name} contains a newline or another "
                            f"control character inside it, which no HTTP header can carry (kubectl: net/http: "
                            f"invalid header field value for \"Authorization\"); write only the token into the file")
    methods = []
    if user.get("token") or user.get(_TOKEN_FILE):
        methods.append("token")
    if user.get("username") or user.get("password"):
        methods.append("basicAuth")
    if len(methods) > 1:
        problems.append(f"more than one authentication method found for {user_name}; found [{' '.join(methods)}], "
                        f"only one is allowed")
    has_cert = user.get("client-certificate") or user.get("client-certificate-data")
    has_key = user.get("client-key") or user.get("client-key-data")
    if has_cert:
        if user.get("client-certificate") and user.get("client-certificate-data"):
            problems.append(f"client-cert-data and client-cert are both specified for {user_name}")
        if user.get("client-key") and user.get("client-key-data"):
            problems.append(f"client-key-data and client-key are both specified for {user_name}")
        if not has_key:
            problems.append(f"client-key-data or client-key must be specified for {user_name} to use the "
                            f"clientCert authentication method")
    elif has_key:  # the TLS transport: "tls: private key without certificate" in effect
        problems.append(f"client-cert-data or client-cert must be specified for {user_name} to use the "
                        f"clientCert authentication method")
    exec_ = user.get("exec")
    if exec_ is not None:
        if user.get("auth-provider") is not None:
            problems.append(f"authProvider cannot be provided in combination with an exec plugin for {user_name}")
        if isinstance(exec_, dict):
            if not exec_.get("command"):
                problems.append(f"command must be specified for {user_name} to use exec authentication plugin")
            if not exec_.get("apiVersion"):
                problems.append(f"apiVersion must be specified for {user_name} to use exec authentication plugin")
    problems += _client_cert_problems(user_name, user)
    if (user.get("as-uid") or user.get("as-groups") or user.get("as-user-extra")) and not user.get("as"):
        problems.append(f"requesting uid, groups or user-extra for {user_name} without impersonating a user")
    if namespace:
        from kbmc.validation import dns1123_label

        if dns1123_label(str(namespace)):
            problems.append(f"namespace {brief(namespace)} does not conform to the kubernetes DNS_LABEL rules")
    return problems


def _client_cert_problems(user_name: str, user: dict[str, Any]) -> list[str]:
    """The client certificate and key as Go's tls.X509KeyPair loads them: PEM, and the key matching the cert.

    Checked with Python's ssl (load_cert_chain) on 0600 temporary files, deleted at once.
    """
    import ssl
    import tempfile

    def material(data_key: str, file_key: str) -> bytes | None:
        if isinstance(user.get(data_key), str):
            return base64.b64decode(user[data_key])
        if isinstance(user.get(file_key), str):
            try:
                return Path(user[file_key]).read_bytes()
            except OSError:
                return None  # reported where the file is read
        return None

    cert = material("client-certificate-data", "client-certificate")
    key = material("client-key-data", "client-key")
    if not cert or not key:
        return []
    if b"-----BEGIN" not in cert:
        return [f"user {user_name!r}: tls: failed to find any PEM data in certificate input"]
    if b"-----BEGIN" not in key:
        return [f"user {user_name!r}: tls: failed to find any PEM data in key input"]
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = Path(tmp, "cert"), Path(tmp, "key")
        for path, content in ((cert_path, cert), (key_path, key)):
            path.touch(mode=0o600)
            path.write_bytes(content)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert_path, key_path, password=lambda: b"")
        except ssl.SSLError as exc:
            if "KEY_VALUES_MISMATCH" in str(exc):
                return [f"user {user_name!r}: tls: private key does not match public key"]
            return [f"user {user_name!r}: tls: failed to load the client certificate and key "
                    f"({exc.reason or 'not a certificate and unencrypted key in PEM'})"]
    return []


# client-go's clientcmd/api/v1 types: what each kubeconfig field must hold (encoding/json refuses the rest).
_FIELD_TYPES: dict[str, tuple[str, dict[str, str]]] = {
    "cluster": ("Cluster.clusters.cluster", {
        "server": "string", "tls-server-name": "string", "certificate-authority": "string", "proxy-url": "string",
        "certificate-authority-data": "[]uint8", "insecure-skip-tls-verify": "bool", "disable-compression": "bool"}),
    "user": ("AuthInfo.users.user", {
        "client-certificate": "string", "client-key": "string", "token": "string", "tokenFile": "string",
        "as": "string", "as-uid": "string", "username": "string", "password": "string",
        "client-certificate-data": "[]uint8", "client-key-data": "[]uint8", "as-groups": "[]string",
        "as-user-extra": "map[string][]string"}),
    "context": ("Context.contexts.context", {"cluster": "string", "user": "string", "namespace": "string"}),
}


def _type_problems(kind: str, body: dict[str, Any]) -> list[str]:
    """What encoding/json refuses when kubectl loads the file, in its words (the whole file fails)."""
    import binascii

    where, fields = _FIELD_TYPES[kind]
    problems = []
    for key, go_type in fields.items():
        value = body.get(key)
        if value is None:
            continue
        if go_type in ("string", "[]uint8"):
            ok = isinstance(value, str)
        elif go_type == "bool":
            ok = isinstance(value, bool)
        elif go_type == "[]string":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, dict) and all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                                                 for v in value.values())
        if not ok:
            problems.append(f"json: cannot unmarshal {_go_type(value)} into Go struct field {where}.{key} of type "
                            f"{go_type}")
        elif go_type == "[]uint8":
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                bad = next((i for i, c in enumerate(value) if c not in
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="), len(value))
                problems.append(f"{key}: illegal base64 data at input byte {bad}")
    return problems


def server_url(cluster: dict[str, Any]) -> str:
    """The cluster's server as kubectl dials it.

    A value without a scheme (`localhost:6443`, `10.0.0.1:6443`) is dialled with plain
    `http://` by kubectl (checked: even with a CA and client certificates, kubectl 1.32
    sends `GET http://localhost:6443/version`), so against an HTTPS server it fails with
    "Client sent an HTTP request to an HTTPS server" - kbmc dials it the same way. The
    scheme is lower-cased, as Go's url.Parse does (`HTTPS://` works in kubectl).
    """
    raw = cluster.get("server", "")
    if not isinstance(raw, str):
        raise ValueError(f"server {brief(raw)} is not a string (kubectl: cannot unmarshal "
                         f"{_go_type(raw)} into Go struct field Cluster.clusters.cluster.server of type string)")
    return parse_server(raw).string()


def parse_server(raw: str) -> GoURL:
    """A server as client-go reads it (rest.DefaultServerURL): the ONE parse behind dialling and every check.

    url.Parse as it is; without a scheme or host (`localhost:6443`, `127.0.0.1:6443/?x=://`), again
    with `http://` in front, and then no path may follow.
    """
    try:
        url = go_parse_url(raw)
        ok = bool(url.scheme and url.host)
    except ValueError:
        ok = False
    if not ok:
        try:
            url = go_parse_url("http://" + raw)
        except ValueError as exc:
            raise ValueError(f"server {brief(raw)} is not a URL or a host:port pair: {exc}") from None
        if url.path not in ("", "/"):
            raise ValueError(f"host must be a URL or a host:port pair: {brief(raw)}")
    port = url.port
    if port and int(port) > 65535:
        raise ValueError(f"server {brief(raw)} is not a URL or a host:port pair (port {port} out of range)")
    return url


@dataclass(frozen=True)
class GoURL:
    """What Go's net/url.Parse makes of a URL (the fields kbmc needs)."""

    scheme: str
    userinfo: str | None
    host: str  # host[:port] as written, brackets included
    path: str
    query: str | None
    fragment: str | None
    opaque: str = ""

    @property
    def port(self) -> str:
        colon = self.host.rfind(":")
        if colon != -1 and _valid_optional_port(self.host[colon:]) and not self.host.endswith("]"):
            return self.host[colon + 1:]
        return ""

    @property
    def hostname(self) -> str:
        """url.URL.Hostname(): the host without port and brackets, percent-decoded."""
        from urllib.parse import unquote

        host = self.host
        colon = host.rfind(":")
        if colon != -1 and _valid_optional_port(host[colon:]):
            host = host[:colon]
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return unquote(host)

    def string(self) -> str:
        if self.opaque:
            return f"{self.scheme}:{self.opaque}"
        out = f"{self.scheme}://" if self.scheme else "//"
        if self.userinfo is not None:
            out += self.userinfo + "@"
        out += self.host + self.path
        if self.query is not None:
            out += "?" + self.query
        if self.fragment is not None:
            out += "#" + self.fragment
        return out


_USERINFO_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._:~!$&'()*+,;=%@")
_HOST_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!$&'()*+,;=:[]<>\"-_.~%")


def _valid_optional_port(port: str) -> bool:
    return port == "" or (port[0] == ":" and all(c in "0123456789" for c in port[1:]))


def go_parse_url(raw: str) -> GoURL:
    """Go's net/url.Parse, step by step (scheme, query, authority with user info up to the LAST '@').

    Raises ValueError with Go's reason; the message never quotes the URL (it may hold a password).
    """
    rest, hash_, fragment = raw.partition("#")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in rest):
        raise ValueError("net/url: invalid control character in URL")
    if not rest:
        if not raw:
            raise ValueError("empty url")
    scheme = ""
    for i, c in enumerate(rest):
        if c.isascii() and c.isalpha():
            continue
        if c.isascii() and (c.isdigit() or c in "+-."):
            if i == 0:
                break
            continue
        if c == ":":
            if i == 0:
                raise ValueError("missing protocol scheme")
            scheme, rest = rest[:i].lower(), rest[i + 1:]
        break
    query: str | None = None
    if rest.endswith("?") and rest.count("?") == 1:
        query, rest = "", rest[:-1]
    elif "?" in rest:
        rest, _, query = rest.partition("?")
    frag = fragment if hash_ else None
    if not rest.startswith("/"):
        if scheme:
            return GoURL(scheme, None, "", "", query, frag, opaque=rest)
        if ":" in rest.split("/", 1)[0]:
            raise ValueError("first path segment in URL cannot contain colon")
    userinfo: str | None = None
    host = ""
    if (scheme or not rest.startswith("///")) and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        at = authority.rfind("@")
        if at >= 0:
            userinfo = authority[:at]
            if any(c not in _USERINFO_CHARS for c in userinfo):
                raise ValueError("net/url: invalid userinfo")
        host = _go_parse_host(authority[at + 1:])
    return GoURL(scheme, userinfo, host, rest, query, frag)


def _go_parse_host(host: str) -> str:
    import json
    import re

    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            raise ValueError("missing ']' in host")
        if not _valid_optional_port(host[end + 1:]):
            raise ValueError("invalid port after host")
    elif (colon := host.rfind(":")) != -1 and not _valid_optional_port(host[colon:]):
        # Go quotes the port; not here: with a '/' in a password, what looks like the port is part of it.
        raise ValueError("invalid port after host")
    for c in host:
        if c.isascii() and c not in _HOST_CHARS:
            raise ValueError(f"invalid character {json.dumps(c)} in host name")
    if re.search(r"%(?![0-9A-Fa-f]{2})", host):
        raise ValueError("invalid URL escape in host")
    return host


def _go_type(value: Any) -> str:
    """How encoding/json names a YAML value's type in "cannot unmarshal X into ..."."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def brief(value: Any, limit: int = 60) -> str:
    """A bounded repr for messages: never the whole of a huge (or alias-expanded) value."""
    if isinstance(value, (dict, list)):
        text = f"<{type(value).__name__} of {len(value)} items>"
    else:
        text = repr(value) if len(str(value)) <= limit * 4 else repr(str(value)[:limit * 4])
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def url_host(url: str) -> str:
    """The host a server or proxy URL names: the same parse as `server_url` (so the same host is checked
    as is dialled)."""
    try:
        return parse_server(url).hostname.rstrip(".")
    except ValueError:
        return ""


def is_loopback_host(host: str) -> bool:
    """Whether `host` means "this machine" to whoever dials it: in a pod, the pod itself.

    Decided on the parsed address as Go's net package dials it: 127.0.0.0/8, ::1, the
    unspecified addresses 0.0.0.0 and :: (Go dials them as the local host), their
    IPv4-mapped IPv6 forms (::ffff:127.0.0.1), IPv6 zones (::1%lo), the short and
    numeric IPv4 forms a C resolver accepts (127.1, 2130706433), and localhost names.
    """
    import ipaddress
    import socket

    host = host.strip("[]").rstrip(".").lower()
    if not host:
        return False
    if host in ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback") or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        ip = None
    if ip is None:
        if all(c in "0123456789abcdefx." for c in host):
            try:  # inet_aton's forms: 127.1, 0x7f.1, 2130706433
                ip = ipaddress.ip_address(socket.inet_aton(host))
            except (OSError, ValueError):
                return False
        else:
            return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_loopback or ip.is_unspecified)


def is_loopback_server(server: str) -> bool:
    return is_loopback_host(url_host(server))


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
    proxy = entry.cluster.get("proxy-url")
    if proxy and not allow_loopback and is_loopback_server(str(proxy)):
        problems.append(
            f"context {entry.name!r}: proxy-url {proxy} is a loopback address: inside the operator's pod it is the "
            f"pod itself; use a proxy reachable from the control plane, or --allow-loopback if it really works"
        )
    if entry.user.get("exec") is not None:
        command = (entry.user.get("exec") or {}).get("command", "?")
        problems.append(
            f"context {entry.name!r}: user {entry.user_name!r} authenticates with exec plugin {command!r}, "
            f"which does not exist in the operator's pod; use a service-account token or client certificate"
        )
    if entry.user.get("auth-provider") is not None:
        provider = (entry.user.get("auth-provider") or {}).get("name", "?")
        problems.append(
            f"context {entry.name!r}: user {entry.user_name!r} uses auth-provider {provider!r}, which cannot "
            f"refresh inside the operator's pod; use a service-account token or client certificate"
        )
    if not entry.user:
        problems.append(f"context {entry.name!r}: has no user credentials")
    return problems


def redact_doc(doc: Any) -> Any:
    """A copy of a kubeconfig (or any mapping) with every credential replaced."""
    return redact.data(doc)
