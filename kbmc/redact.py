"""The one place credentials are removed from text and data before anything is shown.

Every message, table cell, warning, traceback and data document kbmc prints goes
through `Output` (kbmc/output.py), and `Output` passes it through `text()` or
`data()` here. Two layers:

- known values: every credential kbmc reads from a kubeconfig or a flag (tokens, token
  files, passwords, client keys and certificates, URL user info of a server or proxy URL,
  `--server` values) is registered when it is read, in every form it may appear in (as
  written, trimmed, base64-decoded, each line of a PEM body, percent-decoded), and replaced
  where it shows up;
- patterns, for credentials kbmc never saw as such: `Authorization`/`Bearer`/`Basic`
  header values, PEM blocks, `user:password@` in URLs, `token: …`/`password=…` pairs.

Which known values are replaced where (so redaction never corrupts ordinary text):
- a value shorter than 6 characters is not registered at all (replacing every "admin"
  would mangle messages, and such a secret is not worth protecting from a log line);
- a *strong* value (20 characters or more, or at least three of: lower-case letters,
  upper-case letters, digits, other characters) is replaced wherever it appears;
- a *weak* value (a word such as `kubeblocks`, or digits only) is replaced only where it
  stands as a token of its own: not preceded by a letter, digit, `_`, `-`, `.` or `/`, and
  not followed by a letter, digit, `_`, `-`, `/` or by `.` plus a letter or digit. So the
  password `kubeblocks` is hidden in `admin:kubeblocks@host` and `password kubeblocks.`, but
  `apps.kubeblocks.io` and `Deployment kb-system/kubeblocks` stay intact.

Rendered manifests are not passed through here at all (see `Output.manifest`): they are
built from flags and templates, never from kubeconfig credentials.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from typing import Any

MASK = "REDACTED"
# Shorter values are not registered: replacing every "ab" in a message would mangle it,
# and such a short secret is not worth protecting from a log line.
_MIN_LEN = 6

_known: set[str] = set()
_known_sorted: list[str] = []
_weak: set[str] = set()
_lock = threading.Lock()


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Compiled on first use: start-up time matters, and most commands print no error."""
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
        # Go's net/url takes user info up to the LAST '@' of the authority, and a password may hold
        # '/', "'", '@' (kubectl then fails, but the text must not show it): up to the last '@' of the run.
        (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s\"<>]*@"), rf"\1{MASK}@"),
        (re.compile(r"(?<![\w@/.:-])[\w.%~!$&*+-]+:(?!//)[^\s\"<>]*@(?=[\w.\[\]-]+(:\d+)?\b)"), f"{MASK}@"),
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
    if "%" in raw:  # URL user info is percent-encoded where it is written, decoded where it is used
        from urllib.parse import unquote

        forms.add(unquote(raw))
    kept = {f for f in forms if len(f) >= _MIN_LEN and not f.startswith("-----")}
    with _lock:
        before = len(_known)
        _known.update(kept)
        _weak.update(f for f in kept if _is_weak(f))
        if len(_known) != before:
            _known_sorted[:] = sorted(_known, key=len, reverse=True)  # longest first: no partial leftovers


def register_url(url: Any) -> None:
    """Register the user info of a URL (`https://user:pw@host`, or scheme-less `user:pw@host`).

    Parsed as Go's net/url does (user info runs to the last '@' of the authority), and also up
    to the last '@' anywhere, for a malformed URL whose text may still end up in a message.
    """
    if not isinstance(url, str) or "@" not in url:
        return
    rest = url.split("://", 1)[1] if "://" in url else url
    candidates = set()
    authority = rest.split("#", 1)[0].split("?", 1)[0]
    candidates.add(authority.split("/", 1)[0].rpartition("@")[0])  # Go's view
    candidates.add(authority.rpartition("@")[0])  # a password holding '/'
    candidates.add(rest.rpartition("@")[0])
    for userinfo in candidates:
        if not userinfo:
            continue
        register(userinfo)
        user, sep, password = userinfo.partition(":")
        if sep:
            register(password)


def _is_weak(value: str) -> bool:
    """A value that may well be an ordinary word elsewhere: replaced only as a token of its own."""
    if len(value) >= 20:
        return False
    classes = sum(bool(re.search(p, value)) for p in ("[a-z]", "[A-Z]", "[0-9]", "[^a-zA-Z0-9]"))
    return classes < 3


def forget_all() -> None:
    """Drop every registered value (tests)."""
    with _lock:
        _known.clear()
        _known_sorted.clear()
        _weak.clear()


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
        weak = set(_weak)
    for value in known:
        escaped = value.encode("unicode_escape").decode()  # as it appears inside a repr
        for form in (value, escaped) if escaped != value else (value,):
            if form not in message:
                continue
            if value in weak:
                message = _token_pattern(form).sub(MASK, message)
            else:
                message = message.replace(form, MASK)
    return message


@cache
def _token_pattern(value: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w./-])" + re.escape(value) + r"(?![\w/-]|\.\w)")


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
