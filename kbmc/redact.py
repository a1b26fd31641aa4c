"""The one place credentials are removed from text and data before anything is shown.

Every message, table cell, warning, traceback and data document kbmc prints goes
through `Output` (kbmc/output.py), and `Output` passes it through `text()` or
`data()` here. Two layers:

- known values: every credential kbmc reads from a kubeconfig (tokens, token files,
  passwords, client keys and certificates, URL user info) is registered when the
  kubeconfig is loaded, in every form it may appear in (as written, trimmed,
  base64-decoded, each line of a PEM body), and replaced wherever it shows up;
- patterns, for credentials kbmc never saw as such: `Authorization`/`Bearer`/`Basic`
  header values, PEM blocks, `user:password@` in URLs, `token: …`/`password=…` pairs.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import re

MASK = "REDACTED"
# Shorter values are not registered: replacing every "ab" in a message would mangle it,
# and such a short secret is not worth protecting from a log line.
_MIN_LEN = 6

_known: set[str] = set()
_known_sorted: list[str] = []
_lock = threading.Lock()


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Compiled on first use: start-up time matters, and most commands print no error."""
    import re

    return (
        # A whole PEM block (private keys and certificates alike), also when newlines were escaped in a repr.
        (re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----", re.S), f"{MASK} PEM"),
        # ... and one cut short (a truncated message): the rest of its line and the base64 lines after it.
        (re.compile(r"-----BEGIN [A-Z0-9 ]+-----[^\n]*(\n[A-Za-z0-9+/=]{16,})*"), f"{MASK} PEM"),
        # Header values: "Authorization: Bearer x", b'Bearer x\n', "Basic dXNlcjpwdw==".
        (re.compile(r"(?i)\b(bearer|basic)(\s+|%20)[^\s'\",;)}\]]+"), rf"\1 {MASK}"),
        (re.compile(r"(?i)(\b(?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)(?!bearer|basic)[^\s'\",;)}\]]+"),
         rf"\1{MASK}"),
        # user info in a URL: scheme://user:pw@host, and a scheme-less user:pw@host:port.
        (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/@\s'\"]+@"), rf"\1{MASK}@"),
        (re.compile(r"(?<![\w@/.:-])[\w.%~!$&*+-]+:[^\s/@'\"]+@(?=[\w.\[\]-]+(:\d+)?\b)"), f"{MASK}@"),
        # key/value pairs as in YAML, JSON, query strings.
        (re.compile(r"(?i)(\b(?:token|password|passwd|client-key-data|client-certificate-data|tokenFile|"
                    r"access[_-]token|id[_-]token|refresh[_-]token)['\"]?\s*[:=]\s*['\"]?)"
                    r"(?!REDACTED)[^\s'\",}\]]+"), rf"\1{MASK}"),
    )


def register(value: Any) -> None:
    """Remember a credential so it is replaced wherever it appears later."""
    if not isinstance(value, (str, bytes)):
        return
    import base64
    import binascii
    import re

    raw = value.decode(errors="replace") if isinstance(value, bytes) else value
    forms = {raw, raw.strip()}
    # Base64 data (client-key-data, a Secret's data): its decoded text and each line of a PEM body.
    compact = "".join(raw.split())
    if len(compact) >= 16 and re.fullmatch(r"[A-Za-z0-9+/=]+", compact):
        try:
            decoded = base64.b64decode(compact, validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            decoded = ""
        if decoded:
            forms.add(decoded)
            forms.add(decoded.strip())
            forms.update(line.strip() for line in decoded.splitlines())
    forms.update(line.strip() for line in raw.splitlines())
    with _lock:
        before = len(_known)
        _known.update(f for f in forms if len(f) >= _MIN_LEN and not f.startswith("-----"))
        if len(_known) != before:
            _known_sorted[:] = sorted(_known, key=len, reverse=True)  # longest first: no partial leftovers


def forget_all() -> None:
    """Drop every registered value (tests)."""
    with _lock:
        _known.clear()
        _known_sorted.clear()


def text(message: str) -> str:
    """`message` with every credential replaced by REDACTED: known values, then credential-shaped text."""
    message = known(message)
    for pattern, replacement in _patterns():
        message = pattern.sub(replacement, message)
    return message


def known(message: str) -> str:
    """`message` with every registered credential replaced, and nothing else touched.

    For documents a user wrote or kbmc rendered (manifests): there a value shaped like a credential
    (`token=x` in an annotation) is the user's data, and rewriting it would corrupt what they apply.
    """
    if not message:
        return message
    with _lock:
        known = list(_known_sorted)
    for value in known:
        if value in message:
            message = message.replace(value, MASK)
        escaped = value.encode("unicode_escape").decode()  # as it appears inside a repr
        if escaped != value and escaped in message:
            message = message.replace(escaped, MASK)
    return message


# Mapping keys whose values are credentials whatever they hold.
SECRET_KEYS = frozenset({"client-key-data", "client-certificate-data", "token", "password", "tokenFile",
                         "client-key", "id-token", "refresh-token", "access-token"})


def data(doc: Any) -> Any:
    """A copy of `doc` (mappings, lists, strings) with every credential replaced."""
    if isinstance(doc, dict):
        return {k: (MASK if k in SECRET_KEYS and v else data(v)) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [data(v) for v in doc]
    if isinstance(doc, str):
        return text(doc)
    return doc
