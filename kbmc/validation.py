"""Checks for the values users type: names, keys, CIDRs, address ranges, quantities, versions.

Each checker returns an error message (str) or None, so callers can collect
every problem before reporting. The rules are Kubernetes' own
(k8s.io/apimachinery's validation, resource.ParseQuantity, Go's net package),
matched on the whole string: Python's `$` also matches before a final newline,
so every pattern here is used with `fullmatch` and written for ASCII only.
Where kbmc is deliberately stricter than Kubernetes, the function says so.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by the checks that need them only: every command imports this module
    import ipaddress
    from fractions import Fraction

    IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
# Patterns as strings, compiled on first use (re caches them): every command imports this module.
# Label/annotation keys: optional DNS subdomain prefix + name (k8s.io/apimachinery validation).
_QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
# Control characters, and the characters YAML reads as line breaks (NEL, LINE/PARAGRAPH SEPARATOR).
_CONTROL = "[\x00-\x1f\x7f-\x9f\u2028\u2029]"

TOTAL_ANNOTATION_SIZE = 256 * 1024  # bytes of keys and values together (apimachinery's TotalAnnotationSizeLimitB)
INT32_MAX = 2**31 - 1


def _show(value: str) -> str:
    """A value for a one-line message: repr (control characters escaped), long ones shortened."""
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + f"…' ({len(value)} characters)"


def dns1123_label(value: str) -> str | None:
    if len(value) > 63:
        return f"{_show(value)} is longer than 63 characters"
    if not re.fullmatch(_DNS1123_LABEL, value):
        return f"{_show(value)} must be lowercase letters, digits and '-', starting and ending with a letter or digit"
    return None


def dns1123_subdomain(value: str) -> str | None:
    if len(value) > 253:
        return f"{_show(value)} is longer than 253 characters"
    if not re.fullmatch(_DNS1123_SUBDOMAIN, value):
        return f"{_show(value)} must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
    return None


def path_segment_name(value: str) -> str | None:
    """A name the API server accepts for objects such as ClusterRoles (apimachinery's IsValidPathSegmentName)."""
    if not value:
        return "a name may not be empty"
    if value in (".", ".."):
        return f"{value!r} may not be a name"
    for bad in ("/", "%"):
        if bad in value:
            return f"{value!r} may not contain {bad!r}"
    return None


def dns1035_label(value: str, limit: int = 63) -> str | None:
    """A DNS-1035 label (Service names): a letter first; `limit` is lower when kbmc derives longer names from it."""
    if len(value) > limit:
        return f"{_show(value)} is longer than {limit} characters"
    if not re.fullmatch(_DNS1035_LABEL, value):
        return f"{_show(value)} must be lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"
    return None


def qualified_name(key: str) -> str | None:
    """A label key (apimachinery's IsQualifiedName): [prefix/]name, the prefix a DNS subdomain."""
    parts = key.split("/")
    if len(parts) > 2:
        return f"key {_show(key)} may contain at most one '/' (prefix/name)"
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            return f"key {_show(key)}: the prefix before '/' must not be empty"
        if dns1123_subdomain(prefix):
            return f"key {_show(key)}: prefix {_show(prefix)} must be a DNS subdomain (lowercase letters, digits, '-', '.')"
    if not name or len(name) > 63 or not re.fullmatch(_QUALIFIED_NAME, name):
        return (f"key {_show(key)}: the name part must be 1-63 letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit")
    return None


label_key = qualified_name


HELM_RELEASE_MAX = 53  # helm refuses longer release names


def helm_release(value: str) -> str | None:
    """A helm release name: helm's own rule (at most 53 characters), and a DNS-1123 label.

    kbmc is stricter than helm in one way: no dots, since the chart names Services after the release.
    """
    if not value:
        return "release name must not be empty"
    if len(value) > HELM_RELEASE_MAX:
        return f"release name {_show(value)} is longer than {HELM_RELEASE_MAX} characters (helm's limit)"
    if err := dns1123_label(value):
        return f"release name {err}"
    return None


def annotation_key(key: str) -> str | None:
    """An annotation key: checked lower-cased, as the API server does (so `Example.com/x` is fine).

    Go lower-cases with the simple Unicode mapping: U+0130 (İ) becomes a plain `i`, unlike Python.
    """
    lowered = key.replace("\u0130", "i").lower()
    if qualified_name(lowered) is None:
        return None
    return qualified_name(key) or qualified_name(lowered)


def label_value(value: str) -> str | None:
    if len(value) > 63 or not re.fullmatch(_LABEL_VALUE, value):
        return f"label value {_show(value)} must be ≤63 characters of letters, digits, '-', '_', '.'"
    return None


def utf8(value: str) -> str | None:
    """Text that came from bytes which were not UTF-8 (Python keeps them as lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        shown = repr(value.encode("utf-8", "surrogateescape"))[1:]
        return f"{shown} is not valid UTF-8"
    return None


def annotations_size(annotations: dict[str, str]) -> str | None:
    total = sum(len(k.encode("utf-8", "surrogateescape")) + len(v.encode("utf-8", "surrogateescape"))
                for k, v in annotations.items())
    if total > TOTAL_ANNOTATION_SIZE:
        return f"annotations total {total} bytes, more than Kubernetes' limit of {TOTAL_ANNOTATION_SIZE} (256 KiB)"
    return None


def context_name(value: str) -> str | None:
    """A data-plane context name the operator can use.

    The operator splits --multi-cluster-contexts and the placement annotation at commas and
    skips empty names, and kbmc's own comma-separated flags trim spaces: so a name that is
    empty, holds a comma, starts or ends with white space, or holds a control character can
    never be placed. The chart renders the context list inside a double-quoted YAML string
    (`"--multi-cluster-contexts={{ .Values.multiCluster.contexts }}"`): a `"` breaks the
    manifest and a `\\` starts an escape (`\\n` reaches the operator as a newline), so those
    are refused too. Kubeconfigs allow such names; kbmc refuses them for data and control planes.
    """
    if not value:
        return "context name must not be empty"
    if "," in value:
        return f"context name {_show(value)} contains a comma (the operator splits context lists at commas)"
    if value != value.strip():
        return f"context name {_show(value)} starts or ends with white space"
    if re.search(_CONTROL, value):
        return f"context name {_show(value)} contains a control character"
    if '"' in value or "\\" in value:
        return (f"context name {_show(value)} contains a double quote or backslash (the chart passes context "
                "names to the operator inside a double-quoted YAML string); rename the context")
    return utf8(value)


# ---- durations ------------------------------------------------------------------------------------

# Go's time.ParseDuration, ASCII only: one or more <number><unit> (`1h1m`, `1.5s`, `500ms`), and kbmc's plain
# seconds (`30`, `0.5`). No exponents, signs or non-ASCII digits (Python's float() takes `1e-320` and `١٠`).
_DURATION_NANOS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_DURATION_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_DURATION_PART = _DURATION_NUMBER + r"(ns|us|ms|s|m|h)"
DURATION_MIN_NS = _DURATION_NANOS["ms"]  # 1ms: less is no time to do anything in
DURATION_MAX_NS = 365 * 24 * _DURATION_NANOS["h"]  # a year: beyond it clocks and sockets overflow
DURATION_MIN = DURATION_MIN_NS / 10**9
DURATION_MAX = DURATION_MAX_NS / 10**9


def _decimal_ratio(number: str) -> tuple[int, int]:
    """`12.50` as (1250, 100): exact, without importing fractions (start-up)."""
    whole, _, frac = number.partition(".")
    return int((whole or "0") + frac), 10 ** len(frac)


def parse_duration(value: str, flag: str = "--timeout", *, zero: str | None = None) -> float:
    """Seconds from a Go duration (`30s`, `2m`, `1h1m`, `500ms`) or plain seconds (`30`, `0.5`).

    ValueError (one line, naming `flag`) unless it is between 1ms and a year. `zero` says what `0`
    means where it means "none" (e.g. "no timeout", as kubectl's --request-timeout): then `0` gives 0.0;
    elsewhere it is refused.
    """
    hint = "give seconds (30) or a duration (500ms, 30s, 2m, 1h30m)"
    text = value if isinstance(value, str) and len(value) <= 64 else ""
    # The exact value as nanoseconds over a power of ten (num / den ns), summed part by part.
    if re.fullmatch(_DURATION_NUMBER, text):
        n, d = _decimal_ratio(text)
        num, den = n * _DURATION_NANOS["s"], d
    elif re.fullmatch(f"(?:{_DURATION_PART})+", text):
        num, den = 0, 1
        for m in re.finditer(r"(" + _DURATION_NUMBER + r")(ns|us|ms|s|m|h)", text):
            n, d = _decimal_ratio(m.group(1))
            num, den = num * d + n * _DURATION_NANOS[m.group(2)] * den, den * d
    else:
        raise ValueError(f"{flag} {_show(str(value))} is not a duration: {hint}")
    if num == 0:
        if zero is not None:
            return 0.0
        raise ValueError(f"{flag} {value} must be greater than zero: {hint}")
    if not DURATION_MIN_NS * den <= num <= DURATION_MAX_NS * den:
        raise ValueError(f"{flag} {_show(value)} is out of range: give between 1ms and 8760h (a year)"
                         + (f", or 0 for {zero}" if zero else ""))
    return num / (den * 10**9)  # int / int is correctly rounded


def positive_timeout(value: float, flag: str = "--timeout") -> str | None:
    if not math.isfinite(value) or value <= 0:
        return f"{flag} {value:g} must be greater than zero (a finite number of seconds)"
    return None


def replicas(value: int, flag: str = "--replicas") -> str | None:
    """At least 1 (kbmc: a Cluster of 0 members is not a database), at most int32 (the CRD's format)."""
    if not 1 <= value <= INT32_MAX:
        return f"{flag} {value} must be between 1 and {INT32_MAX}"
    return None


# ---- versions -------------------------------------------------------------------------------------

# apimachinery's version.ParseSemantic, as KubeBlocks reads serviceVersion: MAJOR.MINOR.PATCH without
# leading zeros, optional -pre.release and +build. kbmc is stricter: no leading white space.
_SEMVER = (r"v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
           r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?")


def semantic_version(value: str) -> str | None:
    m = re.fullmatch(_SEMVER, value)
    if m and all(not (p.isdigit() and p.startswith("0") and p != "0") for p in (m.group(4) or "").split(".")):
        return None
    return f"{_show(value)} is not a semantic version like 3.5.15 or 3.6.1-rc.1"


# ---- networks ---------------------------------------------------------------------------

_V4_MAPPED = 0xFFFF << 32  # ::ffff:0:0/96, where Go's net package keeps IPv4 addresses
_DIGITS = r"[0-9]+"


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as Go's net.ParseIP reads it: ASCII, no zone (`%eth0`), no white space."""
    import ipaddress

    if not text.isascii() or "%" in text or text != text.strip():
        raise ValueError(f"{_show(text)} is not an IP address")
    return ipaddress.ip_address(text)


def parse_cidr(value: object) -> tuple[IPNetwork | None, str | None]:
    """A CIDR as Go's net.ParseCIDR reads it (the prefix length in decimal digits, not a netmask).

    kbmc is stricter than Go in one way: host bits must be zero (`10.1.0.1/16` is refused with a hint).
    """
    import ipaddress

    if not isinstance(value, str):
        return None, f"expected a CIDR string like 10.1.0.0/16, got {value!r}"
    address, sep, prefix = value.partition("/")
    if not sep:
        return None, f"{_show(value)} is not a CIDR (missing /prefix length)"
    if not re.fullmatch(_DIGITS, prefix):
        return None, f"{_show(value)} is not a valid CIDR: the prefix length must be a number of bits"
    bits = prefix.lstrip("0") or "0"  # Go reads leading zeros (`/016`) as decimal
    try:
        ip = parse_ip(address)
        if len(bits) > 3:
            raise ValueError(f"the prefix length {_show(prefix)} is too long for an address")
        net = ipaddress.ip_network(f"{ip}/{int(bits)}", strict=False)
    except ValueError as exc:
        return None, f"{_show(value)} is not a valid CIDR: {exc}"
    if net.network_address != ip:
        return None, f"{_show(value)} has host bits set; did you mean {net}?"
    return net, None


def _interval_of(net: IPNetwork) -> tuple[int, int]:
    """A network as addresses in one integer space: IPv4 where Go keeps it, at ::ffff:0:0/96."""
    lo, hi = int(net.network_address), int(net.broadcast_address)
    return (lo + _V4_MAPPED, hi + _V4_MAPPED) if net.version == 4 else (lo, hi)


def _int_of(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    return int(ip) + _V4_MAPPED if ip.version == 4 else int(ip)


def parse_address_range(value: object) -> tuple[tuple[int, int] | None, str | None]:
    """A MetalLB address entry, a CIDR or `first-last`, as an interval of addresses (see `overlapping`)."""
    if isinstance(value, str) and "-" in value and "/" not in value:
        first_s, _, last_s = value.partition("-")
        try:
            first = parse_ip(first_s.strip(" "))
            last = parse_ip(last_s.strip(" "))
        except ValueError as exc:
            return None, f"{_show(value)} is not a valid address range: {exc}"
        if first.version != last.version:
            return None, f"{_show(value)} mixes IPv4 and IPv6"
        if int(last) < int(first):
            return None, f"{_show(value)}: the range ends before it starts"
        return (_int_of(first), _int_of(last)), None
    net, err = parse_cidr(value)
    return (_interval_of(net) if net else None), err


def cidr_interval(value: str) -> tuple[int, int] | None:
    net, _ = parse_cidr(value)
    return _interval_of(net) if net else None


def overlapping(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of overlapping intervals: sorted once and swept, O(n log n).

    Each interval that overlaps an earlier-starting one is paired with the one reaching
    furthest, so every overlapping interval appears in at least one pair.
    IPv4 and IPv4-mapped IPv6 (::ffff:a.b.c.d) share one space, as in Go's net package.
    """
    order = sorted(range(len(intervals)), key=lambda i: intervals[i])
    pairs: list[tuple[int, int]] = []
    reach = -1  # the interval (index) whose end is furthest so far
    for i in order:
        lo, hi = intervals[i]
        if reach >= 0 and lo <= intervals[reach][1]:
            pairs.append((min(i, reach), max(i, reach)))
        if reach < 0 or hi > intervals[reach][1]:
            reach = i
    return sorted(set(pairs))


# ---- quantities -----------------------------------------------------------------------------

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# What both the Cluster CRD's quantity pattern and resource.ParseQuantity accept, ASCII digits only:
# <sign><digits>[.<digits>] or .<digits>, then a binary/decimal SI suffix or e<integer exponent>.
_QUANTITY = r"([+-]?)([0-9]+)?(?:\.([0-9]*))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?"
_MAX_NANOS = (2**63 - 1) * 10**9


def parse_quantity(value: str) -> Fraction:
    """A Kubernetes quantity ("100m", "1Gi", "1e3") as its exact value; see `quantity_nanos`."""
    from fractions import Fraction

    return Fraction(quantity_nanos(value), 10**9)


def quantity_nanos(value: str) -> int:
    """A Kubernetes quantity in billionths, rounded up to 1n as Kubernetes does (exact integer arithmetic).

    ValueError if malformed. kbmc is stricter than ParseQuantity in two ways: values above
    2^63-1 are refused (Kubernetes caps or cannot use them), and so are exponents outside
    int32 (Go silently wraps them: `1e4294967296` would mean 1).
    """
    m = re.fullmatch(_QUANTITY, value) if isinstance(value, str) else None
    if not m or (m.group(2) is None and not m.group(3)):
        raise ValueError(f"{_show(str(value))} is not a Kubernetes quantity (examples: 100m, 0.5, 128Mi, 1Gi)")
    sign, whole, frac, suffix = m.group(1), m.group(2) or "", m.group(3) or "", m.group(4) or ""
    binary = _BINARY.get(suffix, 0)
    if suffix in _DECIMAL or binary:
        exp10 = _DECIMAL.get(suffix, 0)
    else:
        exponent = suffix[1:].lstrip("+-").lstrip("0") or "0"
        exp10 = (-1 if suffix[1] == "-" else 1) * (int(exponent) if len(exponent) <= 11 else 2**40)
        if not -(2**31) <= exp10 < 2**31:
            raise ValueError(f"{_show(value)}: the exponent is out of range")
    digits = (whole + frac).lstrip("0")
    exp10 -= len(frac)
    if not digits:
        return 0
    order = len(digits) - 1 + exp10  # the value is below 10**(order + 1) * 2**binary
    if order + binary * 0.302 > 20:
        raise ValueError(f"{_show(value)} is more than Kubernetes quantities can hold (2^63-1)")
    if order < -30:
        nanos = 1  # Kubernetes rounds any positive amount up to 1n
    else:
        if len(digits) > 60:  # beyond nano precision: keep 60 digits, round up if anything was dropped
            sticky = digits[60:].strip("0") != ""
            exp10 += len(digits) - 60
            digits = digits[:60]
        else:
            sticky = False
        n = int(digits) * 2**binary
        scale = exp10 + 9
        if scale >= 0:
            nanos = n * 10**scale
        else:
            q, r = divmod(n, 10**-scale)
            nanos = q + (1 if r or sticky else 0)
    if nanos > _MAX_NANOS:
        raise ValueError(f"{_show(value)} is more than Kubernetes quantities can hold (2^63-1)")
    return -nanos if sign == "-" else nanos


def positive_quantity(value: str, what: str) -> str | None:
    """A quantity greater than zero (kbmc: a zero or negative request is refused; Kubernetes allows 0)."""
    try:
        amount = quantity_nanos(value)
    except ValueError as exc:
        return f"{what}: {exc}"
    if amount <= 0:
        return f"{what}: {_show(value)} must be greater than zero"
    return None
