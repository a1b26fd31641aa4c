"""One Kubernetes client per context, built explicitly from a kubeconfig.

Nothing here touches the official client's global configuration
(`load_kube_config()`): each context gets its own `Configuration` and
`ApiClient`, so several clusters can be driven at once from one process.

`KubeClient` is a thin JSON-over-REST layer on top of the official client's
transport (TLS, auth, token refresh): kbmc handles manifests as plain dicts,
typed and custom resources alike.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kbmc.errors import InputError, OperationError
from kbmc.kubeconfig import KubeConfig

if TYPE_CHECKING:  # importing the official client costs ~0.3 s: only when a cluster is used
    from kubernetes.client import ApiClient

# (connect, read) seconds for one request: a dead cluster must not hang a command.
REQUEST_TIMEOUT = (5.0, 30.0)

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # server-side apply; a JSON body is valid YAML
FIELD_MANAGER = "kbmc"


class ApiError(OperationError):
    """The API server answered with an error status (or could not be reached: status 0)."""

    def __init__(self, context: str, method: str, path: str, status: int, reason: str, body: dict[str, Any]):
        self.context = context
        self.status = status
        self.reason = reason
        self.body = body
        message = body.get("message") if isinstance(body, dict) else None
        if status == 0:
            text = f"{context}: {method} {path}: {transport_category(reason)}: {reason}"
        elif status == 401:
            text = f"{context}: {method} {path}: not authenticated: the server rejected the credentials (401)"
        elif self.field_conflicts:
            # The server's message lists the fields one per line; one line here.
            text = f"{context}: {method} {path}: {self.conflict_summary}"
        else:
            text = f"{context}: {method} {path}: {status} {reason}" + (f": {message}" if message else "")
        super().__init__(text)

    @property
    def field_conflicts(self) -> dict[str, list[str]]:
        """A server-side apply conflict: the fields another field manager owns, by manager (empty otherwise)."""
        if self.status != 409 or not isinstance(self.body, dict):
            return {}
        found: dict[str, list[str]] = {}
        for cause in (self.body.get("details") or {}).get("causes") or []:
            if not isinstance(cause, dict) or cause.get("reason") != "FieldManagerConflict":
                continue
            # apiserver's fieldmanager: message `conflict with "<manager>" [using <apiVersion>]`, field `.spec.x`
            m = re.search(r'conflict with "((?:[^"\\]|\\.)*)"', str(cause.get("message") or ""))
            found.setdefault(m.group(1) if m else "another field manager", []).append(str(cause.get("field") or "?"))
        return found

    @property
    def conflict_summary(self) -> str:
        """`apply conflict: .spec.type, .spec.ports owned by field manager "kubectl-edit"` (one line)."""
        owners = "; ".join(f"{', '.join(fields)} owned by field manager \"{manager}\""
                           for manager, fields in self.field_conflicts.items())
        return f"apply conflict: {owners}"

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def unreachable(self) -> bool:
        return self.status == 0

    @property
    def unauthenticated(self) -> bool:
        return self.status == 401

    @property
    def summary(self) -> str:
        """What went wrong, in words, for a result row."""
        if self.unreachable:
            return f"{transport_category(self.reason)}: {self.reason}"
        if self.unauthenticated:
            return "not authenticated: the server rejected the credentials (401 Unauthorized)"
        message = self.body.get("message") if isinstance(self.body, dict) else None
        if self.status == 403 and 'User "system:anonymous"' in str(message):
            return ("not authenticated: the server took the request as anonymous (system:anonymous); "
                    "it does not accept these credentials")
        if self.field_conflicts:
            return self.conflict_summary
        # The server's words, once; the row already names the context, and the URL is kbmc's business.
        what = (self.reason or _status_phrase(self.status)).lower()
        return f"{what} ({self.status}): {message}" if message else f"{what} ({self.status})"


def _status_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


@dataclass
class KubeClient:
    """JSON requests against one context's API server."""

    context: str
    api: ApiClient
    # (header, value) pairs sent with every request: the kubeconfig user's `as`, `as-groups`,
    # `as-uid`, `as-user-extra`, as client-go sends them (the official Python client ignores them).
    impersonation: tuple[tuple[str, str], ...] = ()
    # The cluster skips TLS verification (insecure-skip-tls-verify): said once, in results.
    insecure: bool = False
    # (connect, read) seconds for each request unless a call says otherwise (--request-timeout).
    timeout: tuple[float, float] | float = REQUEST_TIMEOUT
    # Which cluster this is (kbmc.identity.cluster_id), once read.
    cluster_uid: str | None = None

    @property
    def server(self) -> str:
        return str(self.api.configuration.host)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: tuple[float, float] | float | None = None,
    ) -> Any:
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            method_, url, headers, body_, _ = self.api.param_serialize(
                method, path, query_params=params, header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            if self.impersonation:
                from urllib3 import HTTPHeaderDict

                multi = HTTPHeaderDict(headers)
                for name, value in self.impersonation:
                    multi.add(name, value)  # Impersonate-Group may repeat
                send: Any = multi
            else:
                send = headers
            response = self.api.call_api(method_, url, header_params=send, body=body_, _request_timeout=timeout or self.timeout)
            response.read()
        except Exception as exc:  # noqa: BLE001 - transport errors come in many types
            raise ApiError(self.context, method, path, 0, _short(exc), {}) from None
        raw = response.data or b""
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {"message": raw[:200].decode(errors="replace")}
        if not 200 <= response.status < 300:
            raise ApiError(self.context, method, path, response.status, response.reason or "", data)
        return data

    # -- conveniences over request(); `path` is an object or collection URL --------------------

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def get_or_none(self, path: str) -> Any:
        try:
            return self.get(path)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    def create(self, path: str, body: Any, *, dry_run: bool = False) -> Any:
        query = {"dryRun": "All" if dry_run else None, "fieldValidation": "Strict"}
        return self.request("POST", path, body=body, query=query)

    def replace(self, path: str, body: Any, *, dry_run: bool = False) -> Any:
        query = {"dryRun": "All" if dry_run else None, "fieldValidation": "Strict"}
        return self.request("PUT", path, body=body, query=query)

    def patch(self, path: str, body: Any, *, content_type: str = MERGE_PATCH, dry_run: bool = False) -> Any:
        return self.request("PATCH", path, body=body, content_type=content_type, query={"dryRun": "All" if dry_run else None})

    def apply(self, path: str, body: Any, *, field_manager: str = FIELD_MANAGER, force: bool = False,
              dry_run: bool = False) -> Any:
        """Server-side apply of one object at its own URL: created when missing, else merged field by field."""
        query = {"fieldManager": field_manager, "force": "true" if force else None,
                 "dryRun": "All" if dry_run else None, "fieldValidation": "Strict"}
        return self.request("PATCH", path, body=body, content_type=APPLY_PATCH, query=query)

    def delete(self, path: str, *, missing_ok: bool = True, propagation: str | None = "Background") -> Any:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation} if propagation else None
        try:
            return self.request("DELETE", path, body=body)
        except ApiError as exc:
            if missing_ok and exc.not_found:
                return None
            raise

    def version(self) -> dict[str, Any]:
        return dict(self.get("/version"))


def transport_category(reason: str) -> str:
    """What a request that got no HTTP answer failed on: the credentials, TLS, or the network."""
    low = reason.lower()
    if "codec can't encode" in low or "invalid header" in low:  # e.g. a token with non-Latin-1 characters
        return "invalid credentials (cannot be sent in an HTTP header)"
    if any(word in low for word in ("ssl", "tls", "x509", "certificate", "key_values_mismatch", "pem")):
        return "TLS error"
    return "unreachable"


def _short(exc: BaseException) -> str:
    """One readable line for a transport error (credentials are removed where it is printed)."""
    import re

    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    # urllib3 wraps the real cause deep inside; its last clause is the useful one.
    if "Caused by" in text:
        text = text.split("Caused by", 1)[1]
    text = re.sub(r"<[^<>]*>:?\s*", "", text)  # object reprs: <urllib3.connection.HTTPSConnection object at 0x..>
    text = re.sub(r"\b[A-Z]\w*(Error|Exception|Warning)\(['\"]?", "", text)  # NewConnectionError('...
    kept: list[str] = []
    depth = 0
    for ch in text:  # drop every parenthesis left unbalanced by the unwrapping
        if ch == ")":
            if depth == 0:
                continue
            depth -= 1
        elif ch == "(":
            depth += 1
        kept.append(ch)
    text = "".join(kept)
    while depth:
        i = text.rfind("(")
        text = text[:i] + text[i + 1:]
        depth -= 1
    text = " ".join(text.split()).strip(" '\":,")
    return text[:200] or type(exc).__name__


class _LoaderLog:
    """Collects what the official client's config loader logs in this thread (and keeps it off stderr)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __enter__(self) -> _LoaderLog:
        import logging

        thread = threading.get_ident()
        messages = self.messages

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.thread == thread:
                    messages.append(record.getMessage())

        self._handler = Handler(logging.WARNING)
        # A root logger with a handler also keeps `logging.error()` from installing its own stderr handler.
        logging.getLogger().addHandler(self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        import logging

        logging.getLogger().removeHandler(self._handler)


def _exec_failure(command: str, messages: list[str]) -> str:
    """Why an exec credential plugin gave no credentials, from the loader's log: its exit code and last words."""
    import re

    from kbmc import redact

    for message in reversed(messages):
        text = message.strip()
        m = re.match(r"exec: process returned (-?\d+)\.?\s*(.*)", text, re.S)
        if m:
            lines = [x.strip() for x in m.group(2).splitlines() if x.strip()]
            said = f": {lines[-1]}" if lines else ""
            return redact.text(f"exec plugin {command} failed with exit code {m.group(1)}{said}")
        if text.startswith("exec:"):
            return redact.text(f"exec plugin {command} failed: {text[len('exec:'):].strip()}")
        if "No such file or directory" in text or "Permission denied" in text:
            return f"exec plugin {command} cannot be run: {text.splitlines()[0]} (is it installed and on PATH?)"
    return f"exec plugin {command} gave no token or client certificate"


def impersonation_headers(user: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The Impersonate-* headers client-go sends for a kubeconfig user's `as*` fields."""
    name = user.get("as")
    if not name:
        return ()
    headers = [("Impersonate-User", str(name))]
    if user.get("as-uid"):
        headers.append(("Impersonate-Uid", str(user["as-uid"])))
    headers += [("Impersonate-Group", str(g)) for g in user.get("as-groups") or []]
    for key, values in (user.get("as-user-extra") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((f"Impersonate-Extra-{quote(str(key), safe='')}", str(value)))
    return tuple(headers)


def resource_path(api_version: str, plural: str, namespace: str | None = None, name: str | None = None) -> str:
    """The REST path of a collection or an object: ('v1','secrets','ns','x') -> /api/v1/namespaces/ns/secrets/x."""
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    parts = [prefix]
    if namespace:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    parts.append(plural)
    if name:
        parts.append(quote(name, safe=""))
    return "/".join(parts)


class ClientRegistry:
    """Builds and caches one `KubeClient` per context of one kubeconfig."""

    def __init__(self, kubeconfig: KubeConfig, *, retries: int = 0, request_timeout: float | None = None) -> None:
        self._kubeconfig = kubeconfig
        self._retries = retries
        # One request may take this long before its cluster counts as unreachable (connect at most 5 s).
        self._timeout: tuple[float, float] = (
            (min(REQUEST_TIMEOUT[0], request_timeout), request_timeout) if request_timeout else REQUEST_TIMEOUT)
        self._clients: dict[str, KubeClient] = {}
        self._failed: dict[str, OperationError] = {}
        self._lock = threading.Lock()

    @property
    def kubeconfig(self) -> KubeConfig:
        return self._kubeconfig

    def for_context(self, context: str) -> KubeClient:
        with self._lock:
            if context in self._failed:  # said once: a failing credential plugin is not run again and again
                raise self._failed[context]
            if context not in self._clients:
                try:
                    api, impersonation, insecure = self._build(context)
                except OperationError as exc:
                    self._failed[context] = exc
                    raise
                self._clients[context] = KubeClient(context, api, impersonation, insecure, self._timeout)
            return self._clients[context]

    def _build(self, context: str) -> tuple[ApiClient, tuple[tuple[str, str], ...], bool]:
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config

        entry = self._kubeconfig.context(context)  # a clear error for an unknown or invalid context
        # Inlined and resolved as client-go does: tokenFile over token, trimmed; scheme-less servers completed.
        doc = self._kubeconfig.minimal([context], inline=True, current_context=context)
        configuration = k8s_client.Configuration()
        # The loader runs an exec credential plugin itself and, when the plugin fails, only logs the failure
        # (`ERROR:root:exec: process returned 1...`) and goes on without credentials: every request would then
        # be anonymous. Its log records are taken here, and such a client is never handed out.
        with _LoaderLog() as log:
            try:
                k8s_config.load_kube_config_from_dict(
                    doc, context=context, client_configuration=configuration, persist_config=False
                )
            except Exception as exc:  # noqa: BLE001 - the loader raises assorted types
                raise InputError(f"context {context!r}: cannot load credentials: {_short(exc)}") from None
        exec_ = entry.user.get("exec")
        if isinstance(exec_, dict) and not configuration.api_key.get("BearerToken") and not configuration.cert_file:
            raise OperationError(f"context {context!r}: getting credentials: "
                                 f"{_exec_failure(str(exec_.get('command', '?')), log.messages)}")
        configuration.retries = self._retries
        if not configuration.verify_ssl:
            # urllib3 warns on every request (dozens per check); kbmc says it once, in the result.
            import warnings

            from urllib3.exceptions import InsecureRequestWarning

            warnings.filterwarnings("ignore", category=InsecureRequestWarning)
        if str(configuration.proxy or "").lower().startswith("socks"):
            try:
                import socks  # noqa: F401 - urllib3's SOCKS support needs PySocks
            except ImportError:
                raise InputError(f"context {context!r}: proxy-url {configuration.proxy} is a SOCKS proxy, which "
                                 "needs the PySocks package", hint="pip install PySocks") from None
        return k8s_client.ApiClient(configuration), impersonation_headers(entry.user), not configuration.verify_ssl

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.api.close()
            self._clients.clear()
