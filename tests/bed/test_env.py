"""`kbmc env prepare` and `kbmc env check` against the real bed (control plane + 3 data planes)."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from kbmc.clients import ClientRegistry, resource_path

DATA_PLANES = "k8s-1,k8s-2,k8s-3"


def secret_path(ns: str, name: str = "mc-kubeconfig") -> str:
    return resource_path("v1", "secrets", ns, name)


def prepare(kbmc, bed, ns: str, *extra: str, kubeconfig: Any = None, planes: str = DATA_PLANES):  # type: ignore[no-untyped-def]
    return kbmc("env", "prepare", "--context", "cp", "--data-planes", planes, "-n", ns,
                "--secret-name", "mc-kubeconfig", *extra, kubeconfig=kubeconfig or bed.kubeconfig_path)


def test_prepare_writes_a_secret_the_operator_can_load(kbmc, bed, registry: ClientRegistry, unique_name,
                                                       tmp_path: Path) -> None:
    ns = unique_name("kbs")
    r = prepare(kbmc, bed, ns, "--allow-loopback")
    assert r.code == 0, r.stderr
    assert "created" in r.stderr and r.stdout == ""
    cp = registry.for_context("cp")
    secret = cp.get(secret_path(ns))
    assert secret["type"] == "kubernetes.kubeconfig"
    kubeconfig = base64.b64decode(secret["data"]["kubeconfig"]).decode()
    doc = yaml.safe_load(kubeconfig)
    assert [c["name"] for c in doc["contexts"]] == ["k8s-1", "k8s-2", "k8s-3"]  # exactly the data planes
    assert not doc.get("current-context")
    assert "cp-admin" not in kubeconfig  # nothing from other contexts

    # Load it the way the operator does: an explicit file path and each context by name.
    mounted = tmp_path / "kubeconfig"
    mounted.write_text(kubeconfig)
    for ctx in ("k8s-1", "k8s-2", "k8s-3"):
        api = k8s_config.new_client_from_config(config_file=str(mounted), context=ctx)
        uid = k8s_client.CoreV1Api(api).read_namespace("kube-system").metadata.uid
        assert uid == registry.for_context(ctx).get(resource_path("v1", "namespaces", name="kube-system"))["metadata"]["uid"]
        api.close()
    cp.delete(resource_path("v1", "namespaces", name=ns))


def test_prepare_is_idempotent_and_adds_exactly_a_new_data_plane(kbmc, bed, registry: ClientRegistry,
                                                                 unique_name) -> None:
    ns = unique_name("kbs")
    cp = registry.for_context("cp")
    assert prepare(kbmc, bed, ns, "--allow-loopback").code == 0
    rv = cp.get(secret_path(ns))["metadata"]["resourceVersion"]
    r = prepare(kbmc, bed, ns, "--allow-loopback")
    assert r.code == 0 and "nothing changed" in r.stderr
    assert cp.get(secret_path(ns))["metadata"]["resourceVersion"] == rv

    bed.add_data_plane("k8s-4")
    try:
        r = prepare(kbmc, bed, ns, "--allow-loopback", "-o", "json", planes=DATA_PLANES + ",k8s-4")
        assert r.code == 0, r.stderr
        assert "updated: added k8s-4" in r.stderr
        assert "removed" not in r.stderr and "changed" not in r.stderr
        secret = cp.get(secret_path(ns))
        doc = yaml.safe_load(base64.b64decode(secret["data"]["kubeconfig"]))
        assert [c["name"] for c in doc["contexts"]] == ["k8s-1", "k8s-2", "k8s-3", "k8s-4"]
        assert json.loads(r.stdout)["kind"] == "Secret"
    finally:
        bed.remove_cluster("k8s-4")
    cp.delete(resource_path("v1", "namespaces", name=ns))


@pytest.fixture
def existing(kbmc, bed, registry: ClientRegistry, unique_name):  # type: ignore[no-untyped-def]
    """A namespace with a Secret written by kbmc; yields (ns, resourceVersion)."""
    ns = unique_name("kbs")
    assert prepare(kbmc, bed, ns, "--allow-loopback").code == 0
    cp = registry.for_context("cp")
    yield ns, cp.get(secret_path(ns))["metadata"]["resourceVersion"]
    cp.delete(resource_path("v1", "namespaces", name=ns))


def bed_doc(bed) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return yaml.safe_load(bed.kubeconfig_path.read_text())


def with_extra_context(bed, tmp_path: Path, name: str, cluster: dict[str, Any], user: dict[str, Any]) -> Path:  # type: ignore[no-untyped-def]
    doc = bed_doc(bed)
    doc["clusters"].append({"name": name, "cluster": cluster})
    doc["users"].append({"name": name, "user": user})
    doc["contexts"].append({"name": name, "context": {"cluster": name, "user": name}})
    path = tmp_path / f"kubeconfig-{name}"
    path.write_text(yaml.safe_dump(doc))
    return path


def k8s1_cluster(bed) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return next(c["cluster"] for c in bed_doc(bed)["clusters"] if c["name"] == "k8s-1")


BAD_INPUTS = ["unknown-context", "exec-user", "localhost", "unreadable-cert", "malformed-yaml", "cp-unreachable",
              "bad-server-flag"]


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_changes_nothing(kbmc, bed, registry: ClientRegistry, existing, tmp_path: Path, case: str) -> None:
    ns, rv = existing
    planes = DATA_PLANES
    extra: list[str] = ["--allow-loopback"]
    kubeconfig: Path = bed.kubeconfig_path
    code, message = 2, ""
    if case == "unknown-context":
        planes, message = "k8s-1,k8s-9", "context 'k8s-9' is not in the kubeconfig"
    elif case == "exec-user":
        kubeconfig = with_extra_context(bed, tmp_path, "eks", k8s1_cluster(bed), {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": ["eks", "get-token"]}})
        planes, message = "k8s-1,eks", "context 'eks': user 'eks' authenticates with exec plugin 'aws'"
    elif case == "localhost":
        extra, message = [], "context 'k8s-1': server https://127.0.0.1:"
    elif case == "unreadable-cert":
        user = {"client-certificate": str(tmp_path / "missing.crt"), "client-key": str(tmp_path / "missing.key")}
        kubeconfig = with_extra_context(bed, tmp_path, "files", k8s1_cluster(bed), user)
        planes, message = "k8s-1,files", f"cannot read client-certificate file {tmp_path / 'missing.crt'}"
    elif case == "malformed-yaml":
        kubeconfig = tmp_path / "broken"
        kubeconfig.write_text(bed.kubeconfig_path.read_text().replace("contexts:", "contexts: [", 1))
        message = "is not valid YAML"
    elif case == "cp-unreachable":
        doc = bed_doc(bed)
        for c in doc["clusters"]:
            if c["name"] == "cp":
                c["cluster"]["server"] = "https://127.0.0.1:1"
        kubeconfig = tmp_path / "cp-down"
        kubeconfig.write_text(yaml.safe_dump(doc))
        code, message = 1, "cp: GET /api/v1/namespaces/"
    elif case == "bad-server-flag":
        extra = ["--server", "k8s-7=https://10.0.0.7:6443"]
        message = "'k8s-7' is not a data plane"
    r = prepare(kbmc, bed, ns, *extra, kubeconfig=kubeconfig, planes=planes)
    assert r.code == code, r.stderr
    assert message in r.stderr
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.startswith("error:")]) >= 1
    assert registry.for_context("cp").get(secret_path(ns))["metadata"]["resourceVersion"] == rv


@pytest.mark.parametrize("shape", ["other-type", "missing-key"])
def test_foreign_secret_is_refused_unless_forced(kbmc, bed, registry: ClientRegistry, make_namespace, shape: str) -> None:
    ns = make_namespace("cp")
    cp = registry.for_context("cp")
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mc-kubeconfig"},
                            "type": "Opaque" if shape == "other-type" else "kubernetes.kubeconfig",
                            "data": {"other": base64.b64encode(b"keep me").decode()}}
    cp.create(resource_path("v1", "secrets", ns), body)
    rv = cp.get(secret_path(ns))["metadata"]["resourceVersion"]
    r = prepare(kbmc, bed, ns, "--allow-loopback")
    assert r.code == 2
    assert ("with type 'Opaque'" if shape == "other-type" else "has no key 'kubeconfig'") in r.stderr
    assert "--force" in r.stderr
    assert cp.get(secret_path(ns))["metadata"]["resourceVersion"] == rv
    r = prepare(kbmc, bed, ns, "--allow-loopback", "--force")
    assert r.code == 0, r.stderr
    secret = cp.get(secret_path(ns))
    # Taken over, and the key kbmc does not own is kept (it was dropped before).
    assert secret["type"] == "kubernetes.kubeconfig" and set(secret["data"]) == {"kubeconfig", "other"}
    assert base64.b64decode(secret["data"]["other"]) == b"keep me"
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kbmc"


def credential_material(bed) -> list[str]:  # type: ignore[no-untyped-def]
    """Every credential in the bed's kubeconfig, as base64 and as the decoded PEM body lines."""
    found = []
    for user in bed_doc(bed)["users"]:
        key_b64 = user["user"]["client-key-data"]
        found.append(key_b64)
        pem = base64.b64decode(key_b64).decode()
        found += [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]
    found += [c.viewer_token for c in bed.state.clusters.values()]
    return found


def test_no_credentials_in_any_output(kbmc, bed, registry: ClientRegistry, unique_name) -> None:
    ns = unique_name("kbs")
    secrets = credential_material(bed)
    outputs = []
    for args in (["--dry-run"], ["--dry-run", "-o", "json"], [], [], ["-o", "yaml"], ["-o", "json"],
                 ["--debug"]):
        r = prepare(kbmc, bed, ns, "--allow-loopback", *args)
        assert r.code == 0, r.stderr
        outputs.append(r.output)
    r = kbmc("env", "check", "--context", "cp", "--data-planes", DATA_PLANES, "-o", "json",
             kubeconfig=bed.kubeconfig_path)
    outputs.append(r.output)
    for text in outputs:
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"credential material printed: {leaked[0][:12]}..."
    # The check can fail: --show-secrets does print them.
    shown = prepare(kbmc, bed, ns, "--allow-loopback", "--dry-run", "--show-secrets").output
    assert any(s in shown for s in secrets)
    registry.for_context("cp").delete(resource_path("v1", "namespaces", name=ns))


# ---- env check ---------------------------------------------------------------------------------------


def check(kbmc, bed, *extra: str, kubeconfig: Any = None):  # type: ignore[no-untyped-def]
    return kbmc("env", "check", "--context", "cp", "--data-planes", DATA_PLANES, *extra,
                kubeconfig=kubeconfig or bed.kubeconfig_path)


def test_check_all_clusters_ok(kbmc, bed) -> None:
    r = check(kbmc, bed, "-o", "json")
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] is True
    rows = {c["context"]: c for c in report["contexts"]}
    assert list(rows) == ["cp", "k8s-1", "k8s-2", "k8s-3"]
    assert rows["cp"]["role"] == "control-plane" and rows["k8s-2"]["role"] == "data-plane"
    assert all(c["reachable"] and c["user"] == "kbmc-admin" and c["version"].startswith("v1.") for c in rows.values())
    r = check(kbmc, bed)
    assert r.code == 0 and "k8s-3" in r.stderr and r.stdout == ""


def test_check_reports_a_stopped_data_plane_and_still_the_others(kbmc, bed) -> None:
    bed.stop_apiserver("k8s-2")
    try:
        r = check(kbmc, bed, "-o", "json")
    finally:
        bed.start_apiserver("k8s-2")
    assert r.code == 1
    rows = {c["context"]: c for c in json.loads(r.stdout)["contexts"]}
    assert rows["k8s-2"]["ok"] is False and "unreachable" in rows["k8s-2"]["error"]
    assert all(rows[c]["ok"] for c in ("cp", "k8s-1", "k8s-3"))
    assert "check failed for k8s-2" in r.stderr


def test_check_reports_missing_permissions(kbmc, bed, tmp_path: Path) -> None:
    viewer = bed.viewer_context("k8s-3")
    doc = bed_doc(bed)
    doc["users"] = [u for u in doc["users"] if u["name"] != "k8s-3-admin"] + [{"name": "k8s-3-admin", "user": viewer["user"]}]
    path = tmp_path / "viewer"
    path.write_text(yaml.safe_dump(doc))
    r = check(kbmc, bed, "-o", "json", kubeconfig=path)
    assert r.code == 1
    rows = {c["context"]: c for c in json.loads(r.stdout)["contexts"]}
    assert rows["k8s-3"]["user"] == "kbmc-viewer"
    assert "create pods" in rows["k8s-3"]["missingPermissions"]
    assert "create rolebindings.rbac.authorization.k8s.io" in rows["k8s-3"]["missingPermissions"]
    assert rows["k8s-1"]["ok"] and not rows["k8s-1"]["missingPermissions"]


@pytest.mark.parametrize("grant", ["everything", "all but one verb"])
def test_check_reads_permissions_through_rbac_wildcards(kbmc, bed, registry: ClientRegistry, tmp_path: Path,
                                                        unique_name, grant: str) -> None:
    """The one-review shortcut for admins holds for an RBAC grant of `*` (not only system:masters), and a grant
    that names verbs one by one still gets every check: the one verb left out is reported."""
    k3 = registry.for_context("k8s-3")
    name = unique_name("kbmc-viewer-grant")
    verbs = ["*"] if grant == "everything" else ["get", "list", "watch", "create", "update", "patch"]  # no delete
    rules = [{"apiGroups": ["*"], "resources": ["*"], "verbs": verbs}]
    k3.create(resource_path("rbac.authorization.k8s.io/v1", "clusterroles"),
              {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
               "rules": rules})
    k3.create(resource_path("rbac.authorization.k8s.io/v1", "clusterrolebindings"),
              {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "kbmc-viewer"}]})
    try:
        viewer = bed.viewer_context("k8s-3")
        doc = bed_doc(bed)
        doc["users"] = [u for u in doc["users"] if u["name"] != "k8s-3-admin"] + [{"name": "k8s-3-admin",
                                                                                   "user": viewer["user"]}]
        path = tmp_path / "viewer"
        path.write_text(yaml.safe_dump(doc))
        deadline = time.monotonic() + 10  # the RBAC authorizer's informers see the binding shortly after
        while True:
            r = check(kbmc, bed, "-o", "json", kubeconfig=path)
            rows = {c["context"]: c for c in json.loads(r.stdout)["contexts"]}
            missing = rows["k8s-3"]["missingPermissions"]
            if grant == "everything" and (r.code == 0 or time.monotonic() > deadline):
                assert r.code == 0 and missing == [], missing
                break
            if grant != "everything" and ("get pods" not in missing or time.monotonic() > deadline):
                assert r.code == 1
                assert "delete pods" in missing and "delete secrets" in missing, missing
                assert "create pods" not in missing and "get pods" not in missing, missing
                break
            time.sleep(0.3)
    finally:
        k3.delete(resource_path("rbac.authorization.k8s.io/v1", "clusterrolebindings", None, name))
        k3.delete(resource_path("rbac.authorization.k8s.io/v1", "clusterroles", None, name))


def test_check_bad_input_is_exit_2(kbmc, bed) -> None:
    r = kbmc("env", "check", "--context", "cp", "--data-planes", "k8s-1,nope", kubeconfig=bed.kubeconfig_path)
    assert r.code == 2 and "context 'nope' is not in the kubeconfig" in r.stderr and r.stdout == ""


def fake_kubelet(registry: ClientRegistry, ns: str, outcomes: dict[str, tuple[int, str]], stop: threading.Event) -> None:
    """Stand in for the kubelet the bed lacks: finish the check Job's pod with the given exit codes."""
    cp = registry.for_context("cp")
    while not stop.is_set():
        pods = cp.get(resource_path("v1", "pods", ns), labelSelector="kbmc.io/check=in-cluster")["items"]
        for pod in pods:
            if pod.get("status", {}).get("phase") in ("Failed", "Succeeded"):
                continue
            contexts = pod["metadata"].get("annotations", {}).get("kbmc.io/contexts", "")
            statuses = []
            for c in pod["spec"]["containers"]:
                ctx = next(a.split("=", 1)[1] for a in c["args"] if a.startswith("--context="))
                code, message = outcomes[ctx]
                statuses.append({"name": c["name"], "image": c["image"], "imageID": "", "ready": False,
                                 "restartCount": 0, "state": {"terminated": {
                                     "exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                     "message": message}}})
            phase = "Succeeded" if all(o[0] == 0 for o in outcomes.values()) else "Failed"
            cp.patch(resource_path("v1", "pods", ns, pod["metadata"]["name"]) + "/status",
                     {"status": {"phase": phase, "containerStatuses": statuses}})
            del contexts
        time.sleep(0.2)


def test_check_in_cluster_collects_per_context_results_and_cleans_up(kbmc, bed, registry: ClientRegistry,
                                                                     unique_name) -> None:
    ns = unique_name("kbs")
    assert prepare(kbmc, bed, ns, "--allow-loopback").code == 0
    outcomes = {"k8s-1": (0, ""), "k8s-2": (1, "Unable to connect to the server: dial tcp 10.0.0.2:6443: i/o timeout"),
                "k8s-3": (0, "")}
    stop = threading.Event()
    kubelet = threading.Thread(target=fake_kubelet, args=(registry, ns, outcomes, stop), daemon=True)
    kubelet.start()
    try:
        r = kbmc("env", "check", "--context", "cp", "--data-planes", DATA_PLANES, "--in-cluster", "-n", ns,
                 "--secret-name", "mc-kubeconfig", "--timeout", "60", "-o", "json", kubeconfig=bed.kubeconfig_path)
    finally:
        stop.set()
        kubelet.join()
    assert r.code == 1, r.stderr
    rows = {c["context"]: c for c in json.loads(r.stdout)["contexts"]}
    assert rows["k8s-1"]["inCluster"] == "ok" and rows["k8s-3"]["inCluster"] == "ok"
    assert "i/o timeout" in rows["k8s-2"]["inCluster"] and rows["k8s-2"]["ok"] is False
    cp = registry.for_context("cp")
    assert cp.get(resource_path("batch/v1", "jobs", ns))["items"] == []
    cp.delete(resource_path("v1", "namespaces", name=ns))


def test_check_in_cluster_times_out_with_reason_and_cleans_up(kbmc, bed, registry: ClientRegistry, unique_name) -> None:
    ns = unique_name("kbs")
    assert prepare(kbmc, bed, ns, "--allow-loopback").code == 0
    r = kbmc("env", "check", "--context", "cp", "--data-planes", "k8s-1", "--in-cluster", "-n", ns,
             "--secret-name", "mc-kubeconfig", "--timeout", "3", "-o", "json", kubeconfig=bed.kubeconfig_path)
    assert r.code == 1
    row = {c["context"]: c for c in json.loads(r.stdout)["contexts"]}["k8s-1"]
    assert row["inCluster"].startswith("timed out: pod Pending")
    cp = registry.for_context("cp")
    assert cp.get(resource_path("batch/v1", "jobs", ns))["items"] == []
    cp.delete(resource_path("v1", "namespaces", name=ns))


def test_check_measures_latency_through_a_slow_link(kbmc, bed, tmp_path: Path) -> None:
    from tests.testbed.proxy import DelayProxy

    port = bed.state.clusters["k8s-3"].port
    with DelayProxy(port, delay=0.15) as proxy:
        doc = bed_doc(bed)
        for c in doc["clusters"]:
            if c["name"] == "k8s-3":
                c["cluster"]["server"] = proxy.url  # TLS still verifies: the proxy only forwards bytes
        path = tmp_path / "slow"
        path.write_text(yaml.safe_dump(doc))
        r = check(kbmc, bed, "-o", "json", kubeconfig=path)
    assert r.code == 0, r.stderr
    rows = {c["context"]: c for c in json.loads(r.stdout)["contexts"]}
    assert rows["k8s-3"]["latencyMs"] >= 300  # at least one round trip: 2 x 150 ms
    assert rows["k8s-1"]["latencyMs"] < rows["k8s-3"]["latencyMs"]


def test_a_concurrent_edit_is_not_lost(kbmc, bed, unique_name, mocker) -> None:  # type: ignore[no-untyped-def]
    """Someone edits the Secret between kbmc's read and its write: the write fails, their edit stays."""
    from kbmc import kubeconfig as kc
    from kbmc.env import secret
    from kbmc.errors import OperationError

    ns = unique_name("kbs")
    assert prepare(kbmc, bed, ns, "--allow-loopback").code == 0
    registry = ClientRegistry(kc.load(str(bed.kubeconfig_path)))
    cp = registry.for_context("cp")
    real_replace = cp.replace

    def racing_replace(path: str, body: Any, **kwargs: Any) -> Any:
        cp.patch(path, {"metadata": {"annotations": {"edited-by": "someone-else"}}})
        return real_replace(path, body, **kwargs)

    mocker.patch.object(cp, "replace", side_effect=racing_replace)
    params = secret.PrepareParams("cp", ["k8s-1", "k8s-2"], ns, "mc-kubeconfig", allow_loopback=True)
    with pytest.raises(OperationError, match="changed while kbmc was updating it; nothing was overwritten"):
        secret.prepare(registry.kubeconfig, registry, params)
    current = cp.get(secret_path(ns))
    assert current["metadata"]["annotations"]["edited-by"] == "someone-else"
    assert [c["name"] for c in yaml.safe_load(base64.b64decode(current["data"]["kubeconfig"]))["contexts"]] == [
        "k8s-1", "k8s-2", "k8s-3"]
    cp.delete(resource_path("v1", "namespaces", name=ns))
    registry.close()


def test_check_in_cluster_without_the_secret_says_so_and_creates_nothing(kbmc, bed, registry: ClientRegistry,
                                                                         make_namespace) -> None:
    ns = make_namespace("cp")
    r = kbmc("env", "check", "--context", "cp", "--data-planes", DATA_PLANES, "--in-cluster", "-n", ns,
             "--secret-name", "absent", "-o", "json", kubeconfig=bed.kubeconfig_path)
    assert r.code == 1
    rows = {c["context"]: c for c in json.loads(r.stdout)["contexts"]}
    assert rows["k8s-2"]["inCluster"] == f"not run: Secret {ns}/absent not found (run `kbmc env prepare`)"
    assert registry.for_context("cp").get(resource_path("batch/v1", "jobs", ns))["items"] == []


def test_check_in_cluster_names_a_context_missing_from_the_secret(kbmc, bed, registry: ClientRegistry,
                                                                  unique_name) -> None:
    ns = unique_name("kbs")
    assert prepare(kbmc, bed, ns, "--allow-loopback", planes="k8s-1").code == 0
    stop = threading.Event()
    kubelet = threading.Thread(target=fake_kubelet, args=(registry, ns, {"k8s-1": (0, "")}, stop), daemon=True)
    kubelet.start()
    try:
        r = kbmc("env", "check", "--context", "cp", "--data-planes", "k8s-1,k8s-2", "--in-cluster", "-n", ns,
                 "--secret-name", "mc-kubeconfig", "--timeout", "60", "-o", "json", kubeconfig=bed.kubeconfig_path)
    finally:
        stop.set()
        kubelet.join()
    rows = {c["context"]: c for c in json.loads(r.stdout)["contexts"]}
    assert r.code == 1
    assert rows["k8s-1"]["inCluster"] == "ok"
    assert "context 'k8s-2' is not in Secret" in rows["k8s-2"]["inCluster"]
    registry.for_context("cp").delete(resource_path("v1", "namespaces", name=ns))
