"""kbmc's validators against Kubernetes' own, property-tested with Hypothesis.

The oracle (tests/testbed/gobuild/kbmc-oracle) runs apimachinery's validation functions,
resource.ParseQuantity, version.ParseSemantic, Go's net.ParseCIDR/ParseIP and sigs.k8s.io/yaml
(what kubectl reads manifests with). kbmc must accept exactly what they accept; where kbmc is
deliberately stricter, the rule is written out here (and documented in docs/cluster.md / topology.md):

- quantities: zero and negative amounts are refused; so are amounts above 2^63-1 (Kubernetes caps
  binary ones and cannot use the others) and exponents outside int32 (Go wraps them silently);
  and the Cluster CRD's pattern must match too (it refuses `+`, `.`, `Ki`, which ParseQuantity reads as 0).
- CIDRs: host bits must be zero (`10.1.0.1/16` is refused with a "did you mean" hint).
- service versions: no surrounding white space.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kbmc import validation as v
from kbmc.cluster import manifests
from tests.testbed.build import BuildUnavailable, oracle_path

# Deterministic and bounded: the same examples every run, a few hundred per property.
settings.register_profile("kbmc", derandomize=True, database=None, deadline=None, max_examples=300,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("kbmc")


class Oracle:
    def __init__(self, path: str) -> None:
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     encoding="utf-8", bufsize=1)

    def ask(self, op: str, value: str) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"op": op, "value": value}) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        assert "error" not in answer, answer
        return answer

    def ok(self, op: str, value: str) -> bool:
        return bool(self.ask(op, value)["ok"])

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    try:
        path = oracle_path()
    except BuildUnavailable as exc:
        if os.environ.get("KBMC_REQUIRE_BED"):
            pytest.fail(f"the oracle is required but cannot be built: {exc}")
        pytest.skip(f"Kubernetes oracle unavailable: {exc}")
    o = Oracle(str(path))
    yield o
    o.close()


# ---- strategies: the characters and lengths where validators go wrong ---------------------------

TRICKY = ["\n", "\r", "\t", " ", "\x00", "\x7f", "\x85", "\u2028", "\u2029", "\ufeff", "\u00a0",
          "١", "٣", "０", "²", "𝟘", "İ", "K", "é", "ß", "/", ".", "-", "_", "+", ":", "%", ","]
NAME_CHARS = st.sampled_from(list("abcxyzABZ0189-._/") + TRICKY)
names = st.one_of(
    st.text(NAME_CHARS, max_size=20),
    st.text(st.characters(codec="utf-8"), max_size=12),
    # boundary lengths, with a tricky start or end
    st.builds(lambda head, n, tail: head + "a" * n + tail, st.sampled_from(["", "a", "1", "-", "A", "\n"]),
              st.sampled_from([61, 62, 63, 64, 251, 252, 253, 254]), st.sampled_from(["", "\n", "-", "0", ".a"])),
)


def accepted(err: str | None) -> bool:
    return err is None


# ---- names and keys ---------------------------------------------------------------------------------------


@given(names)
@example("etcd\n")
@example("a" * 63)
@example("a" * 64)
def test_dns1123_label(oracle: Oracle, value: str) -> None:
    assert accepted(v.dns1123_label(value)) == oracle.ok("dns1123label", value)


@given(names)
@example("a." * 126 + "a")
@example("etcd.example.com\n")
def test_dns1123_subdomain(oracle: Oracle, value: str) -> None:
    assert accepted(v.dns1123_subdomain(value)) == oracle.ok("dns1123subdomain", value)


@given(names)
@example("1etcd")
def test_dns1035_label(oracle: Oracle, value: str) -> None:
    assert accepted(v.dns1035_label(value)) == oracle.ok("dns1035label", value)


@given(names)
@example("/foo")
@example("a/b/c")
@example("foo\n")
@example("Ex.com/x")
def test_label_keys(oracle: Oracle, key: str) -> None:
    assert accepted(v.label_key(key)) == oracle.ok("qualifiedname", key)
    assert accepted(v.label_key(key)) == oracle.ok("labels", json.dumps({key: "v"}))


@given(names)
@example("Ex.com/x")
@example("İ")
@example("example.com/İ")
def test_annotation_keys_are_checked_lower_cased(oracle: Oracle, key: str) -> None:
    assert accepted(v.annotation_key(key)) == oracle.ok("annotations", json.dumps({key: "v"}))


@given(names)
@example("v\n")
def test_label_values(oracle: Oracle, value: str) -> None:
    assert accepted(v.label_value(value)) == oracle.ok("labelvalue", value)


@pytest.mark.parametrize("size", [256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1])
@pytest.mark.parametrize("char", ["a", "é"])
def test_total_annotation_size(oracle: Oracle, size: int, char: str) -> None:
    value = char * ((size - 4) // len(char.encode()))
    annotations = {"note": value}
    assert accepted(v.annotations_size(annotations)) == oracle.ok("annotations", json.dumps(annotations))


# ---- quantities ---------------------------------------------------------------------------------------------

# tokens, not single characters: suffixes come whole too
QUANTITY_CHARS = st.sampled_from([*"0123456789.+-eEinumkKMGTP", "١", "٠", "０", "²", " ", "\n", "Ki", "Mi", "Ei"])
quantities = st.one_of(
    st.lists(QUANTITY_CHARS, max_size=10).map("".join),
    st.builds(lambda sign, num, suffix: sign + num + suffix, st.sampled_from(["", "+", "-"]),
              st.from_regex(r"[0-9]{0,25}(\.[0-9]{0,12})?", fullmatch=True),
              st.sampled_from(["", "m", "n", "u", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
                               "e3", "e-3", "E+18", "e19", "e-40", "e+0021", "e1000000", "e4294967296"])),
)


@pytest.fixture(scope="module")
def quantity_pattern() -> str:
    """The Cluster CRD's pattern for resources and storage, as the API server applies it (Go regexp: `$` is the end)."""
    from tests.testbed.crds import CrdsUnavailable, load_crds

    try:
        crds = load_crds("v1alpha1")
    except CrdsUnavailable as exc:
        pytest.skip(str(exc))
    found = set(re.findall(r"'pattern': '(\^\(\\\\\+\|-\)\?[^']*)'", repr(crds[0])))
    assert len(found) == 1, found
    return found.pop().replace("\\\\", "\\")


def kubernetes_value(answer: dict[str, Any]) -> Fraction:
    return Fraction(answer["dec"])


@given(quantities)
@example("١٠٠m")
@example("1e1000000")
@example("8Ei")
@example("7Ei")
@example("1e4294967296")  # Go wraps the exponent to 0: 1. (Exponents that wrap to a huge int32 hang ParseQuantity.)
@example("1e-1000000")
@example(".")
@example("+")
@example("1.G")
@example("0.0000000001")
@example("9" * 5000)
def test_quantities(oracle: Oracle, quantity_pattern: str, value: str) -> None:
    go = oracle.ask("quantity", value)
    crd = re.fullmatch(quantity_pattern.strip("^$"), value, re.ASCII) is not None
    expected = go["ok"] and crd and go.get("sign", 0) > 0 and not go.get("tooBig")
    if expected:
        m = re.search(r"(Ki|Mi|Gi|Ti|Pi|Ei)\Z|[eE]([+-]?[0-9]+)\Z", value)
        if m and m.group(1) and kubernetes_value(go) == 2**63 - 1:
            expected = False  # Kubernetes capped it: kbmc refuses instead
        if m and m.group(2) is not None and not -(2**31) <= int(m.group(2)) < 2**31:
            expected = False  # Go wrapped the exponent to int32: kbmc refuses instead
    assert accepted(v.positive_quantity(value, "--cpu")) == expected, go
    if expected:
        assert v.parse_quantity(value) == kubernetes_value(go)


# ---- addresses -------------------------------------------------------------------------------------------

IP_CHARS = st.sampled_from([*"0123456789abcdef.:/%", "ffff", "::", "١", "０", " ", "\n", "255", "0/", "/32"])
addresses = st.one_of(
    st.lists(IP_CHARS, max_size=16).map("".join),
    st.builds(lambda a, b, c, d, p: f"{a}.{b}.{c}.{d}{p}", *[st.sampled_from(["0", "1", "10", "255", "256", "01", "١"])] * 4,
              st.sampled_from(["", "/0", "/8", "/08", "/32", "/33", "/ 8", "/8\n", "/255.0.0.0"])),
    st.builds(lambda net, p: f"{net}{p}", st.ip_addresses().map(str),
              st.sampled_from(["", "/0", "/64", "/96", "/104", "/128", "/129", "/0128", "%eth0"])),
    st.builds(lambda a, p: f"::ffff:{a}{p}", st.ip_addresses(v=4).map(str), st.sampled_from(["", "/96", "/104", "/128"])),
)


def go_interval(text: str) -> tuple[int, int]:
    """Go's canonical network, in kbmc's one integer space (IPv4 at ::ffff:0:0/96)."""
    net = ipaddress.ip_network(text)
    lo, hi = int(net.network_address), int(net.broadcast_address)
    return (lo + (0xFFFF << 32), hi + (0xFFFF << 32)) if net.version == 4 else (lo, hi)


@given(addresses)
@example("10.0.0.0/255.0.0.0")
@example("fe80::/64%eth0")
@example("10.0.0.0/08")
@example("::ffff:10.0.0.0/104")
@example("10.1.0.0/16\n")
def test_cidrs(oracle: Oracle, value: str) -> None:
    go = oracle.ask("cidr", value)
    host_bits_zero = go["ok"] and go["ip"] == go["net"].split("/")[0]
    net, _ = v.parse_cidr(value)
    assert (net is not None) == host_bits_zero, go
    if net is not None:
        assert v.cidr_interval(value) == go_interval(go["net"])


@given(addresses)
@example("1.2.3.4\n")
@example("fe80::1%eth0")
@example("::ffff:1.2.3.4")
def test_ip_addresses(oracle: Oracle, value: str) -> None:
    go = oracle.ask("ip", value)
    try:
        ip = v.parse_ip(value)
    except ValueError:
        ip = None
    assert (ip is not None) == go["ok"], go
    if ip is not None:
        mapped = ip.ipv4_mapped if ip.version == 6 else ip
        assert (mapped is not None) == go.get("is4", False)
        assert str(mapped or ip) == go["ip"]


# ---- versions --------------------------------------------------------------------------------------------

versions = st.one_of(
    st.from_regex(r"v?[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(-[0-9a-z.]{0,6})?(\+[0-9a-z.]{0,4})?", fullmatch=True),
    st.text(st.sampled_from([*"0123456789.-+vrc", "\n", " ", "١"]), max_size=14),
)


@given(versions)
@example("3.5.15\n")
@example(" 3.5.15")
@example("3.5.15 ")
@example("3.05.1")
@example("3.5.1-01")
def test_service_versions(oracle: Oracle, value: str) -> None:
    expected = oracle.ok("semver", value) and value == value.strip(" \t\n\r\f\v")  # kbmc: no surrounding space
    assert accepted(v.semantic_version(value)) == expected


# ---- round trip: every accepted value renders to YAML that reads back as the same string -----------------

values_text = st.one_of(st.text(st.characters(codec="utf-8"), max_size=30),
                        st.text(st.sampled_from(TRICKY + list("ab:#'\"{}[]&*!|>%@`\\")), max_size=20),
                        st.sampled_from(["true", "null", "~", "1e3", "0x10", "- a", "a: b", "'", '"', "\\", "yes",
                                         "2001-01-01", ".inf", "<<", "=", "foo\n", "\n"]))


def rendered(annotation: str | None = None, label: str | None = None) -> str:
    p = manifests.EtcdParams(annotations={"note": annotation} if annotation is not None else {},
                             labels={"team": label} if label is not None else {}, network="none")
    return manifests.render_etcd(p)


@given(values_text)
def test_annotation_values_round_trip(oracle: Oracle, value: str) -> None:
    text = rendered(annotation=value)
    assert yaml.safe_load(text)["metadata"]["annotations"]["note"] == value
    kubectl = oracle.ask("yaml", text)  # sigs.k8s.io/yaml, as kubectl reads the manifest
    assert json.loads(kubectl["json"])["metadata"]["annotations"]["note"] == value


@given(names)
def test_accepted_label_values_round_trip(oracle: Oracle, value: str) -> None:
    if v.label_value(value) is not None:
        return
    text = rendered(label=value)
    assert yaml.safe_load(text)["metadata"]["labels"]["team"] == value
    assert json.loads(oracle.ask("yaml", text)["json"])["metadata"]["labels"]["team"] == value
