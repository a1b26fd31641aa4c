"""`kbmc operator install/status` with the real helm and the real KubeBlocks 0.9.0 chart against the bed.

One install per module (it takes ~30 s): the tests after it check idempotency, status, the data-plane CRD
refusal and bad inputs against that live release, and assert that nothing they did moved it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc.clients import ClientRegistry, KubeClient, resource_path
from kbmc.errors import WaitTimeout
from kbmc.wait import Poll, wait_for
from tests.standins import write_launchers
from tests.testbed.crds import all_crds, chart_dir, clear_orphan_chart_roles

NS = "kb-system"
RELEASE = "kubeblocks"
DATA_PLANES = "k8s-1,k8s-2,k8s-3"
KUBECONFIG_FLAG = "--multi-cluster-kubeconfig=/var/run/secrets/kubeblocks.io/multicluster/kubeconfig"
CRD_API = "apiextensions.k8s.io/v1"


def helm_env(real_helm: Path, home: Path) -> dict[str, str]:
    env = {"PATH": f"{real_helm.parent}{os.pathsep}{os.environ['PATH']}"}
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = str(home / var.lower())
    return env


def run_kbmc(bed, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    """The installed entry point in a child process (module fixtures cannot use the in-process runner)."""
    full_env = dict(os.environ, KUBECONFIG=str(bed.kubeconfig_path), NO_COLOR="1", **env)
    return subprocess.run([sys.executable, "-m", "kbmc", *args], capture_output=True, text=True, env=full_env,
                          timeout=600)


def manager(cp: KubeClient) -> dict[str, Any]:
    return cp.get(resource_path("apps/v1", "deployments", NS, RELEASE))


def revision(cp: KubeClient) -> int:
    """The release's newest revision, from helm's own records."""
    items = cp.get(resource_path("v1", "secrets", NS), labelSelector=f"owner=helm,name={RELEASE}")["items"]
    return max(int(s["metadata"]["labels"]["version"]) for s in items)


@pytest.fixture(scope="module")
def installed(bed, real_helm: Path, registry: ClientRegistry,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    env = helm_env(real_helm, tmp_path_factory.mktemp("helm"))
    # Another module may have installed the chart directly (kubeblocks_chart_release): these tests start
    # from a control plane without the release (an upgrade would wait for a hook Job the bed cannot run).
    subprocess.run([str(real_helm), "uninstall", RELEASE, "-n", NS, "--no-hooks", "--kube-context", "cp",
                    "--kubeconfig", str(bed.kubeconfig_path)], env=dict(os.environ, **env), capture_output=True,
                   timeout=300)
    clear_orphan_chart_roles(registry.for_context("cp"))  # the aggregation controller may re-create one
    r = run_kbmc(bed, env, "env", "prepare", "--context", "cp", "--data-planes", DATA_PLANES, "--allow-loopback")
    assert r.returncode == 0, r.stderr
    chart = str(chart_dir())
    r = run_kbmc(bed, env, "operator", "install", "--context", "cp", "--data-planes", DATA_PLANES,
                 "--installer", "helm", "--chart", chart, "--no-wait")
    cp = registry.for_context("cp")
    try:
        assert r.returncode == 0, r.stderr
        yield {"env": env, "chart": chart, "install": r}
    finally:
        # --no-hooks: the chart's pre-delete Job would wait for a kubelet the bed does not have.
        subprocess.run([str(real_helm), "uninstall", RELEASE, "-n", NS, "--no-hooks", "--kube-context", "cp",
                        "--kubeconfig", str(bed.kubeconfig_path)], env=dict(os.environ, **env),
                       capture_output=True, timeout=300)
        clear_orphan_chart_roles(cp)
        gone = [resource_path("v1", "namespaces", name=NS)]
        gone += [resource_path(CRD_API, "customresourcedefinitions", name=crd["metadata"]["name"]) for crd in all_crds()]
        for path in gone:
            cp.delete(path)
        # Best effort: the next module should start from a clean control plane, not from objects still
        # terminating (the chart installer in tests/bed/conftest.py waits for them again before installing).
        try:
            for path in gone:
                wait_for(f"{path} deleted", lambda p=path: Poll(cp.get_or_none(p) is None), timeout=240, interval=0.5)
        except WaitTimeout:
            pass


@pytest.fixture
def helm_path(installed: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in installed["env"].items():
        monkeypatch.setenv(key, value)


def install_args(installed: dict[str, Any], *extra: str) -> list[str]:
    return ["operator", "install", "--context", "cp", "--data-planes", DATA_PLANES, "--installer", "helm",
            "--chart", installed["chart"], "--no-wait", *extra]


def snapshot(registry: ClientRegistry) -> dict[str, Any]:
    """What a refused run must leave untouched: helm revision, Deployment, Secret, a CRD, every data plane's CRDs."""
    cp = registry.for_context("cp")
    crd = resource_path(CRD_API, "customresourcedefinitions", name="instancesets.workloads.kubeblocks.io")
    state: dict[str, Any] = {
        "revision": revision(cp),
        "deployment": manager(cp)["metadata"]["resourceVersion"],
        "secret": cp.get(resource_path("v1", "secrets", NS, "kb-multi-cluster-kubeconfig"))["metadata"]["resourceVersion"],
        "crd": cp.get(crd)["metadata"]["resourceVersion"],
    }
    for dp in DATA_PLANES.split(","):
        items = registry.for_context(dp).get(resource_path(CRD_API, "customresourcedefinitions"))["items"]
        state[dp] = sorted((i["metadata"]["name"], i["metadata"]["resourceVersion"]) for i in items)
    return state


def test_real_chart_runs_the_manager_with_the_contexts_whole(installed, registry: ClientRegistry) -> None:
    cp = registry.for_context("cp")
    deployment = manager(cp)
    container = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "manager")
    assert "--multi-cluster-contexts=k8s-1,k8s-2,k8s-3" in container["args"]
    assert KUBECONFIG_FLAG in container["args"]
    assert not any(a.startswith("--multi-cluster-contexts-disabled") for a in container["args"])
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/var/run/secrets/kubeblocks.io/multicluster")
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "kb-multi-cluster-kubeconfig"
    # CRDs went to the control plane (server-side, kbmc's field manager), never to a data plane.
    crd = cp.get(resource_path(CRD_API, "customresourcedefinitions", name="instancesets.workloads.kubeblocks.io"))
    assert any(m["manager"] == "kbmc" and m["operation"] == "Apply" for m in crd["metadata"]["managedFields"])
    for dp in DATA_PLANES.split(","):
        names = [i["metadata"]["name"] for i in
                 registry.for_context(dp).get(resource_path(CRD_API, "customresourcedefinitions"))["items"]]
        assert not [n for n in names if n.endswith(".kubeblocks.io")], dp
    assert revision(cp) == 1
    assert "installed release kubeblocks in cp/kb-system (revision 1" in installed["install"].stderr


def test_second_run_makes_no_new_revision(installed, registry: ClientRegistry, kbmc, bed, helm_path) -> None:
    before = snapshot(registry)
    r = kbmc(*install_args(installed), kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    assert "is up to date (revision 1); nothing changed" in r.stderr
    assert snapshot(registry) == before


def test_status_reports_the_live_args(installed, kbmc, bed) -> None:
    r = kbmc("operator", "status", "--context", "cp", "--data-planes", DATA_PLANES, "-o", "json",
             kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["installed"] is True and report["ready"] is False  # no kubelet: never available on the bed
    assert report["contexts"] == ["k8s-1", "k8s-2", "k8s-3"] and report["contextsDisabled"] == []
    assert report["version"] == "0.9.0-alpha.1" and report["revision"] == 1
    assert report["secret"] == {"name": "kb-multi-cluster-kubeconfig", "exists": True,
                                "contexts": ["k8s-1", "k8s-2", "k8s-3"], "missingContexts": []}
    assert report["matchesConfig"] is True
    # A config that lists other contexts does not match what the manager runs with.
    r = kbmc("operator", "status", "--context", "cp", "--data-planes", "k8s-1,k8s-2", "-o", "json",
             kubeconfig=bed.kubeconfig_path)
    report = json.loads(r.stdout)
    assert report["matchesConfig"] is False and report["contexts"] == ["k8s-1", "k8s-2", "k8s-3"]
    assert any("contexts k8s-1,k8s-2,k8s-3 != k8s-1,k8s-2" in p for p in report["problems"])
    # For people: a table on stderr, nothing on stdout.
    r = kbmc("operator", "status", "--context", "cp", kubeconfig=bed.kubeconfig_path)
    assert r.code == 0 and r.stdout == ""
    assert "k8s-1,k8s-2,k8s-3" in r.stderr and "kb-multi-cluster-kubeconfig (exists)" in r.stderr
    # The table has every row the JSON has, the release's revision among them.
    rows = {line.split()[0]: line.split()[-1] for line in r.stderr.splitlines() if line.strip()}
    assert rows.get("revision") == "1"


def test_status_of_a_namespace_without_kubeblocks(installed, kbmc, bed, make_namespace) -> None:
    ns = make_namespace("cp")
    r = kbmc("operator", "status", "--context", "cp", "-n", ns, "-o", "json", kubeconfig=bed.kubeconfig_path)
    assert r.code == 1 and f"KubeBlocks release kubeblocks is not installed in cp/{ns}" in r.stderr
    report = json.loads(r.stdout)
    assert report["installed"] is False and report["contexts"] == [] and report["matchesConfig"] is None


def test_helm_dry_run_prints_the_command_and_runs_nothing(installed, registry: ClientRegistry, kbmc, bed,
                                                          helm_path) -> None:
    before = snapshot(registry)
    r = kbmc(*install_args(installed, "--contexts-disabled", "k8s-3", "--dry-run"), "-o", "json",
             kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["action"] == "upgrade" and plan["changes"] == ["multiCluster.contextsDisabled: (empty) -> k8s-3"]
    assert plan["argv"][:4] == ["helm", "upgrade", "--install", RELEASE]
    assert plan["argv"][-2:] == ["--kube-context", "cp"] and "--skip-crds" in plan["argv"]
    assert plan["values"] == {"multiCluster": {"kubeConfig": "kb-multi-cluster-kubeconfig",
                                               "contexts": "k8s-1,k8s-2,k8s-3", "contextsDisabled": "k8s-3"}}
    assert "would run: helm upgrade --install kubeblocks" in r.stderr
    assert snapshot(registry) == before


def test_wait_times_out_saying_what_was_last_seen(installed, kbmc, bed, helm_path) -> None:
    args = [a for a in install_args(installed) if a != "--no-wait"]
    r = kbmc(*args, "--wait", "--timeout", "2", kubeconfig=bed.kubeconfig_path)
    assert r.code == 1
    assert "timed out after 2s waiting for the KubeBlocks manager in cp: last seen: pod kubeblocks-" in r.stderr
    assert "Pending" in r.stderr


def test_wait_names_an_image_pull_back_off(installed, registry: ClientRegistry, kbmc, bed, helm_path) -> None:
    cp = registry.for_context("cp")
    selector = "app.kubernetes.io/name=kubeblocks,app.kubernetes.io/instance=kubeblocks"
    pod = next(p for p in cp.get(resource_path("v1", "pods", NS), labelSelector=selector)["items"]
               if p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet")
    spec = pod["spec"]

    def status(c: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        return {"name": c["name"], "image": c["image"], "imageID": "", "ready": False, "restartCount": 0,
                "state": state}

    # Play the kubelet: init containers done, the manager's image cannot be pulled.
    cp.patch(resource_path("v1", "pods", NS, pod["metadata"]["name"]) + "/status", {"status": {
        "phase": "Pending",
        "initContainerStatuses": [status(c, {"terminated": {"exitCode": 0, "reason": "Completed"}})
                                  for c in spec["initContainers"]],
        "containerStatuses": [status(c, {"waiting": {"reason": "ImagePullBackOff",
                                                     "message": "Back-off pulling image"}})
                              for c in spec["containers"]]}})
    args = [a for a in install_args(installed) if a != "--no-wait"]
    r = kbmc(*args, "--timeout", "2", kubeconfig=bed.kubeconfig_path)
    assert r.code == 1
    assert (f"last seen: pod {pod['metadata']['name']}: container manager ImagePullBackOff: Back-off pulling image"
            in r.stderr)


def settle(client: KubeClient, path: str) -> None:
    """Wait until the apiserver's CRD controllers are done with a new CRD (established, no more status writes)."""
    last = None
    for _ in range(60):
        crd = client.get(path)
        established = any(c["type"] == "Established" and c["status"] == "True"
                          for c in (crd.get("status") or {}).get("conditions") or [])
        if established and crd["metadata"]["resourceVersion"] == last:
            return
        last = crd["metadata"]["resourceVersion"]
        time.sleep(1)
    raise AssertionError(f"{path} never settled")


def test_data_plane_with_a_kubeblocks_crd_is_refused(installed, registry: ClientRegistry, kbmc, bed,
                                                     helm_path) -> None:
    crd = next(c for c in all_crds() if c["metadata"]["name"] == "instancesets.workloads.kubeblocks.io")
    k8s2 = registry.for_context("k8s-2")
    path = resource_path(CRD_API, "customresourcedefinitions", name=crd["metadata"]["name"])
    k8s2.apply(path, crd)
    try:
        settle(k8s2, path)
        before = snapshot(registry)
        r = kbmc(*install_args(installed), kubeconfig=bed.kubeconfig_path)
        assert r.code == 2
        assert "k8s-2 has instancesets.workloads.kubeblocks.io" in r.stderr and "--force" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""
        assert snapshot(registry) == before
        # --force goes on (here: nothing to change, so still no new revision), with a warning.
        r = kbmc(*install_args(installed, "--force"), kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        assert "going on despite KubeBlocks CRDs" in r.stderr and snapshot(registry) == before
    finally:
        k8s2.delete(path)
        for _ in range(60):  # the CRD's finalizer takes a moment: leave k8s-2 as it was
            if k8s2.get_or_none(path) is None:
                break
            time.sleep(0.5)


def test_the_control_plane_as_its_own_data_plane_is_not_refused(installed, registry: ClientRegistry, kbmc, bed,
                                                                helm_path) -> None:
    before = snapshot(registry)
    r = kbmc("operator", "install", "--context", "cp", "--data-planes", "k8s-1,cp", "--chart", installed["chart"],
             "--no-wait", "--dry-run", "-o", "json", kubeconfig=bed.kubeconfig_path)
    # cp has every KubeBlocks CRD, and is let through; the Secret (from env prepare) lacks cp, and says so.
    assert r.code == 2 and "lacks context(s) cp" in r.stderr and "KubeBlocks CRDs" not in r.stderr
    assert snapshot(registry) == before


def test_an_alias_of_the_control_plane_as_a_data_plane_is_not_refused(installed, registry: ClientRegistry, kbmc,
                                                                      bed, helm_path, tmp_path: Path) -> None:
    # cp under another address (https://localhost:PORT): the same cluster, so its own KubeBlocks CRDs are no reason
    # to refuse; the clusters say so, not the URLs' text.
    doc = yaml.safe_load(bed.kubeconfig_path.read_text())
    cluster = dict(next(c["cluster"] for c in doc["clusters"] if c["name"] == "cp"))
    cluster["server"] = cluster["server"].replace("https://127.0.0.1:", "https://localhost:")
    doc["clusters"].append({"name": "cp-alias", "cluster": cluster})
    doc["contexts"].append({"name": "cp-alias", "context": {"cluster": "cp-alias", "user": "cp-admin"}})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(doc))
    kubeconfig.chmod(0o600)
    r = kbmc("env", "prepare", "--context", "cp", "--data-planes", "k8s-1,cp-alias", "--secret-name", "with-alias",
             "--allow-loopback", kubeconfig=kubeconfig)
    assert r.code == 0, r.stderr
    try:
        before = snapshot(registry)
        r = kbmc("operator", "install", "--context", "cp", "--data-planes", "k8s-1,cp-alias", "--secret-name",
                 "with-alias", "--chart", installed["chart"], "--no-wait", "--dry-run", "-o", "json",
                 kubeconfig=kubeconfig)
        assert r.code == 0, r.stderr
        assert "KubeBlocks CRDs" not in r.stderr
        assert json.loads(r.stdout)["values"]["multiCluster"]["contexts"] == "k8s-1,cp-alias"
        assert snapshot(registry) == before
    finally:
        registry.for_context("cp").delete(resource_path("v1", "secrets", NS, "with-alias"))


@pytest.fixture(scope="module")
def partial_secret(installed, bed, registry: ClientRegistry) -> Iterator[str]:
    r = run_kbmc(bed, installed["env"], "env", "prepare", "--context", "cp", "--data-planes", "k8s-1,k8s-2",
                 "--secret-name", "only-two", "--allow-loopback")
    assert r.returncode == 0, r.stderr
    yield "only-two"
    registry.for_context("cp").delete(resource_path("v1", "secrets", NS, "only-two"))


BAD_INPUTS = {
    "disabled context not in the contexts": (["--contexts-disabled", "k8s-9"],
                                            "disabled context(s) k8s-9 not in the data-plane contexts"),
    "control-plane context disabled": (["--data-planes", "k8s-1,cp", "--contexts-disabled", "cp"],
                                       "the control plane's own context 'cp' cannot be disabled"),
    "Secret missing": (["--secret-name", "nope"], "Secret kb-system/nope in cp not found"),
    "Secret lacking a listed context": (["--secret-name", "only-two"],
                                        "Secret kb-system/only-two in cp lacks context(s) k8s-3"),
    "unknown installer": (["--installer", "apt"], "Invalid value for '--installer'"),
    "chart path missing": (["--chart", "/nonexistent/kubeblocks"], "no such chart directory or .tgz"),
    "helm not on PATH": (["--path-without-helm"], "helm is not installed or not on PATH"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_changes_nothing(case: str, installed, partial_secret, registry: ClientRegistry, kbmc, bed,
                                   helm_path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    extra, message = BAD_INPUTS[case]
    if extra == ["--path-without-helm"]:
        empty = tmp_path / "empty-bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
        extra = []
    args = install_args(installed)
    for i in range(0, len(extra), 2):  # a later flag wins: replace the default's value
        if extra[i] in args:
            args[args.index(extra[i]) + 1] = extra[i + 1]
        else:
            args += extra[i:i + 2]
    before = snapshot(registry)
    r = kbmc(*args, kubeconfig=bed.kubeconfig_path)
    assert r.code == 2, r.stderr
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""
    assert "Traceback" not in r.stderr
    assert snapshot(registry) == before


def fake_hook_kubelet(cp: KubeClient, stop: threading.Event) -> None:
    """Stand in for the kubelet: finish the chart's pre-upgrade hook Job's pod."""
    while not stop.is_set():
        for pod in cp.get(resource_path("v1", "pods", NS), labelSelector="job-name")["items"]:
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                continue
            statuses = [{"name": c["name"], "image": c["image"], "imageID": "", "ready": False, "restartCount": 0,
                         "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
                        for c in pod["spec"]["containers"]]
            cp.patch(resource_path("v1", "pods", NS, pod["metadata"]["name"]) + "/status",
                     {"status": {"phase": "Succeeded", "containerStatuses": statuses}})
        time.sleep(0.3)


def test_changed_values_upgrade_in_place_and_say_what_changed(installed, registry: ClientRegistry, kbmc, bed,
                                                              helm_path) -> None:
    cp = registry.for_context("cp")
    start = revision(cp)
    stop = threading.Event()
    kubelet = threading.Thread(target=fake_hook_kubelet, args=(cp, stop), daemon=True)
    kubelet.start()
    try:
        r = kbmc(*install_args(installed, "--contexts-disabled", "k8s-3", "--timeout", "120"),
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        assert f"to revision {start + 1}: multiCluster.contextsDisabled: (empty) -> k8s-3" in r.stderr
        args = next(c for c in manager(cp)["spec"]["template"]["spec"]["containers"] if c["name"] == "manager")["args"]
        assert "--multi-cluster-contexts-disabled=k8s-3" in args and "--multi-cluster-contexts=k8s-1,k8s-2,k8s-3" in args
        r = kbmc("operator", "status", "--context", "cp", "--data-planes", DATA_PLANES, "-o", "json",
                 kubeconfig=bed.kubeconfig_path)
        assert json.loads(r.stdout)["contextsDisabled"] == ["k8s-3"]
        # Flags only: --contexts-disabled means what install's does, so the correctly disabled context matches.
        for extra, matches in (([], False), (["--contexts-disabled", "k8s-3"], True)):
            r = kbmc("operator", "status", "--context", "cp", "--data-planes", DATA_PLANES, *extra, "-o", "json",
                     kubeconfig=bed.kubeconfig_path)
            assert r.code == 0 and json.loads(r.stdout)["matchesConfig"] is matches, r.stdout
        # Without --contexts-disabled, the running operator's disabled context is kept (said, not undone).
        r = kbmc(*install_args(installed, "--timeout", "120"), kubeconfig=bed.kubeconfig_path)
        assert r.code == 0 and "keeping k8s-3 disabled as the running operator has it" in r.stderr, r.stderr
        assert revision(cp) == start + 1
        # Back to the original values, said explicitly: one more revision, then a re-run is again a no-op.
        r = kbmc(*install_args(installed, "--contexts-disabled", "", "--timeout", "120"),
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0 and f"revision {start + 2}" in r.stderr, r.stderr
    finally:
        stop.set()
        kubelet.join()
    r = kbmc(*install_args(installed), kubeconfig=bed.kubeconfig_path)
    assert r.code == 0 and "nothing changed" in r.stderr and revision(cp) == start + 2


@pytest.mark.parametrize("installed_already", [True, False], ids=["upgrade", "install"])
def test_kbcli_dry_run_prints_the_argv_kbcli_accepts(installed_already: bool, installed, bed, kbmc, standins,
                                                     registry: ClientRegistry, unique_name) -> None:
    ns = NS
    if not installed_already:  # a namespace without KubeBlocks, holding its own Secret
        ns = unique_name("kbc")
        r = kbmc("env", "prepare", "--context", "cp", "--data-planes", DATA_PLANES, "-n", ns, "--allow-loopback",
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
    try:
        r = kbmc("operator", "install", "--context", "cp", "--data-planes", DATA_PLANES, "-n", ns,
                 "--installer", "kbcli", "--contexts-disabled", "k8s-2", "--set", "replicaCount=1", "--dry-run",
                 "-o", "json", kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        plan = json.loads(r.stdout)
        assert standins() == []  # a dry run runs nothing
        argv = plan["argv"]
        verb = "upgrade" if installed_already else "install"
        assert argv[:3] == ["kbcli", "kubeblocks", verb] and argv[-2:] == ["--context", "cp"]
        # The printed command, run as printed with the printed values, is one kbcli accepts, and the contexts
        # arrive whole (one string) in the values file.
        Path(plan["valuesFile"]).write_text(yaml.safe_dump(plan["values"]))
        proc = subprocess.run(argv, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        (call,) = standins()
        assert call["command"] == ["kubeblocks", verb] and call["context"] == "cp"
        assert call["flags"]["--version"] == ["0.9.0"] and call["flags"]["--namespace"] == [ns]
        assert call["flags"]["--set"] == ["replicaCount=1"] and call["flags"]["--wait"] == ["false"]
        values = yaml.safe_load(call["valuesFiles"][plan["valuesFile"]])
        assert values["multiCluster"] == {"kubeConfig": "kb-multi-cluster-kubeconfig",
                                          "contexts": "k8s-1,k8s-2,k8s-3", "contextsDisabled": "k8s-2"}
        assert ("--create-namespace" in argv) is (not installed_already)
        assert ("--auto-approve" in argv) is installed_already
    finally:
        if not installed_already:
            registry.for_context("cp").delete(resource_path("v1", "namespaces", name=ns))


def test_kbmc_yaml_supplies_contexts_and_disabled_ones(installed, registry: ClientRegistry, kbmc, bed, helm_path,
                                                       tmp_path: Path) -> None:
    r = kbmc("--context", "cp", "--data-planes", DATA_PLANES, "init", kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    topology = tmp_path / "kbmc.yaml"  # the kbmc fixture runs in tmp_path
    doc = yaml.safe_load(topology.read_text())
    doc["dataPlanes"][2]["enabled"] = False
    topology.write_text(yaml.safe_dump(doc))
    before = snapshot(registry)
    r = kbmc("operator", "install", "--chart", installed["chart"], "--no-wait", "--dry-run", "-o", "json",
             kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["values"]["multiCluster"] == {"kubeConfig": "kb-multi-cluster-kubeconfig",
                                              "contexts": "k8s-1,k8s-2,k8s-3", "contextsDisabled": "k8s-3"}
    assert plan["action"] == "upgrade" and "--kube-context" in plan["argv"]
    # The live manager still runs without disabled contexts: status says it does not match kbmc.yaml.
    r = kbmc("operator", "status", "-o", "json", kubeconfig=bed.kubeconfig_path)
    report = json.loads(r.stdout)
    assert report["matchesConfig"] is False and report["contextsDisabled"] == []
    assert "contextsDisabled (none) != k8s-3" in " ".join(report["problems"])
    assert snapshot(registry) == before


def test_kbcli_install_gets_the_values_file_and_brings_its_own_crds(installed, bed, kbmc, standins,
                                                                     registry: ClientRegistry, make_namespace) -> None:
    ns = make_namespace("cp")
    r = kbmc("env", "prepare", "--context", "cp", "--data-planes", DATA_PLANES, "-n", ns, "--allow-loopback",
             kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    before = snapshot(registry)
    r = kbmc("operator", "install", "--context", "cp", "--data-planes", DATA_PLANES, "-n", ns, "--installer", "kbcli",
             "--no-wait", kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    (call,) = standins()
    assert call["command"] == ["kubeblocks", "install"] and call["context"] == "cp"
    (path,) = call["flags"]["--values"]
    assert yaml.safe_load(call["valuesFiles"][path])["multiCluster"]["contexts"] == "k8s-1,k8s-2,k8s-3"
    assert not Path(path).exists()  # the private values file is gone afterwards
    assert snapshot(registry) == before  # kbcli applies its release's CRDs itself; kbmc touched none


def test_chart_without_crds_takes_them_from_the_release_or_crds(installed, kbmc, bed, helm_path,
                                                                tmp_path: Path) -> None:
    import shutil

    chart = tmp_path / "kubeblocks"
    shutil.copytree(installed["chart"], chart, ignore=shutil.ignore_patterns("crds"))
    args = ["operator", "install", "--context", "cp", "--data-planes", DATA_PLANES, "--chart", str(chart),
            "--contexts-disabled", "k8s-3", "--no-wait", "--dry-run", "-o", "json"]
    r = kbmc(*args, kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["crds"]["source"] == (
        "https://github.com/apecloud/kubeblocks/releases/download/v0.9.0/kubeblocks_crds.yaml")
    crds = tmp_path / "crds.yaml"
    crds.write_text(yaml.safe_dump_all(all_crds()[:2]))
    r = kbmc(*args, "--crds", str(crds), kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["crds"]["source"] == str(crds)


TRICKY_SETS = ["--set", "tolerations[0].key=dedicated", "--set", "r7b.x=99999999999999999999",
               "--set", "r7b.l={a,b}", "--set-string", "r7b.s=007"]
TRICKY_FILE = "r7bv:\n  date: 2024-01-01\n  sci: 1e3\n  yes: yes\n  big: 12345678901234567890\n  octal: 010\n"


def test_values_helm_reads_differently_rerun_as_no_ops(installed, registry: ClientRegistry, kbmc, bed, helm_path,
                                                       real_helm: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Values that a naive reading types or nests unlike helm: one upgrade, then identical re-runs change nothing;
    kbcli reports values it would keep; a failed upgrade shows in `operator status`."""
    cp = registry.for_context("cp")
    values = tmp_path / "tricky.yaml"
    values.write_text(TRICKY_FILE)
    tricky = install_args(installed, "--timeout", "120", "--values", str(values), *TRICKY_SETS)
    start = revision(cp)
    stop = threading.Event()
    kubelet = threading.Thread(target=fake_hook_kubelet, args=(cp, stop), daemon=True)
    kubelet.start()
    try:
        r = kbmc(*tricky, kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        assert revision(cp) == start + 1
        for _ in range(2):  # the same values again: nothing runs, no revision, no hook
            before = snapshot(registry)
            r = kbmc(*tricky, kubeconfig=bed.kubeconfig_path)
            assert r.code == 0 and f"is up to date (revision {start + 1}); nothing changed" in r.stderr, r.stderr
            assert snapshot(registry) == before
        # What helm itself stored is what kbmc computed (helm get values is the release's config).
        proc = subprocess.run([str(real_helm), "get", "values", RELEASE, "-n", NS, "-o", "json", "--kube-context",
                               "cp", "--kubeconfig", str(bed.kubeconfig_path)], capture_output=True, text=True,
                              env=dict(os.environ, **installed["env"]), timeout=60)
        stored = json.loads(proc.stdout)
        assert stored["tolerations"] == [{"key": "dedicated"}]
        assert stored["r7b"] == {"x": "99999999999999999999", "l": ["a", "b"], "s": "007"}
        assert stored["r7bv"] == {"date": "2024-01-01", "sci": 1000, "true": True, "big": 12345678901234567000,
                                  "octal": 8}
        r = kbmc(*install_args(installed, "--dry-run", "--values", str(values), *TRICKY_SETS), "-o", "json",
                 kubeconfig=bed.kubeconfig_path)
        assert json.loads(r.stdout)["action"] == "unchanged"
        # kbcli, without the --set values of the last run: what kbcli's upgrade would keep is said, not hidden.
        bindir = write_launchers(tmp_path / "kbcli-bin", ("kbcli",))  # the kbcli stand-in only (helm stays real)
        monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
        r = kbmc("operator", "install", "--context", "cp", "--data-planes", DATA_PLANES, "--installer", "kbcli",
                 "--values", str(values), "--dry-run", "-o", "json", kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        plan = json.loads(r.stdout)
        assert any("keeps value(s) this run does not pass: r7b, tolerations (kbcli upgrade keeps" in w
                   for w in plan["warnings"]), plan["warnings"]
        # helm, without them: kept (passed back, named), as kbcli would; --reset-values drops them.
        r = kbmc(*install_args(installed, "--dry-run", "--values", str(values)), "-o", "json",
                 kubeconfig=bed.kubeconfig_path)
        plan = json.loads(r.stdout)
        assert plan["action"] == "unchanged" and plan["keptValues"] == ["r7b", "tolerations"], plan
        r = kbmc(*install_args(installed, "--dry-run", "--reset-values", "--values", str(values)), "-o", "json",
                 kubeconfig=bed.kubeconfig_path)
        assert json.loads(r.stdout)["changes"] == ["r7b changed", "tolerations changed"]
    finally:
        stop.set()
        kubelet.join()
    # An upgrade whose pre-upgrade hook Job cannot run (no kubelet now): helm fails it; status says so.
    r = kbmc(*install_args(installed, "--reset-values", "--timeout", "1"), kubeconfig=bed.kubeconfig_path)
    assert r.code == 1
    r = kbmc("operator", "status", "--context", "cp", "--data-planes", DATA_PLANES, "-o", "json",
             kubeconfig=bed.kubeconfig_path)
    report = json.loads(r.stdout)
    assert report["revision"] == start + 2 and report["releaseStatus"] == "failed"
    assert f"release kubeblocks revision {start + 2} is failed (rerun `kbmc operator install`)" in report["problems"]
    r = kbmc("operator", "status", "--context", "cp", "--data-planes", DATA_PLANES, kubeconfig=bed.kubeconfig_path)
    assert f"revision {start + 2} failed" in r.stderr
    # Back to the module's values (the hook completed again), deployed and a no-op afterwards.
    stop = threading.Event()
    kubelet = threading.Thread(target=fake_hook_kubelet, args=(cp, stop), daemon=True)
    kubelet.start()
    try:
        r = kbmc(*install_args(installed, "--reset-values", "--timeout", "120"), kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
    finally:
        stop.set()
        kubelet.join()
    r = kbmc(*install_args(installed), kubeconfig=bed.kubeconfig_path)
    assert r.code == 0 and "nothing changed" in r.stderr
    r = kbmc("operator", "status", "--context", "cp", "--data-planes", DATA_PLANES, "-o", "json",
             kubeconfig=bed.kubeconfig_path)
    assert json.loads(r.stdout)["releaseStatus"] == "deployed" and json.loads(r.stdout)["problems"] == []
