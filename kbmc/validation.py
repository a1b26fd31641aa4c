"""Checks for the values users type: names, CIDRs, address ranges, quantities.

Each checker returns an error message (str) or None, so callers can collect
every problem before reporting.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # ipaddress is imported by the network checks only: rendering must start fast
    import ipaddress

    IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Label/annotation keys: optional DNS subdomain prefix + name (k8s.io/apimachinery validation).
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def dns1123_label(value: str) -> str | None:
    if len(value) > 63:
        return f"{value!r} is longer than 63 characters"
    if not _DNS1123_LABEL.match(value):
        return f"{value!r} must be lowercase letters, digits and '-', starting and ending with a letter or digit"
    return None


def dns1123_subdomain(value: str) -> str | None:
    if len(value) > 253:
        return f"{value!r} is longer than 253 characters"
    if not _DNS1123_SUBDOMAIN.match(value):
        return f"{value!r} must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
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


def qualified_key(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and dns1123_subdomain(prefix):
        return f"key {key!r}: prefix {prefix!r} must be a DNS subdomain"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return f"key {key!r}: name part must be ≤63 characters of letters, digits, '-', '_', '.'"
    return None


def label_value(value: str) -> str | None:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        return f"label value {value!r} must be ≤63 characters of letters, digits, '-', '_', '.'"
    return None


# ---- networks ---------------------------------------------------------------------------


def parse_cidr(value: object) -> tuple[IPNetwork | None, str | None]:
    import ipaddress

    if not isinstance(value, str):
        return None, f"expected a CIDR string like 10.1.0.0/16, got {value!r}"
    if "/" not in value:
        return None, f"{value!r} is not a CIDR (missing /prefix length)"
    try:
        return ipaddress.ip_network(value, strict=True), None
    except ValueError as exc:
        if "host bits set" in str(exc):
            net = ipaddress.ip_network(value, strict=False)
            return None, f"{value!r} has host bits set; did you mean {net}?"
        return None, f"{value!r} is not a valid CIDR: {exc}"


def parse_address_range(value: object) -> tuple[list[IPNetwork] | None, str | None]:
    """A MetalLB address entry: a CIDR or `first-last`; returned as covering networks."""
    import ipaddress

    if isinstance(value, str) and "-" in value and "/" not in value:
        first_s, _, last_s = value.partition("-")
        try:
            first = ipaddress.ip_address(first_s.strip())
            last = ipaddress.ip_address(last_s.strip())
        except ValueError as exc:
            return None, f"{value!r} is not a valid address range: {exc}"
        if first.version != last.version:
            return None, f"{value!r} mixes IPv4 and IPv6"
        if int(last) < int(first):
            return None, f"{value!r}: the range ends before it starts"
        return list(ipaddress.summarize_address_range(first, last)), None  # type: ignore[arg-type]
    net, err = parse_cidr(value)
    return ([net] if net else None), err


def overlaps(a: list[IPNetwork], b: list[IPNetwork]) -> bool:
    return any(x.version == y.version and x.overlaps(y) for x in a for y in b)  # type: ignore[arg-type]


# ---- quantities -----------------------------------------------------------------------------

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}
# k8s.io/apimachinery/pkg/api/resource: <signedNumber><suffix>, suffix binary | decimal SI | decimal exponent.
_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


def parse_quantity(value: str) -> Decimal:
    """Parse a Kubernetes quantity ("100m", "1Gi", "1e3") into its value; ValueError if malformed."""
    m = _QUANTITY.match(value.strip()) if isinstance(value, str) else None
    if not m or value != value.strip():
        raise ValueError(f"{value!r} is not a Kubernetes quantity (examples: 100m, 0.5, 128Mi, 1Gi)")
    number, suffix = m.group(1), m.group(2) or ""
    try:
        base = Decimal(number)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a Kubernetes quantity") from None
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    if suffix in _DECIMAL:
        return base * _DECIMAL[suffix]
    return base * (Decimal(10) ** int(suffix[1:]))


def positive_quantity(value: str, what: str) -> str | None:
    try:
        amount = parse_quantity(value)
    except ValueError as exc:
        return f"{what}: {exc}"
    if amount <= 0:
        return f"{what}: {value!r} must be greater than zero"
    return None
