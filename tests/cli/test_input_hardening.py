"""Bad input found adversarially: each class is refused offline, in one line, exit 2, nothing written.

The classes (context names, whole-string matching, control characters, ASCII digits, derived-name
limits, unchecked flags, non-finite timeouts, crashes, messages, overlap checking) each have a test here;
the differential tests against Kubernetes' own validators are in tests/unit/test_against_kubernetes.py.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc import topology
from kbmc.errors import InputError
from tests.cli.test_topology_cli import GOOD, variant


def one_error(r: Any, message: str) -> None:
    """Exit 2, nothing on stdout, exactly one line on stderr, naming the problem."""
    assert r.code == 2, (r.code, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert message in lines[0], r.stderr
    assert "Traceback" not in r.stderr and "unexpected" not in r.stderr


def write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "kbmc.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def etcd(kbmc: Any, *args: str) -> Any:
    return kbmc("cluster", "create", "etcd", "--no-placement", *args)


# ---- 9: context names the operator cannot use ------------------------------------------------------------


@pytest.mark.parametrize(("context", "message"), [
    ("k8s-1,k8s-9", "contains a comma"),
    ("", "must not be empty"),
    (" k8s-1", "white space"),
    ("k8s\x7f", "control character"),
])
def test_validate_refuses_data_plane_contexts_the_operator_cannot_split(kbmc, no_kubeconfig, tmp_path, context,
                                                                         message) -> None:
    write(tmp_path, variant(dataPlanes__0__context=context))
    r = kbmc("validate")
    one_error(r, message)
    assert "kbmc.yaml: dataPlanes[0].context: context name" in r.stderr


def test_an_empty_control_plane_context_is_refused(kbmc, no_kubeconfig, tmp_path) -> None:
    write(tmp_path, variant(controlPlane__context=""))
    one_error(kbmc("validate"), "controlPlane.context: must not be empty")


def test_init_does_not_pick_a_context_the_operator_cannot_use(kbmc, tmp_path) -> None:
    kube = tmp_path / "kubeconfig"
    kube.write_text(yaml.safe_dump({
        "current-context": "cp",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": n, "context": {"cluster": "c"}} for n in ("cp", "k8s-1", "eu,west")]}))
    one_error(kbmc("init", kubeconfig=kube), "kubeconfig context 'eu,west' cannot be a data plane")
    assert not (tmp_path / "kbmc.yaml").exists()
    assert kbmc("--data-planes", "k8s-1", "init", kubeconfig=kube).code == 0


@pytest.mark.parametrize("command", [("env", "prepare", "--dry-run"), ("env", "check"),
                                     ("cluster", "create", "etcd")])
def test_commands_reading_kbmc_yaml_refuse_a_comma_context(kbmc, no_kubeconfig, tmp_path, command) -> None:
    write(tmp_path, variant(dataPlanes__1__context="a,b"))
    one_error(kbmc(*command), "dataPlanes[1].context: context name 'a,b' contains a comma")


@pytest.mark.parametrize("flag", ["--data-planes", "--placement"])
def test_context_lists_refuse_control_characters(kbmc, no_kubeconfig, flag) -> None:
    args = ("--data-planes", "k8s-1,k8s\x01") if flag == "--data-planes" else ("--placement", "k8s-1,k8s\x01")
    one_error(kbmc("cluster", "create", "etcd", *args), f"{flag}: context name 'k8s\\x01' contains a control")


def test_env_prepare_params_refuse_unusable_contexts() -> None:
    """The same validator guards env prepare's own inputs (whatever the caller)."""
    from kbmc.env.secret import PrepareParams, check_params

    for bad in ("a,b", ""):
        with pytest.raises(InputError, match="data plane context name"):
            check_params(PrepareParams(control_plane="cp", data_planes=["k8s-1", bad], namespace="kb-system",
                                       secret_name="kbmc-kubeconfig"))


# The chart renders the context list inside a double-quoted YAML string: `"` breaks the manifest, `\\` escapes.
QUOTING = [('k8s"1', "double quote or backslash"), ("k8s\\n1", "double quote or backslash")]


@pytest.mark.parametrize(("context", "message"), QUOTING)
@pytest.mark.parametrize("plane", ["dataPlanes__0__context", "controlPlane__context"])
def test_validate_refuses_contexts_the_chart_cannot_quote(kbmc, no_kubeconfig, tmp_path, plane, context,
                                                           message) -> None:
    write(tmp_path, variant(**{plane: context}))
    one_error(kbmc("validate"), message)


@pytest.mark.parametrize(("context", "message"), QUOTING)
@pytest.mark.parametrize("command", [
    ("env", "prepare", "--dry-run", "--context", "cp", "--data-planes", "k8s-1,{}"),
    ("env", "prepare", "--dry-run", "--context", "{}", "--data-planes", "k8s-1"),
    ("operator", "install", "--dry-run", "--context", "cp", "--data-planes", "k8s-1,{}"),
    ("operator", "install", "--dry-run", "--context", "{}", "--data-planes", "k8s-1"),
    ("cluster", "create", "etcd", "--placement", "k8s-1,{}"),
])
def test_commands_refuse_contexts_the_chart_cannot_quote(kbmc, no_kubeconfig, command, context, message) -> None:
    one_error(kbmc(*[a.replace("{}", context) for a in command]), message)


def test_a_current_context_the_chart_cannot_quote_is_refused(kbmc, tmp_path) -> None:
    kube = tmp_path / "kubeconfig"
    kube.write_text(yaml.safe_dump({
        "current-context": 'c"p',
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": n, "context": {"cluster": "c"}} for n in ('c"p', "k8s-1")]}))
    one_error(kbmc("env", "prepare", "--dry-run", "--data-planes", "k8s-1", kubeconfig=kube),
              "current-context: context name 'c\"p' contains a double quote")


# ---- 11: whole-string matching (Python's `$` matches before a final newline) ------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (("--label", "foo\n=v"), "--label key 'foo\\n'"),
    (("--label", "team=db\n"), "label value 'db\\n'"),
    (("--annotation", "ex.com/a\n=v"), "--annotation key 'ex.com/a\\n'"),
    (("--name", "etcd\n"), "--name: 'etcd\\n'"),
    (("--namespace", "db\n"), "--namespace: 'db\\n'"),
    (("--storage-class", "ssd\n"), "--storage-class: 'ssd\\n'"),
    (("--component-def", "etcd\n"), "--component-def 'etcd\\n'"),
    (("--service-version", "3.5.15\n"), "--service-version '3.5.15\\n'"),
])
def test_a_final_newline_is_refused_in_flags(kbmc, no_kubeconfig, args, message) -> None:
    one_error(etcd(kbmc, *args), message)


@pytest.mark.parametrize(("field", "value"), [
    ("controlPlane__namespace", "kb-system\n"),
    ("controlPlane__release", "kubeblocks\n"),
    ("controlPlane__version", "0.9.0\n"),
    ("controlPlane__kubeconfigSecret", "kbmc\n"),
    ("dataPlanes__0__cilium__clusterName", "k8s-1\n"),
    ("dataPlanes__0__cilium__podCIDR", "10.1.0.0/16\n"),
    ("dataPlanes__0__metallb__addresses__0", "10.4.0.0/16\n"),
])
def test_a_final_newline_is_refused_in_the_topology(kbmc, no_kubeconfig, tmp_path, field, value) -> None:
    write(tmp_path, variant(**{field: value}))
    one_error(kbmc("validate"), "\\n'")


def test_plain_yaml_only_for_whole_safe_strings() -> None:
    from kbmc.templating import yaml_scalar

    assert yaml_scalar("etcd") == "etcd"
    assert yaml_scalar("etcd\n") == '"etcd\\n"'


# ---- 12: control characters and line separators in annotation values -----------------------------------------

CONTROL_VALUES = ["a\x7fb", "a\x85b", "a\u2028b", "a\u2029b", "\x00", "tab\there", "\ufeffbom", "end\r\n"]


@pytest.mark.parametrize("value", CONTROL_VALUES)
def test_control_characters_in_annotation_values_round_trip(kbmc, no_kubeconfig, value) -> None:
    r = etcd(kbmc, "--annotation", f"note={value}")
    assert r.code == 0, r.stderr
    assert yaml.safe_load(r.stdout)["metadata"]["annotations"]["note"] == value
    j = etcd(kbmc, "-o", "json", "--annotation", f"note={value}")
    assert j.code == 0, j.stderr
    assert json.loads(j.stdout)["metadata"]["annotations"]["note"] == value


def test_subnet_id_is_escaped_too(kbmc, no_kubeconfig) -> None:
    r = kbmc("cluster", "create", "etcd", "--no-placement", "--network", "cloud-lb", "--cloud", "volcengine",
             "--subnet-id", "subnet\x85x")
    assert r.code == 0, r.stderr
    annotations = yaml.safe_load(r.stdout)["spec"]["componentSpecs"][0]["services"][0]["annotations"]
    assert annotations["service.beta.kubernetes.io/volcengine-loadbalancer-subnet-id"] == "subnet\x85x"


# ---- 13: ASCII digits only ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("flag", "value"), [("--cpu", "١٠٠m"), ("--memory", "１Gi"), ("--storage", "1²Gi"),
                                             ("--cpu-limit", "𝟙")])
def test_quantities_take_ascii_digits_only(kbmc, no_kubeconfig, flag, value) -> None:
    one_error(etcd(kbmc, flag, value), "is not a Kubernetes quantity")


def test_topology_numbers_take_ascii_digits_only(kbmc, no_kubeconfig, tmp_path) -> None:
    write(tmp_path, variant(dataPlanes__0__cilium__podCIDR="١٠.1.0.0/16"))
    one_error(kbmc("validate"), "dataPlanes[0].cilium.podCIDR")
    write(tmp_path, variant(controlPlane__version="٠.9.0"))
    one_error(kbmc("validate"), "controlPlane.version")


# ---- 14: names the operator derives Service names from ----------------------------------------------------------


def test_cluster_name_limit_comes_from_the_derived_service_names(kbmc, no_kubeconfig) -> None:
    # <name>-etcd-headless is the longest derived name for 3 replicas: 63 - 14 = 49.
    assert etcd(kbmc, "--name", "a" * 49).code == 0
    one_error(etcd(kbmc, "--name", "a" * 50), "longer than 49 characters (the operator names a Service <name>-etcd-headless")
    # with 10^9 replicas the last pod Service, <name>-etcd-peer-999999999, is longer: 63 - 20 = 43.
    one_error(etcd(kbmc, "--name", "a" * 44, "--replicas", "1000000000"), "<name>-etcd-peer-999999999")
    assert etcd(kbmc, "--name", "a" * 43, "--replicas", "1000000000").code == 0


@pytest.mark.parametrize("name", ["1etcd", "etcd.db", "-etcd"])
def test_cluster_names_are_dns_1035(kbmc, no_kubeconfig, name) -> None:
    one_error(etcd(kbmc, "--name", name), "--name:")


@pytest.mark.parametrize("prefix", ["-", "--", "", "1etcd-", "Etcd-", "a" * 45])
def test_generate_name_prefixes_are_checked(kbmc, no_kubeconfig, prefix) -> None:
    one_error(etcd(kbmc, "--generate-name", prefix), "--generate-name")


def test_a_generate_name_prefix_may_end_with_a_dash_and_reach_the_limit(kbmc, no_kubeconfig) -> None:
    assert etcd(kbmc, "--generate-name", "a" * 43 + "-").code == 0  # 44 + 5 random = 49


# ---- 15: flags that were not checked ------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (("--component-def", "Etcd"), "--component-def 'Etcd' must be"),
    (("--component-def", "e" * 65), "at most 64"),
    (("--api", "v1", "--component-def", "1etcd"), "starting with a letter"),
    (("--service-version", "3.5"), "is not a semantic version"),
    (("--service-version", "3." + "1" * 31), "longer than 32 characters"),
    (("--api", "v1", "--service-version", "3.6.1+build.1"), "pod label"),
    (("--storage-class", "Fast_SSD"), "--storage-class: 'Fast_SSD'"),
    (("--label", "/team=db"), "the prefix before '/' must not be empty"),
    (("--annotation", "/note=x"), "the prefix before '/' must not be empty"),
    (("--label", "Ex.com/team=db"), "prefix 'Ex.com' must be a DNS subdomain"),
    (("--annotation", f"note={'x' * (256 * 1024)}"), "more than Kubernetes' limit of 262144"),
    (("--replicas", "2147483648"), "--replicas 2147483648 must be between 1 and 2147483647"),
])
def test_unchecked_flags_are_checked(kbmc, no_kubeconfig, args, message) -> None:
    one_error(etcd(kbmc, *args), message)


@pytest.mark.parametrize("args", [
    ("--component-def", "1etcd-0.9.0"),  # v1alpha1's pattern allows a leading digit
    ("--service-version", "3.5.15+build.1"),  # v1alpha1 keeps it in an annotation
    ("--annotation", "Ex.com/Note=x"),  # the server checks annotation keys lower-cased
    ("--replicas", "2147483647"),
])
def test_what_the_api_accepts_is_accepted(kbmc, no_kubeconfig, args) -> None:
    r = etcd(kbmc, *args)
    assert r.code == 0, r.stderr


def test_rules_match_the_real_crds() -> None:
    """The componentDef/serviceVersion rules kbmc applies are the ones in the real Cluster CRDs."""
    from kbmc.cluster import manifests
    from tests.testbed.crds import CrdsUnavailable, load_crds

    for api in manifests.APIS:
        try:
            cluster_crd = load_crds(api)[0]
        except CrdsUnavailable as exc:
            pytest.skip(str(exc))
        version = next(ver for ver in cluster_crd["spec"]["versions"] if ver["name"] == api)
        comp = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["componentSpecs"]["items"]
        props = comp["properties"]
        assert props["componentDef"]["pattern"] == manifests.COMPONENT_DEF_PATTERN[api]
        assert props["componentDef"]["maxLength"] == manifests.COMPONENT_DEF_MAX
        assert props["serviceVersion"]["maxLength"] == manifests.SERVICE_VERSION_MAX
        assert props["replicas"]["format"] == "int32"


def test_release_names_are_limited_as_helm_limits_them(kbmc, no_kubeconfig, tmp_path) -> None:
    write(tmp_path, variant(controlPlane__release="r" * 53))
    assert kbmc("validate").code == 0
    write(tmp_path, variant(controlPlane__release="r" * 54))
    one_error(kbmc("validate"), "longer than 53 characters (helm's limit)")


@pytest.mark.parametrize(("pod_cidr", "lb"), [("10.1.0.0/16", "::ffff:10.1.2.0/120"),
                                              ("10.1.0.0/16", "::ffff:10.1.2.0-::ffff:10.1.2.9")])
def test_ipv4_mapped_ipv6_overlaps_ipv4(kbmc, no_kubeconfig, tmp_path, pod_cidr, lb) -> None:
    write(tmp_path, variant(dataPlanes__0__cilium__podCIDR=pod_cidr, dataPlanes__2__metallb__addresses=[lb]))
    one_error(kbmc("validate"), "dataPlanes[2].metallb.addresses[0]: overlaps dataPlanes[0].cilium.podCIDR")


@pytest.mark.parametrize("pod_cidr", ["fd00:10:1::/48", "::ffff:10.1.0.0/112"])
def test_a_cilium_pod_cidr_must_be_ipv4(kbmc, no_kubeconfig, tmp_path, pod_cidr) -> None:
    # kbmc installs it as Cilium's clusterPoolIPv4PodCIDRList: an IPv6 one is refused, not installed as IPv4.
    write(tmp_path, variant(dataPlanes__0__cilium__podCIDR=pod_cidr))
    one_error(kbmc("validate"), f"dataPlanes[0].cilium.podCIDR: {pod_cidr} is not an IPv4 CIDR")


# ---- 16: non-finite timeouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0"])
def test_timeouts_must_be_finite_and_positive(kbmc, no_kubeconfig, tmp_path, value) -> None:
    one_error(etcd(kbmc, "--timeout", value), "--timeout")
    kube = tmp_path / "kubeconfig"
    kube.write_text(yaml.safe_dump({
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in ("cp", "k8s-1")]}))
    one_error(kbmc("env", "check", "--context", "cp", "--data-planes", "k8s-1", "--timeout", value, kubeconfig=kube),
              "--timeout")


# The operator's own annotations come from kbmc's checked flags, never unchecked (or dropped) from --annotation.
@pytest.mark.parametrize(("args", "flag"), [
    (("--no-placement", "--annotation", "apps.kubeblocks.io/multi-cluster-placement=k8s-1,,k8s 9"), "--placement"),
    (("--placement", "k8s-1", "--annotation", "apps.kubeblocks.io/multi-cluster-placement=k8s-2"), "--placement"),
    (("--no-placement", "--annotation", "apps.kubeblocks.io/multi-cluster-service-placement=everywhere"),
     "--service-placement"),
    (("--no-placement", "--annotation", "Apps.KubeBlocks.io/multi-cluster-placement=k8s-1"), "--placement"),
])
def test_reserved_operator_annotations_are_refused_with_the_flag_to_use(kbmc, no_kubeconfig, args, flag) -> None:
    r = kbmc("cluster", "create", "etcd", *args)
    one_error(r, "is reserved")
    assert f"use {flag}" in r.stderr


def test_other_annotations_still_render(kbmc, no_kubeconfig) -> None:
    r = kbmc("cluster", "create", "etcd", "--placement", "k8s-1", "--annotation", "example.com/owner=db-team")
    assert r.code == 0, r.stderr
    annotations = yaml.safe_load(r.stdout)["metadata"]["annotations"]
    assert annotations == {"example.com/owner": "db-team", "apps.kubeblocks.io/multi-cluster-placement": "k8s-1"}


# One duration parser for every --timeout and --request-timeout: Go durations or seconds, ASCII, 1ms..a year.
TIMEOUT_COMMANDS = [
    ("cluster", "create", "etcd", "--no-placement"),
    ("cluster", "delete", "db"),
    ("env", "check"),
    ("network", "cilium"),
    ("network", "metallb"),
    ("network", "expose", "db"),
    ("operator", "install", "--dry-run"),
    ("contexts", "disable", "k8s-2"),
    ("contexts", "enable", "k8s-2"),
    ("contexts", "add", "k8s-3"),
    ("contexts", "remove", "k8s-3"),
]


@pytest.mark.parametrize("command", TIMEOUT_COMMANDS)
@pytest.mark.parametrize(("value", "message"), [
    ("1e-320", "is not a duration"),
    ("\u0661\u0660", "is not a duration"),  # Arabic-Indic 10: Python's float() reads it
    ("9999999999h", "is out of range"),
    ("0.0001", "is out of range"),
    ("-1s", "is not a duration"),
    ("-5", "is not a duration"),  # once handed to helm as `--timeout -5s`
    ("nan", "is not a duration"),
    ("inf", "is not a duration"),
    ("1e30", "is not a duration"),  # once a raw 400 from the Lease PUT
])
def test_every_timeout_reads_durations_alike(kbmc, no_kubeconfig, tmp_path, command, value, message) -> None:
    write(tmp_path, GOOD)
    one_error(kbmc(*command, "--timeout", value), f"--timeout {value!r} {message}")


@pytest.mark.parametrize("value", ["500ms", "1h1m", "1.5m", "0", "30", "0s"])
def test_request_timeout_takes_go_durations_and_zero_as_none(kbmc, no_kubeconfig, value) -> None:
    r = kbmc("--request-timeout", value, "version")
    assert r.code == 0, r.stderr


@pytest.mark.parametrize(("value", "message"), [
    ("9999999999h", "is out of range"), ("1e-320", "is not a duration"), ("\u0661\u0660", "is not a duration"),
    ("0.5us", "is out of range"), ("1d", "is not a duration"),
])
def test_request_timeout_refuses_what_go_or_the_bounds_refuse(kbmc, no_kubeconfig, value, message) -> None:
    one_error(kbmc("--request-timeout", value, "version"), f"--request-timeout {value!r} {message}")


def test_duration_values_and_zero_as_no_timeout() -> None:
    from kbmc.cli.state import Globals, parse_duration, parse_timeout
    from kbmc.validation import DURATION_MAX

    assert [parse_duration(v, "--request-timeout") for v in ("500ms", "1h1m", "2m", "30", ".5s", "0")] == [
        0.5, 3660.0, 120.0, 30.0, 0.5, 0.0]
    assert parse_timeout("8760h") == DURATION_MAX
    with pytest.raises(InputError, match="--timeout 0 must be greater than zero"):
        parse_timeout("0")
    state = Globals(request_timeout=0.0)
    state._kubeconfig = object()  # type: ignore[assignment]  # the registry only keeps it
    assert state.registry()._timeout[1] == DURATION_MAX  # 0: no timeout, as kubectl's --request-timeout 0


# ---- 17: crashes become one-line input errors ------------------------------------------------------------------


def test_a_non_utf8_topology_file(kbmc, no_kubeconfig, tmp_path) -> None:
    (tmp_path / "kbmc.yaml").write_bytes(yaml.safe_dump(GOOD).encode() + b"# caf\xe9\n")
    for command in (("validate",), ("cluster", "create", "etcd")):
        one_error(kbmc(*command), "is not UTF-8 text")


def test_a_5000_digit_cluster_id(kbmc, no_kubeconfig, tmp_path) -> None:
    text = yaml.safe_dump(GOOD).replace("clusterID: 1", "clusterID: " + "9" * 5000)
    (tmp_path / "kbmc.yaml").write_text(text)
    one_error(kbmc("validate"), "(5000 digits) is too long")
    (tmp_path / "kbmc.yaml").write_text(text.replace("9" * 5000, "9" * 4000))
    one_error(kbmc("validate"), "a 4000-digit number is out of range")


@pytest.mark.parametrize("value", ["1e1000000", "9" * 5000, "1e4294967296", "8Ei"])
def test_huge_quantities(kbmc, no_kubeconfig, value) -> None:
    one_error(etcd(kbmc, "--cpu", value), "--cpu")


def test_init_into_a_directory_or_a_missing_one(kbmc, no_kubeconfig, tmp_path) -> None:
    planes = ("--context", "cp", "--data-planes", "k8s-1")
    one_error(kbmc("-f", str(tmp_path), "init", *planes), "is a directory")
    one_error(kbmc("-f", str(tmp_path / "missing" / "kbmc.yaml"), "init", *planes), "does not exist")
    assert not (tmp_path / "missing").exists()


def test_a_non_utf8_argument(kbmc, no_kubeconfig) -> None:
    bad = b"note=caf\xe9".decode("utf-8", "surrogateescape")  # how Python hands over such an argument
    one_error(etcd(kbmc, "-o", "json", "--annotation", bad), "'note=caf\\xe9' is not valid UTF-8")


# ---- 18: messages -------------------------------------------------------------------------------------------


def test_validate_names_the_right_index_after_a_plane_without_context(kbmc, no_kubeconfig, tmp_path) -> None:
    doc = copy.deepcopy(GOOD)
    del doc["dataPlanes"][0]["context"]
    doc["dataPlanes"][2]["context"] = "k8s-2"
    write(tmp_path, doc)
    r = kbmc("validate")
    assert "dataPlanes[2].context: duplicate context 'k8s-2' (also dataPlanes[1])" in r.stderr, r.stderr


@pytest.mark.parametrize("text", [
    "apiVersion: kbmc.io/v1alpha1\nkind: Topology\nkind: Topology\n",
    "controlPlane:\n  context: a\n  context: b\n",
])
def test_duplicate_keys_are_refused(kbmc, no_kubeconfig, tmp_path, text) -> None:
    (tmp_path / "kbmc.yaml").write_text(text)
    one_error(kbmc("validate"), "duplicate key")


KUBECONFIG_TEXT = ("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n"
                   "contexts:\n- name: ctx-x\n  context:\n    cluster: c\n- name: ctx-y\n  context:\n    cluster: c\n")


def kubectl_current_context(path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECACHEDIR": str(path.parent / "kube-cache")}
    return subprocess.run(["kubectl", f"--kubeconfig={path}", "config", "current-context"], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


def test_duplicate_keys_in_a_kubeconfig_follow_kubectl_last_wins(kbmc, tmp_path) -> None:
    """kubectl 1.32 accepts duplicate keys in a kubeconfig (the last wins); an earlier test wrongly said it refuses."""
    from kbmc import kubeconfig as kc

    kube = tmp_path / "kubeconfig"
    kube.write_text(KUBECONFIG_TEXT + "current-context: ctx-x\ncurrent-context: ctx-y\n")
    assert kubectl_current_context(kube).stdout.strip() == "ctx-y"  # the oracle
    assert kc.load(str(kube)).current_context == "ctx-y"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom", "utf-8-sig", "utf-32"])
def test_kubeconfig_encodings_as_kubectl_reads_them(kbmc, tmp_path, encoding: str) -> None:
    """UTF-16 with a BOM (either order) and UTF-8 with a BOM are read by kubectl; UTF-32 is not."""
    from kbmc import kubeconfig as kc

    text = KUBECONFIG_TEXT + "current-context: ctx-x\n"
    raw = b"\xfe\xff" + text.encode("utf-16-be") if encoding == "utf-16-be-bom" else text.encode(encoding)
    kube = tmp_path / "kubeconfig"
    kube.write_bytes(raw)
    oracle = kubectl_current_context(kube)
    if encoding == "utf-32":
        assert oracle.returncode != 0 and "control characters" in oracle.stderr
        with pytest.raises(InputError, match="UTF-32"):
            kc.load(str(kube))
    else:
        assert oracle.stdout.strip() == "ctx-x", oracle.stderr
        assert kc.load(str(kube)).current_context == "ctx-x"


def alias_bomb(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_while_loading_every_yaml(kbmc, no_kubeconfig, tmp_path) -> None:
    """Nine levels of nine aliases once took >2 GB and ended in `unexpected MemoryError`."""
    kube = tmp_path / "kubeconfig"
    kube.write_text(alias_bomb() + KUBECONFIG_TEXT.replace("server: https://127.0.0.1:1", "server: *i")
                    + "current-context: ctx-x\n")
    oracle = kubectl_current_context(kube)
    assert oracle.returncode != 0 and "excessive aliasing" in oracle.stderr
    r = kbmc("--context", "ctx-x", "--data-planes", "ctx-y", "env", "check", kubeconfig=kube)
    one_error(r, "excessive aliasing")
    (tmp_path / "kbmc.yaml").write_text(alias_bomb() + "controlPlane:\n  context: *i\n")
    one_error(kbmc("validate"), "excessive aliasing")


def test_ordinary_aliases_and_merge_keys_still_load(tmp_path) -> None:
    from kbmc.yamlio import load_yaml

    doc = load_yaml("base: &b {cpu: 1}\nx:\n  <<: *b\n  mem: 2\nl: [*b, *b, *b]\n", "t")
    assert doc["x"] == {"cpu": 1, "mem": 2} and doc["l"] == [{"cpu": 1}] * 3


def test_one_problem_is_one_line(kbmc, no_kubeconfig, tmp_path) -> None:
    write(tmp_path, variant(controlPlane__namespace="Bad"))
    one_error(kbmc("validate"), "controlPlane.namespace")


def test_no_placement_flag_is_not_blamed(kbmc, no_kubeconfig, tmp_path) -> None:
    doc = copy.deepcopy(GOOD)
    for plane in doc["dataPlanes"]:
        plane["enabled"] = False
    write(tmp_path, doc)
    r = kbmc("cluster", "create", "etcd")
    one_error(r, "no data planes to place the Cluster on (kbmc.yaml's enabled data planes lists none)")
    assert "--placement is empty" not in r.stderr


def test_a_bad_data_planes_entry_is_reported_as_data_planes(kbmc, tmp_path) -> None:
    kube = tmp_path / "kubeconfig"
    kube.write_text(yaml.safe_dump({"contexts": [{"name": "a", "context": {"cluster": "a"}}],
                                    "clusters": [{"name": "a", "cluster": {"server": "https://a"}}]}))
    one_error(kbmc("--data-planes", "a,zz", "cluster", "create", "etcd", kubeconfig=kube),
              "--data-planes: unknown context 'zz'")


# ---- 19: overlaps, found by sorting (the 511-plane timing is a benchmark: tests/bench/topology_overlap.py) -----


def many_planes(n: int) -> dict[str, Any]:
    return {"apiVersion": "kbmc.io/v1alpha1", "kind": "Topology", "controlPlane": {"context": "cp"},
            "network": {"eastWest": "cilium", "northSouth": "metallb", "cilium": {"maxConnectedClusters": 511}},
            "dataPlanes": [{"context": f"k{i}", "cilium": {"clusterName": f"k{i}", "clusterID": i + 1,
                                                            "podCIDR": f"10.{i // 256}.{i % 256}.0/24"},
                            "metallb": {"addresses": [f"10.{2 + i // 256}.{i % 256}.1-10.{2 + i // 256}.{i % 256}.254"]}}
                           for i in range(n)]}


def test_511_planes_find_exactly_the_overlapping_ones() -> None:
    doc = many_planes(511)
    topology.parse(copy.deepcopy(doc))  # disjoint: valid
    doc["dataPlanes"][400]["metallb"]["addresses"] = ["10.0.7.128-10.0.7.130"]  # inside plane 7's pod CIDR
    doc["dataPlanes"][10]["cilium"]["podCIDR"] = "10.0.0.0/16"  # covers planes 0..255's pod CIDRs
    with pytest.raises(InputError) as info:
        topology.parse(doc)
    problems = info.value.problems  # type: ignore[attr-defined]
    assert any(p.startswith("dataPlanes[400].metallb.addresses[0]: overlaps dataPlanes[") for p in problems)
    flagged = {p.split(":")[0] for p in problems} | {p.split("overlaps ")[1].split(";")[0] for p in problems}
    assert "dataPlanes[10].cilium.podCIDR" in flagged
    assert {f"dataPlanes[{i}].cilium.podCIDR" for i in range(256) if i != 10} <= flagged
    assert not any(f"dataPlanes[{i}]." in p for p in problems for i in range(256, 400))


def test_a_kubeconfig_password_never_rewrites_a_rendered_manifest(kbmc, tmp_path: Path) -> None:
    """`password: kubeblocks` once turned `apps.kubeblocks.io` into `apps.REDACTED.io` (exit 0, kubectl then fails)."""
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "k8s-1",
        "clusters": [{"name": "k8s-1", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"username": "admin", "password": "kubeblocks"}}],
        "contexts": [{"name": "k8s-1", "context": {"cluster": "k8s-1", "user": "u"}}]}))
    try:
        for fmt in ([], ["-o", "json"]):
            r = kbmc(*fmt, "cluster", "create", "etcd", "--placement", "k8s-1", kubeconfig=path)
            assert r.code == 0, r.stderr
            assert "REDACTED" not in r.stdout and "apps.kubeblocks.io/v1" in r.stdout
    finally:
        from kbmc import redact

        redact.forget_all()  # registered values are process-wide: do not leak this one into later tests


# ---- kubeconfigs kubectl cannot load are refused before anything connects (kubectl is the oracle) --------------


def _mismatched_cert_and_key() -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "u")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem_key = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    return (base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode(),
            base64.b64encode(pem_key).decode())


def bad_kubeconfig(tmp_path: Path, case: str) -> tuple[Path, str]:
    """(kubeconfig, what kubectl and kbmc both say) for one class of entry client-go cannot load."""
    cluster: dict[str, Any] = {"server": "https://127.0.0.1:1"}
    user: dict[str, Any] = {"token": "a-good-token-value"}
    context: dict[str, Any] = {"cluster": "c", "user": "u"}
    expect = {"namespace-int": "cannot unmarshal number", "token-int": "cannot unmarshal number",
              "server-int": "cannot unmarshal number", "insecure-string": "cannot unmarshal string",
              "bad-base64": "illegal base64 data", "key-mismatch": "private key does not match public key",
              "key-not-pem": "failed to find any PEM data in key input",
              "token-file-newline": "invalid header field value",
              "proxy-space": "could not parse", "proxy-quote": "could not parse",
              "proxy-backslash": "could not parse"}[case]
    if case == "namespace-int":
        context["namespace"] = 123
    elif case == "token-int":
        user["token"] = 12345678
    elif case == "server-int":
        cluster["server"] = 47053
    elif case == "insecure-string":
        cluster["insecure-skip-tls-verify"] = "yes"
    elif case == "bad-base64":
        cluster["certificate-authority-data"] = "not*base64!"
    elif case in ("key-mismatch", "key-not-pem"):
        cert, key = _mismatched_cert_and_key()
        user = {"client-certificate-data": cert,
                "client-key-data": key if case == "key-mismatch" else base64.b64encode(b"plain text").decode()}
    elif case == "token-file-newline":
        token_file = tmp_path / "token"
        token_file.write_text("first-part\nsecond-part\n")
        user = {"tokenFile": str(token_file)}
    else:
        char = {"proxy-space": " ", "proxy-quote": '"', "proxy-backslash": "\\"}[case]
        cluster["proxy-url"] = f"http://alice:pa{char}ss-w0rd@127.0.0.1:3"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "k8s-1",
                                    "clusters": [{"name": "c", "cluster": cluster}],
                                    "users": [{"name": "u", "user": user}],
                                    "contexts": [{"name": "k8s-1", "context": context},
                                                 {"name": "cp", "context": {"cluster": "c", "user": "u"}}]}))
    return path, expect


@pytest.mark.parametrize("case", ["namespace-int", "token-int", "server-int", "insecure-string", "bad-base64",
                                  "key-mismatch", "key-not-pem", "token-file-newline", "proxy-space", "proxy-quote",
                                  "proxy-backslash"])
def test_kubeconfig_entries_client_go_cannot_load_are_refused(kbmc, tmp_path: Path, case: str) -> None:
    path, expect = bad_kubeconfig(tmp_path, case)
    env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "kube-cache")}
    oracle = subprocess.run(["kubectl", f"--kubeconfig={path}", "--context=k8s-1", "--request-timeout=5s",
                             "get", "--raw", "/version"], capture_output=True, text=True, env=env, timeout=60,
                            check=False)
    assert oracle.returncode != 0 and expect in oracle.stderr, oracle.stderr
    for command in (["env", "check"], ["env", "prepare", "--allow-loopback", "--dry-run"]):
        r = kbmc("--context", "cp", "--data-planes", "k8s-1", *command, kubeconfig=path)
        assert r.code == 2 and expect in r.stderr, (command, r.stderr)
        assert "unreachable" not in r.stderr and "pa ss-w0rd" not in r.output and 'pa"ss' not in r.output


@pytest.mark.parametrize("server", ["127.0.0.1:47053/?x=://", "localhost:6443#://", "[::1]:6443/#://"])
def test_loopback_check_uses_the_parse_that_dials(kbmc, tmp_path: Path, server: str) -> None:
    """url_host and server_url once parsed differently: a scheme-less server with `://` later slipped through."""
    from kbmc import kubeconfig as kc

    assert kc.is_loopback_server(server)
    assert kc.url_host(kc.server_url({"server": server})) == kc.url_host(server)


# ---- --namespace and --release: one definition, checked before any cluster is called ---------------------

# Every command taking -n/--namespace or --release, with what else it needs to get as far as that check.
NAMESPACE_COMMANDS = {
    "doctor": ["doctor"],
    "operator install": ["operator", "install", "--data-planes", "k8s-1"],
    "operator status": ["operator", "status"],
    "contexts list": ["contexts", "list"],
    "contexts disable": ["contexts", "disable", "k8s-2"],
    "contexts enable": ["contexts", "enable", "k8s-2"],
    "contexts add": ["contexts", "add", "k8s-4"],
    "contexts remove": ["contexts", "remove", "k8s-3"],
    "env prepare": ["env", "prepare", "--data-planes", "k8s-1"],
    "env check": ["env", "check", "--data-planes", "k8s-1"],
    "cluster create etcd": ["cluster", "create", "etcd", "--no-placement"],
    "cluster status": ["cluster", "status", "e1"],
    "cluster list": ["cluster", "list"],
    "cluster delete": ["cluster", "delete", "e1"],
    "network expose": ["network", "expose", "e1"],
}
RELEASE_COMMANDS = {name: args for name, args in NAMESPACE_COMMANDS.items()
                    if name.split()[0] in ("doctor", "operator", "contexts")}


def _options() -> list[tuple[str, str, str]]:
    """(option, command as `group sub`, its help) for every option of every registered kbmc command."""
    import click
    import typer.main

    from kbmc.cli.main import app, register_groups

    register_groups()
    found: list[tuple[str, str, str]] = []

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
            return
        for p in command.params:
            if isinstance(p, click.Option):
                found.extend((opt, " ".join(path), p.help or "") for opt in p.opts)

    walk(typer.main.get_command(app), [])
    return found


def _commands_with(option: str) -> set[str]:
    return {path for opt, path, _ in _options() if opt == option}


def test_every_namespace_and_release_option_is_in_these_tests() -> None:
    assert _commands_with("--namespace") == set(NAMESPACE_COMMANDS)
    assert _commands_with("--release") == set(RELEASE_COMMANDS)


@pytest.mark.parametrize("command", list(NAMESPACE_COMMANDS))
@pytest.mark.parametrize("value", ["BAD_NS", "", "kb.system", "a" * 64])
def test_every_namespace_flag_is_a_namespace_name(kbmc, no_kubeconfig, command, value) -> None:
    """Refused offline (no kubeconfig at all: no cluster could have been called), in one line, as `--namespace`."""
    r = kbmc("--context", "cp", *NAMESPACE_COMMANDS[command], "-n", value)
    one_error(r, "--namespace: ")


@pytest.mark.parametrize("command", list(RELEASE_COMMANDS))
@pytest.mark.parametrize("value", ["Bad Release", "", "kube.blocks", "a" * 54])
def test_every_release_flag_is_a_helm_release_name(kbmc, no_kubeconfig, command, value) -> None:
    r = kbmc("--context", "cp", *RELEASE_COMMANDS[command], "--release", value)
    one_error(r, "--release: release name")


def test_the_namespace_and_release_options_read_the_same_everywhere() -> None:
    """One flag, one meaning: the KubeBlocks namespace and the release are described alike in every command."""
    helps: dict[str, set[str]] = {"--namespace": set(), "--release": set()}
    for option, path, help_text in _options():
        if option == "--release" or (option == "--namespace" and path.split()[0] in ("doctor", "operator",
                                                                                     "contexts", "env")):
            helps[option].add(help_text)
    assert helps == {"--namespace": {"KubeBlocks namespace (default: kbmc.yaml's, else kb-system)."},
                     "--release": {"Release name (default: kbmc.yaml's, else kubeblocks)."}}


# ---- context arguments of `kbmc contexts`: checked first, never suggested back --------------------------


@pytest.mark.parametrize("command", ["disable", "enable", "add", "remove"])
@pytest.mark.parametrize(("context", "message"), [
    ("", "context name must not be empty"),
    ("k8s-1,k8s-2", "contains a comma"),
    (" k8s-1", "white space"),
    ('k8s"1', "double quote"),
])
def test_contexts_arguments_are_context_names(kbmc, no_kubeconfig, command, context, message) -> None:
    r = kbmc("--context", "cp", "contexts", command, context)
    one_error(r, message)
    assert "kbmc contexts add" not in r.stderr  # no command naming the bad input to run next


def test_a_comma_list_is_told_to_be_separate_arguments(kbmc, no_kubeconfig) -> None:
    r = kbmc("--context", "cp", "contexts", "disable", "k8s-1,k8s-2")
    one_error(r, "pass one context per argument: k8s-1 k8s-2")
    r = kbmc("--context", "cp", "contexts", "disable", "k8s-3", "k8s-1,k8s-2")  # any of them
    one_error(r, "'k8s-1,k8s-2' contains a comma")
