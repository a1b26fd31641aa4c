"""`env prepare` / `env check` hardening, with the bed's API servers and kubectl as the oracles.

Each test names the class of defect it guards (credential leaks, token handling, impersonation,
loopback, configs kubectl refuses, Secret data loss, context removal, immutable Secrets, check UX).
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

from kbmc.clients import ClientRegistry, resource_path
from tests.bed.test_env import bed_doc, prepare, secret_path


def kubectl(kubeconfig: Path, *args: str, context: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECACHEDIR": str(kubeconfig.parent / "kube-cache")}
    argv = ["kubectl", f"--kubeconfig={kubeconfig}", *([f"--context={context}"] if context else []), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def whoami(kubeconfig: Path, context: str) -> str:
    r = kubectl(kubeconfig, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}", context=context)
    return r.stdout if r.returncode == 0 else f"error: {r.stderr.strip()}"


def variant(bed, tmp_path: Path, name: str, *, cluster: dict[str, Any] | None = None,  # type: ignore[no-untyped-def]
            user: dict[str, Any] | None = None, edit: Any = None) -> Path:
    """The bed's kubeconfig with k8s-1's cluster and/or user entry changed."""
    doc = bed_doc(bed)
    for c in doc["clusters"]:
        if c["name"] == "k8s-1" and cluster is not None:
            c["cluster"] = cluster
    for u in doc["users"]:
        if u["name"] == "k8s-1-admin" and user is not None:
            u["user"] = user
    if edit:
        edit(doc)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return path


def k8s1(bed) -> tuple[dict[str, Any], dict[str, Any]]:  # type: ignore[no-untyped-def]
    doc = bed_doc(bed)
    cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == "k8s-1")
    user = next(u["user"] for u in doc["users"] if u["name"] == "k8s-1-admin")
    return copy.deepcopy(cluster), copy.deepcopy(user)


def check_rows(kbmc, kubeconfig: Path, planes: str = "k8s-1", *extra: str) -> tuple[Any, dict[str, Any]]:  # type: ignore[no-untyped-def]
    r = kbmc("env", "check", "--context", "cp", "--data-planes", planes, "-o", "json", *extra, kubeconfig=kubeconfig)
    rows = {c["context"]: c for c in json.loads(r.stdout)["contexts"]} if r.stdout else {}
    return r, rows


def shipped_kubeconfig(registry: ClientRegistry, ns: str) -> dict[str, Any]:
    secret = registry.for_context("cp").get(secret_path(ns))
    doc: dict[str, Any] = yaml.safe_load(base64.b64decode(secret["data"]["kubeconfig"]))
    return doc


# ---- tokens: as kubectl/client-go use them ---------------------------------------------------------


def test_token_file_wins_over_token_and_is_trimmed_like_kubectl(kbmc, bed, registry: ClientRegistry,
                                                               unique_name, tmp_path: Path) -> None:
    cluster, _ = k8s1(bed)
    token_file = tmp_path / "tok"
    token_file.write_text(bed.state.clusters["k8s-1"].viewer_token + "\n")  # `echo $T > tok`
    path = variant(bed, tmp_path, "both", user={"token": "not-the-token-0000", "tokenFile": str(token_file)})
    assert whoami(path, "k8s-1") == "kbmc-viewer"  # kubectl: the file wins, trimmed
    r, rows = check_rows(kbmc, path)
    assert rows["k8s-1"]["user"] == "kbmc-viewer", r.stderr
    ns = unique_name("kbs")
    assert prepare(kbmc, bed, ns, "--allow-loopback", kubeconfig=path, planes="k8s-1").code == 0
    user = shipped_kubeconfig(registry, ns)["users"][0]["user"]
    assert user == {"token": bed.state.clusters["k8s-1"].viewer_token}  # inlined, trimmed, no workstation path
    registry.for_context("cp").delete(resource_path("v1", "namespaces", name=ns))


def test_inline_token_with_newline_is_refused_with_kubectls_reason(kbmc, bed, tmp_path: Path) -> None:
    token = bed.state.clusters["k8s-1"].viewer_token
    path = variant(bed, tmp_path, "nl", user={"token": token + "\n"})
    oracle = kubectl(path, "get", "--raw", "/version", context="k8s-1")
    assert oracle.returncode != 0 and "invalid header field value" in oracle.stderr
    for args in (["env", "check", "--context", "cp", "--data-planes", "k8s-1", "-o", "json"],
                 ["env", "prepare", "--context", "cp", "--data-planes", "k8s-1", "--allow-loopback", "--dry-run"]):
        r = kbmc(*args, kubeconfig=path)
        assert r.code == 2 and r.stdout == ""
        assert "contains a newline" in r.stderr and "invalid header field value" in r.stderr
        assert token not in r.output


# ---- impersonation: checked as the operator will act ----------------------------------------------------


def test_check_honours_impersonation(kbmc, bed, tmp_path: Path) -> None:
    _, admin = k8s1(bed)
    path = variant(bed, tmp_path, "as-viewer", user={**admin, "as": "kbmc-viewer"})
    assert whoami(path, "k8s-1") == "kbmc-viewer"
    r, rows = check_rows(kbmc, path)
    assert r.code == 1
    assert rows["k8s-1"]["user"] == "kbmc-viewer"  # not the admin whose certificate signs the requests
    assert "create pods" in rows["k8s-1"]["missingPermissions"]

    # Several groups: each one its own Impersonate-Group header, as client-go sends them.
    path = variant(bed, tmp_path, "as-groups", user={**admin, "as": "ops", "as-groups": ["team-a", "system:masters"]})
    oracle = json.loads(kubectl(path, "auth", "whoami", "-o", "json", context="k8s-1").stdout)["status"]["userInfo"]
    r, rows = check_rows(kbmc, path)
    assert r.code == 0, r.stderr
    assert rows["k8s-1"]["user"] == oracle["username"] == "ops"
    assert {"team-a", "system:masters"} <= set(rows["k8s-1"]["groups"]) == set(oracle["groups"])


# ---- loopback, decided on the parsed address ------------------------------------------------------------


@pytest.mark.parametrize("form", ["0.0.0.0",  # noqa: S104 - parsed, never bound or dialled
                                  "[::ffff:127.0.0.1]", "scheme-less-localhost", "upper-case",
                                  "proxy-url"])
def test_prepare_refuses_every_loopback_form(kbmc, bed, registry: ClientRegistry, tmp_path: Path, unique_name,
                                              form: str) -> None:
    cluster, _ = k8s1(bed)
    port = bed.state.clusters["k8s-1"].port
    if form == "proxy-url":
        cluster["server"] = "https://k8s-1.invalid:6443"  # .invalid never resolves; prepare only parses it
        cluster["proxy-url"] = "http://localhost:3128"
    elif form == "scheme-less-localhost":
        cluster["server"] = f"localhost:{port}"
    elif form == "upper-case":
        cluster["server"] = f"HTTPS://LOCALHOST:{port}"
    else:
        cluster["server"] = f"https://{form}:{port}"
    path = variant(bed, tmp_path, "lo", cluster=cluster)
    ns = unique_name("kbs")
    r = kbmc("env", "prepare", "--context", "cp", "--data-planes", "k8s-1", "-n", ns, kubeconfig=path)
    assert r.code == 2, r.output
    assert "loopback address" in r.stderr and ("proxy-url" in r.stderr) == (form == "proxy-url")
    assert registry.for_context("cp").get_or_none(resource_path("v1", "namespaces", name=ns)) is None


# ---- configs kubectl refuses -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["insecure-with-ca", "cert-without-key", "duplicate-context"])
def test_configs_kubectl_rejects_are_refused_with_its_reason(kbmc, bed, tmp_path: Path, case: str) -> None:
    cluster, admin = k8s1(bed)
    if case == "insecure-with-ca":
        path = variant(bed, tmp_path, case, cluster={**cluster, "insecure-skip-tls-verify": True})
        reason = "specifying a root certificates file with the insecure flag is not allowed"
    elif case == "cert-without-key":
        path = variant(bed, tmp_path, case, user={"client-certificate-data": admin["client-certificate-data"]})
        reason = "client-key-data or client-key must be specified for k8s-1-admin to use the clientCert"
    else:
        path = variant(bed, tmp_path, case, edit=lambda d: d["contexts"].append(copy.deepcopy(d["contexts"][1])))
        reason = 'duplicate name "k8s-1" in list'
    oracle = kubectl(path, "get", "--raw", "/version", context="k8s-1")
    assert oracle.returncode != 0 and reason in oracle.stderr
    for args in (["env", "check", "--context", "cp", "--data-planes", "k8s-1"],
                 ["env", "prepare", "--context", "cp", "--data-planes", "k8s-1", "--allow-loopback", "--dry-run"]):
        r = kbmc(*args, kubeconfig=path)
        assert r.code == 2 and reason in r.stderr and r.stdout == "", r.output


# ---- what kubectl accepts, env check accepts --------------------------------------------------------------


def test_check_goes_through_a_socks5_proxy(kbmc, bed, tmp_path: Path) -> None:
    from tests.testbed.proxy import Socks5Proxy

    cluster, _ = k8s1(bed)
    with Socks5Proxy() as proxy:
        path = variant(bed, tmp_path, "socks", cluster={**cluster, "proxy-url": proxy.url})
        assert whoami(path, "k8s-1") == "kbmc-admin"
        seen_by_kubectl = len(proxy.connects)
        r, rows = check_rows(kbmc, path)
    assert seen_by_kubectl >= 1
    assert r.code == 0, r.output
    assert rows["k8s-1"]["ok"] and rows["k8s-1"]["user"] == "kbmc-admin"
    assert len(proxy.connects) > seen_by_kubectl  # kbmc's requests went through the proxy too


@pytest.mark.parametrize("case", ["upper-case-scheme", "exec-null", "scheme-less"])
def test_check_treats_servers_and_users_as_kubectl_does(kbmc, bed, tmp_path: Path, case: str) -> None:
    cluster, admin = k8s1(bed)
    if case == "upper-case-scheme":
        path = variant(bed, tmp_path, case, cluster={**cluster, "server": cluster["server"].replace("https", "HTTPS")})
    elif case == "exec-null":
        path = variant(bed, tmp_path, case, user={"exec": None, "token": bed.state.clusters["k8s-1"].viewer_token})
    else:
        path = variant(bed, tmp_path, case, cluster={**cluster, "server": cluster["server"].split("://", 1)[1]})
    oracle = kubectl(path, "get", "--raw", "/version", context="k8s-1")
    r, rows = check_rows(kbmc, path)
    assert "Traceback" not in r.stderr and "unexpected" not in r.stderr
    if case == "scheme-less":
        # kubectl dials a scheme-less server over plain http, and this server speaks https: both fail the same way.
        assert oracle.returncode != 0
        assert rows["k8s-1"]["ok"] is False and "HTTP request to an HTTPS server" in rows["k8s-1"]["error"]
    else:
        assert oracle.returncode == 0, oracle.stderr
        assert rows["k8s-1"]["reachable"] and rows["k8s-1"]["version"] == json.loads(oracle.stdout)["gitVersion"]
        # ... and prepare ships it: `exec: null` is no exec plugin, the upper-case scheme is a URL.
        r = kbmc("env", "prepare", "--context", "cp", "--data-planes", "k8s-1", "--allow-loopback", "--dry-run",
                 kubeconfig=path)
        assert r.code == 0, r.stderr


# ---- env prepare: no data loss -------------------------------------------------------------------------------


def test_prepare_keeps_keys_it_does_not_own(kbmc, bed, registry: ClientRegistry, unique_name) -> None:
    ns = unique_name("kbs")
    cp = registry.for_context("cp")
    assert prepare(kbmc, bed, ns, "--allow-loopback", planes="k8s-1").code == 0
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()
    cp.patch(secret_path(ns), {"data": {"ca-bundle": ca}})
    r = prepare(kbmc, bed, ns, "--allow-loopback", planes="k8s-1,k8s-2")
    assert r.code == 0 and "added k8s-2" in r.stderr, r.stderr
    data = cp.get(secret_path(ns))["data"]
    assert data["ca-bundle"] == ca and set(data) == {"kubeconfig", "ca-bundle"}
    cp.delete(resource_path("v1", "namespaces", name=ns))


def test_prepare_refuses_a_secret_kbmc_did_not_create(kbmc, bed, registry: ClientRegistry, make_namespace) -> None:
    ns = make_namespace("cp")
    cp = registry.for_context("cp")
    theirs = base64.b64encode(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "contexts": []}).encode()).decode()
    cp.create(resource_path("v1", "secrets", ns), {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mc-kubeconfig"}, "type": "kubernetes.kubeconfig",
        "data": {"kubeconfig": theirs, "notes": base64.b64encode(b"hand made").decode()}})
    rv = cp.get(secret_path(ns))["metadata"]["resourceVersion"]
    r = prepare(kbmc, bed, ns, "--allow-loopback")
    assert r.code == 2 and "kbmc did not create it" in r.stderr and "--force" in r.stderr
    assert cp.get(secret_path(ns))["metadata"]["resourceVersion"] == rv
    r = prepare(kbmc, bed, ns, "--allow-loopback", "--force")
    assert r.code == 0, r.stderr
    secret = cp.get(secret_path(ns))
    assert base64.b64decode(secret["data"]["notes"]) == b"hand made"
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kbmc"


# The labels the KubeBlocks chart gives its manager Deployment (release `kubeblocks`).
CHART_LABELS = {"app.kubernetes.io/name": "kubeblocks", "app.kubernetes.io/instance": "kubeblocks",
                "app.kubernetes.io/component": "apps"}


def operator_deployment(contexts: str, name: str = "kubeblocks", release: str = "kubeblocks") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {**CHART_LABELS, "app.kubernetes.io/instance": release}},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "kb"}}, "template": {
                "metadata": {"labels": {"app": "kb"}},
                "spec": {"containers": [{"name": "manager", "image": "apecloud/kubeblocks:1.0.0",
                                         "args": ["--leader-elect", f"--multi-cluster-contexts={contexts}"]}]}}}}


def test_prepare_refuses_removing_a_context_the_operator_uses(kbmc, bed, registry: ClientRegistry,
                                                             unique_name) -> None:
    ns = unique_name("kbs")
    cp = registry.for_context("cp")
    assert prepare(kbmc, bed, ns, "--allow-loopback").code == 0
    cp.create(resource_path("apps/v1", "deployments", ns), operator_deployment("k8s-1,k8s-2,k8s-3"))
    rv = cp.get(secret_path(ns))["metadata"]["resourceVersion"]
    for dry in ([], ["--dry-run"]):
        r = prepare(kbmc, bed, ns, "--allow-loopback", *dry, planes="k8s-1")
        assert r.code == 2, r.output
        assert "refusing to remove k8s-2, k8s-3" in r.stderr and f"Deployment {ns}/kubeblocks" in r.stderr
        assert "--allow-remove" in r.stderr
    assert cp.get(secret_path(ns))["metadata"]["resourceVersion"] == rv
    # Only what the operator does not list may go without the flag.
    cp.patch(resource_path("apps/v1", "deployments", ns, "kubeblocks"), operator_deployment("k8s-1,k8s-2"))
    r = prepare(kbmc, bed, ns, "--allow-loopback", planes="k8s-1,k8s-2")
    assert r.code == 0 and "removed k8s-3" in r.stderr, r.output
    r = prepare(kbmc, bed, ns, "--allow-loopback", "--allow-remove", planes="k8s-1")
    assert r.code == 0 and "removed k8s-2" in r.stderr, r.output
    assert [c["name"] for c in shipped_kubeconfig(registry, ns)["contexts"]] == ["k8s-1"]
    cp.delete(resource_path("v1", "namespaces", name=ns))


def test_guard_finds_the_operator_by_the_charts_labels_whatever_the_release(kbmc, bed, registry: ClientRegistry,
                                                                           unique_name) -> None:
    """`operator install --release kb` makes Deployment kb-kubeblocks: the guard still sees it."""
    ns = unique_name("kbs")
    cp = registry.for_context("cp")
    assert prepare(kbmc, bed, ns, "--allow-loopback").code == 0
    cp.create(resource_path("apps/v1", "deployments", ns),
              operator_deployment("k8s-1,k8s-2", name="kb-kubeblocks", release="kb"))
    rv = cp.get(secret_path(ns))["metadata"]["resourceVersion"]
    r = prepare(kbmc, bed, ns, "--allow-loopback", planes="k8s-1")
    assert r.code == 2 and "refusing to remove k8s-2" in r.stderr, r.output
    assert f"Deployment {ns}/kb-kubeblocks" in r.stderr
    assert cp.get(secret_path(ns))["metadata"]["resourceVersion"] == rv
    cp.delete(resource_path("v1", "namespaces", name=ns))


def test_force_over_another_type_applies_the_same_guard_and_names_dropped_contexts(
        kbmc, bed, registry: ClientRegistry, make_namespace) -> None:
    ns = make_namespace("cp")
    cp = registry.for_context("cp")
    theirs = copy.deepcopy(bed_doc(bed))  # a kubeconfig holding k8s-1 and k8s-2, in an Opaque Secret
    theirs["contexts"] = [c for c in theirs["contexts"] if c["name"] in ("k8s-1", "k8s-2")]
    cp.create(resource_path("v1", "secrets", ns), {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mc-kubeconfig"}, "type": "Opaque",
        "data": {"kubeconfig": base64.b64encode(yaml.safe_dump(theirs).encode()).decode()}})
    cp.create(resource_path("apps/v1", "deployments", ns), operator_deployment("k8s-1,k8s-2"))
    uid = cp.get(secret_path(ns))["metadata"]["uid"]
    for dry in ([], ["--dry-run"]):
        r = prepare(kbmc, bed, ns, "--allow-loopback", "--force", *dry, planes="k8s-1")
        assert r.code == 2 and "refusing to remove k8s-2" in r.stderr and "--allow-remove" in r.stderr, r.output
    assert cp.get(secret_path(ns))["metadata"]["uid"] == uid  # not replaced
    r = prepare(kbmc, bed, ns, "--allow-loopback", "--force", "--allow-remove", planes="k8s-1")
    assert r.code == 0 and "replaced" in r.stderr and "removed k8s-2" in r.stderr, r.output
    secret = cp.get(secret_path(ns))
    assert secret["type"] == "kubernetes.kubeconfig"
    assert [c["name"] for c in shipped_kubeconfig(registry, ns)["contexts"]] == ["k8s-1"]


def test_immutable_secret_is_one_clear_line_and_force_recreates_it(kbmc, bed, registry: ClientRegistry,
                                                                   unique_name) -> None:
    ns = unique_name("kbs")
    cp = registry.for_context("cp")
    assert prepare(kbmc, bed, ns, "--allow-loopback", planes="k8s-1").code == 0
    cp.patch(secret_path(ns), {"immutable": True, "data": {"extra": base64.b64encode(b"x").decode()}})
    rv = cp.get(secret_path(ns))["metadata"]["resourceVersion"]
    r = prepare(kbmc, bed, ns, "--allow-loopback", planes="k8s-1")
    assert r.code == 0 and "nothing changed" in r.stderr  # same content: nothing to write
    r = prepare(kbmc, bed, ns, "--allow-loopback", planes="k8s-1,k8s-2")
    assert r.code == 1
    errors = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and "is immutable" in errors[0] and "--force" in errors[0], r.stderr
    assert "422" not in r.stderr and cp.get(secret_path(ns))["metadata"]["resourceVersion"] == rv
    r = prepare(kbmc, bed, ns, "--allow-loopback", "--force", planes="k8s-1,k8s-2")
    assert r.code == 0, r.stderr
    secret = cp.get(secret_path(ns))
    assert secret["immutable"] is True and base64.b64decode(secret["data"]["extra"]) == b"x"
    assert [c["name"] for c in shipped_kubeconfig(registry, ns)["contexts"]] == ["k8s-1", "k8s-2"]
    cp.delete(resource_path("v1", "namespaces", name=ns))


# ---- env check: what the rows say ---------------------------------------------------------------------------


def test_insecure_context_is_said_once_in_its_row(kbmc, bed, tmp_path: Path) -> None:
    cluster, _ = k8s1(bed)
    path = variant(bed, tmp_path, "insecure", cluster={"server": cluster["server"], "insecure-skip-tls-verify": True})
    r, rows = check_rows(kbmc, path)
    assert r.code == 0, r.stderr
    assert "InsecureRequestWarning" not in r.stderr
    assert len(rows["k8s-1"]["warnings"]) == 1 and "insecure-skip-tls-verify" in rows["k8s-1"]["warnings"][0]
    r = kbmc("env", "check", "--context", "cp", "--data-planes", "k8s-1", kubeconfig=path)
    assert r.stderr.count("insecure-skip-tls-verify") == 1 and "InsecureRequestWarning" not in r.stderr


def test_unreachable_and_unauthenticated_read_plainly(kbmc, bed, tmp_path: Path) -> None:
    cluster, _ = k8s1(bed)
    path = variant(bed, tmp_path, "down-and-401", user={"token": "wrong-token-0123456789"},
                   edit=lambda d: [c["cluster"].update(server="https://127.0.0.1:1") for c in d["clusters"]
                                   if c["name"] == "k8s-2"])
    r, rows = check_rows(kbmc, path, "k8s-1,k8s-2")
    assert r.code == 1
    assert rows["k8s-1"]["error"] == "not authenticated: the server rejected the credentials (401 Unauthorized)"
    down = rows["k8s-2"]["error"]
    assert down.startswith("unreachable: ") and "unreachable: unreachable" not in down
    assert down.count("(") == down.count(")") and "Connection refused" in down
    assert "wrong-token-0123456789" not in r.output


# ---- credentials never printed: every error path, every output mode ----------------------------------------


def leaky_kubeconfig(bed, tmp_path: Path) -> tuple[Path, dict[str, str]]:  # type: ignore[no-untyped-def]
    """Contexts carrying every kind of credential, each driven into an error path on the real bed.

    k8s-1: client certificate + key (works); k8s-2: a tokenFile with a trailing newline for the
    permission-less viewer (403s); k8s-3: basic auth (the server ignores it: anonymous); wrong: a token
    the server rejects (401); px: a proxy URL with a password
    (unreachable); nl: an inline token with a newline (refused).
    """
    viewer = bed.state.clusters["k8s-2"].viewer_token
    token_file = tmp_path / "viewer-token"
    token_file.write_text(viewer + "\n")
    doc = bed_doc(bed)
    key_b64 = next(u["user"]["client-key-data"] for u in doc["users"] if u["name"] == "k8s-1-admin")
    for u in doc["users"]:
        if u["name"] == "k8s-2-admin":
            u["user"] = {"tokenFile": str(token_file)}
        if u["name"] == "k8s-3-admin":
            u["user"] = {"username": "alice", "password": "basic-Pa55w0rd-xyzzy"}
    k1 = next(c["cluster"] for c in doc["clusters"] if c["name"] == "k8s-1")
    doc["clusters"].append({"name": "px", "cluster": {**k1, "proxy-url": "http://proxyuser:proxy-Pw-31337@127.0.0.1:9"}})
    doc["contexts"].append({"name": "px", "context": {"cluster": "px", "user": "k8s-1-admin"}})
    doc["users"].append({"name": "wrong", "user": {"token": "wrong-Tok3n-rejected-401"}})
    doc["contexts"].append({"name": "wrong", "context": {"cluster": "k8s-1", "user": "wrong"}})
    doc["clusters"].append({"name": "nl", "cluster": k1})
    doc["users"].append({"name": "nl", "user": {"token": "inline-Tok3n-with-newline\n"}})
    doc["contexts"].append({"name": "nl", "context": {"cluster": "nl", "user": "nl"}})
    path = tmp_path / "leaky"
    path.write_text(yaml.safe_dump(doc))
    pem = base64.b64decode(key_b64).decode()
    secrets = {"viewer token": viewer, "password": "basic-Pa55w0rd-xyzzy", "proxy password": "proxy-Pw-31337",
               "--server password": "srv-Pw-271828", "inline token": "inline-Tok3n-with-newline",
               "client key (base64)": key_b64, "rejected token": "wrong-Tok3n-rejected-401",
               "client key (PEM body)": next(ln for ln in pem.splitlines() if ln and not ln.startswith("-----"))}
    return path, secrets


def run_every_mode(kbmc, bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                   unique_name) -> tuple[str, dict[str, str]]:
    """Every output mode and error path with the leaky kubeconfig; returns all that was printed."""
    path, secrets = leaky_kubeconfig(bed, tmp_path)
    ns = unique_name("kbs")
    outputs: list[str] = []

    def run(*args: str) -> None:
        outputs.append(kbmc(*args, kubeconfig=path).output)

    check = ["env", "check", "--context", "cp", "--data-planes", "k8s-1,k8s-2,k8s-3,px,wrong"]
    prep = ["env", "prepare", "--context", "cp", "--data-planes", "k8s-1,k8s-2", "-n", ns, "--allow-loopback",
            "--server", "k8s-1=https://srvuser:srv-Pw-271828@127.0.0.1:1"]
    for mode in ([], ["-o", "json"], ["-o", "yaml"], ["--debug"]):
        run(*check, *mode)
        run(*prep, "--dry-run", *mode)
    run(*prep, "-o", "json")  # writes the Secret, prints it
    run(*prep, "-o", "yaml", "--data-planes", "k8s-1")  # refused/updated paths
    for mode in ([], ["-o", "json"], ["--debug"]):
        run("env", "check", "--context", "cp", "--data-planes", "nl", *mode)
        run("env", "prepare", "--context", "cp", "--data-planes", "nl", "--dry-run", *mode)

    # A library whose exception text carries the credentials (as urllib3's "Invalid header value b'Bearer …'" did):
    # forced on every request, in every mode, with and without --debug.
    from kubernetes.client import ApiClient

    pem = base64.b64decode(secrets["client key (base64)"]).decode()

    calls = iter(range(1_000_000))

    def leaking_call_api(self: Any, method: str, url: str, header_params: Any = None, **kw: Any) -> Any:
        if next(calls) % 2:
            raise ValueError(f"Invalid header value b'Bearer {secrets['viewer token']}\\n' via "
                             f"http://proxyuser:{secrets['proxy password']}@127.0.0.1:9 "
                             f"(Authorization: Basic alice:{secrets['password']})")
        raise ValueError(f"bad key {pem!r}")

    monkeypatch.setattr(ApiClient, "call_api", leaking_call_api)
    for mode in ([], ["-o", "json"], ["-o", "yaml"], ["--debug"], ["--debug", "-o", "json"]):
        run(*check, *mode)
        run(*prep, *mode)
        run(*prep, "--dry-run", *mode)
    monkeypatch.undo()
    registry = ClientRegistry(__import__("kbmc.kubeconfig", fromlist=["load"]).load(str(bed.kubeconfig_path)))
    registry.for_context("cp").delete(resource_path("v1", "namespaces", name=ns))
    registry.close()
    return "\n".join(outputs), secrets


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value in text]


def test_no_credential_in_any_output_mode_or_error_path(kbmc, bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         unique_name) -> None:
    text, secrets = run_every_mode(kbmc, bed, tmp_path, monkeypatch, unique_name)
    # The paths were really taken (so the grep below means something).
    assert "contains a newline" in text, text[-3000:]
    assert "not authenticated: the server rejected the credentials (401" in text
    assert "not authenticated: the server took the request as anonymous" in text
    assert "Traceback" in text and "REDACTED" in text and "Invalid header value" in text
    assert "missing: " in text  # the viewer's real 403s
    assert leaks(text, secrets) == []


def test_the_leak_test_fails_without_redaction(kbmc, bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                unique_name) -> None:
    """The same run with a no-op redactor prints every credential: the test above can fail."""
    from kbmc import redact

    monkeypatch.setattr(redact, "text", lambda message: message)
    monkeypatch.setattr(redact, "data", lambda doc: doc)
    text, secrets = run_every_mode(kbmc, bed, tmp_path, monkeypatch, unique_name)
    # Every form leaks, but the inline and the rejected token: no message quotes them any more.
    assert sorted(leaks(text, secrets)) == sorted(set(secrets) - {"inline token", "rejected token"}), \
        leaks(text, secrets)


@pytest.mark.parametrize("password", ["s3cr'et99-x", "p@ss@word99", "pa/ssw0rd99"])
def test_url_credentials_in_flags_and_proxy_urls_never_show(kbmc, bed, tmp_path: Path, unique_name,
                                                            password: str) -> None:
    """Go's net/url reads user info up to the last '@'; '/', "'" and '@' in a password once leaked half or all."""
    cluster, _ = k8s1(bed)
    path = variant(bed, tmp_path, "proxied", cluster={**cluster, "proxy-url": f"http://alice:{password}@127.0.0.2:3128"})
    ns = unique_name("kbs")
    for mode in ([], ["-o", "json"]):
        r = kbmc("env", "prepare", "--context", "cp", "--data-planes", "k8s-1,k8s-2", "-n", ns, "--allow-loopback",
                 "--server", f"k8s-2=https://bob:{password}@127.0.0.1:6443", "--dry-run", *mode, kubeconfig=path)
        for part in (password, *[p for p in password.replace("/", "@").split("@") if len(p) >= 4]):
            assert part not in r.output, (part, r.output)
        # Shown redacted, or (a '/' in the user info: Go's url.Parse rejects it) refused without quoting it.
        assert "REDACTED" in r.output if r.code == 0 else r.code == 2 and "invalid port after host" in r.output


def immutable_secret(kbmc, bed, cp, ns: str, extra: bytes) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert prepare(kbmc, bed, ns, "--allow-loopback", planes="k8s-1").code == 0
    cp.patch(secret_path(ns), {"immutable": True, "data": {"extra": base64.b64encode(extra).decode()}})
    return cp.get(secret_path(ns))  # type: ignore[no-any-return]


def test_force_on_an_immutable_secret_with_finalizers_changes_nothing(kbmc, bed, registry: ClientRegistry,
                                                                       unique_name) -> None:
    """Deleting it would leave it terminating; the create would get 409 and every kept key would be lost."""
    ns = unique_name("kbs")
    cp = registry.for_context("cp")
    before = immutable_secret(kbmc, bed, cp, ns, b"keep-me")
    cp.patch(secret_path(ns), {"metadata": {"finalizers": ["example.com/hold"]}})
    r = prepare(kbmc, bed, ns, "--allow-loopback", "--force", planes="k8s-1,k8s-2")
    assert r.code == 1 and "finalizers (example.com/hold)" in r.stderr and "nothing was changed" in r.stderr
    after = cp.get(secret_path(ns))
    assert after["metadata"]["uid"] == before["metadata"]["uid"] and "deletionTimestamp" not in after["metadata"]
    assert base64.b64decode(after["data"]["extra"]) == b"keep-me"
    cp.patch(secret_path(ns), {"metadata": {"finalizers": None}})
    cp.delete(resource_path("v1", "namespaces", name=ns))


def test_force_on_an_immutable_secret_proves_the_create_before_deleting(kbmc, bed, registry: ClientRegistry,
                                                                        unique_name) -> None:
    """Other keys near the 1 MiB limit: the new object is refused (422) by a dry run, before anything is deleted."""
    ns = unique_name("kbs")
    cp = registry.for_context("cp")
    assert prepare(kbmc, bed, ns, "--allow-loopback", planes="k8s-1").code == 0
    size = len(base64.b64decode(cp.get(secret_path(ns))["data"]["kubeconfig"]))
    before = immutable_secret(kbmc, bed, cp, ns, b"x" * (1024 * 1024 - size - 16))
    r = prepare(kbmc, bed, ns, "--allow-loopback", "--force", planes="k8s-1,k8s-2")
    assert r.code == 1 and "dry run" in r.stderr and "nothing was changed" in r.stderr, r.stderr
    after = cp.get(secret_path(ns))
    assert after["metadata"]["uid"] == before["metadata"]["uid"] and after["data"] == before["data"]
    assert [s for s in cp.get(resource_path("v1", "secrets", ns))["items"] if "probe" in s["metadata"]["name"]] == []
    cp.delete(resource_path("v1", "namespaces", name=ns))


def test_a_token_no_http_header_can_carry_reads_as_invalid_credentials(kbmc, bed, tmp_path: Path) -> None:
    """Once "unreachable: 'latin-1' codec can't encode…" for a reachable server."""
    path = variant(bed, tmp_path, "non-latin1", user={"token": "t\u0151k\u0115n-\u0109-value"})
    r, rows = check_rows(kbmc, path)
    assert r.code == 1
    error = rows["k8s-1"]["error"]
    assert error.startswith("invalid credentials") and "unreachable" not in error, error


def test_force_without_create_permission_deletes_nothing(kbmc, bed, registry: ClientRegistry, unique_name,
                                                         tmp_path: Path) -> None:
    """RBAC allows delete but not create: the dry-run create is forbidden, so the Secret is never deleted."""
    ns = unique_name("kbs")
    cp = registry.for_context("cp")
    before = immutable_secret(kbmc, bed, cp, ns, b"keep-me")
    grant = unique_name("kbmc-no-create")
    rules = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "delete", "update", "patch"]},
             {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]
    cp.create(resource_path("rbac.authorization.k8s.io/v1", "clusterroles"),
              {"metadata": {"name": grant}, "rules": rules})
    cp.create(resource_path("rbac.authorization.k8s.io/v1", "clusterrolebindings"),
              {"metadata": {"name": grant}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                       "name": grant},
               "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "kbmc-viewer"}]})

    def as_viewer(doc: dict[str, Any]) -> None:
        user = next(c["context"]["user"] for c in doc["contexts"] if c["name"] == "cp")
        for u in doc["users"]:
            if u["name"] == user:
                u["user"] = {"token": bed.state.clusters["cp"].viewer_token}

    path = variant(bed, tmp_path, "no-create", edit=as_viewer)
    try:
        r = prepare(kbmc, bed, ns, "--allow-loopback", "--force", kubeconfig=path, planes="k8s-1,k8s-2")
        assert r.code == 1 and "nothing was changed" in r.stderr and "forbidden" in r.stderr, r.stderr
        after = cp.get(secret_path(ns))
        assert after["metadata"]["uid"] == before["metadata"]["uid"] and after["data"] == before["data"]
    finally:
        for kind in ("clusterrolebindings", "clusterroles"):
            cp.delete(resource_path("rbac.authorization.k8s.io/v1", kind, name=grant))
        cp.delete(resource_path("v1", "namespaces", name=ns))
