"""`kbmc contexts disable/enable/list` against the bed, the operator installed by `kbmc operator install` from the
real chart with the real helm.

One install per module, reused when the release already exists (another module's, or a reused bed): the module
brings it to the three-data-plane values it needs and leaves the contexts enabled again afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kbmc.clients import ClientRegistry, KubeClient, resource_path
from tests.bed.test_operator import fake_hook_kubelet, helm_env, revision, run_kbmc
from tests.testbed.crds import chart_dir, clear_orphan_chart_roles

NS = "kb-system"
RELEASE = "kubeblocks"
DATA_PLANES = "k8s-1,k8s-2,k8s-3"
DP = "kubeblocks-dataprotection"


def args_of(cp: KubeClient, name: str) -> list[str]:
    d = cp.get(resource_path("apps/v1", "deployments", NS, name))
    return list(d["spec"]["template"]["spec"]["containers"][0]["args"])


def generation(cp: KubeClient, name: str) -> int:
    return int(cp.get(resource_path("apps/v1", "deployments", NS, name))["metadata"]["generation"])


def rv(cp: KubeClient, name: str) -> str:
    return str(cp.get(resource_path("apps/v1", "deployments", NS, name))["metadata"]["resourceVersion"])


@pytest.fixture(scope="module")
def operator(bed, real_helm: Path, registry: ClientRegistry,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    env = helm_env(real_helm, tmp_path_factory.mktemp("helm"))
    cp = registry.for_context("cp")
    existed = cp.get_or_none(resource_path("apps/v1", "deployments", NS, RELEASE)) is not None
    r = run_kbmc(bed, env, "env", "prepare", "--context", "cp", "--data-planes", DATA_PLANES, "--allow-loopback")
    assert r.returncode == 0, r.stderr
    stop = threading.Event()  # an existing release with other values is upgraded: its pre-upgrade hook needs a kubelet
    kubelet = threading.Thread(target=fake_hook_kubelet, args=(cp, stop), daemon=True)
    kubelet.start()
    try:
        r = run_kbmc(bed, env, "operator", "install", "--context", "cp", "--data-planes", DATA_PLANES,
                     "--contexts-disabled", "", "--installer", "helm", "--chart", str(chart_dir()), "--no-wait",
                     "--timeout", "180")
    finally:
        stop.set()
        kubelet.join()
    assert r.returncode == 0, r.stderr
    helm = {"PATH": env["PATH"], **{k: v for k, v in env.items() if k.startswith("HELM_")}}
    try:
        yield {"env": helm, "helm": real_helm}
    finally:
        # Leave every context enabled (in the release and in the live args) for whoever comes next.
        run_kbmc(bed, env, "contexts", "enable", "k8s-1", "k8s-2", "k8s-3", "--context", "cp")
        run_kbmc(bed, env, "contexts", "enable", "k8s-1", "k8s-2", "k8s-3", "--context", "cp", "--via", "deployment")
        if not existed:
            subprocess.run([str(real_helm), "uninstall", RELEASE, "-n", NS, "--no-hooks", "--kube-context", "cp",
                            "--kubeconfig", str(bed.kubeconfig_path)], env=dict(os.environ, **env),
                           capture_output=True, timeout=300)
            clear_orphan_chart_roles(cp)


@pytest.fixture
def helm_path(operator: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in operator["env"].items():
        monkeypatch.setenv(key, value)


def helm_values(bed, operator: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    proc = subprocess.run([str(operator["helm"]), "get", "values", RELEASE, "-n", NS, "-o", "json",
                           "--kube-context", "cp", "--kubeconfig", str(bed.kubeconfig_path)],
                          capture_output=True, text=True, env=dict(os.environ, **operator["env"]), timeout=60,
                          check=True)
    return dict(json.loads(proc.stdout))


def test_disable_enable_round_trip_through_the_helm_release(operator, registry: ClientRegistry, kbmc, bed,
                                                           helm_path) -> None:
    cp = registry.for_context("cp")
    manager_args, dp_args = args_of(cp, RELEASE), args_of(cp, DP)
    assert not any(a.startswith("--multi-cluster-contexts-disabled") for a in manager_args + dp_args)
    values, start = helm_values(bed, operator), revision(cp)

    r = kbmc("contexts", "disable", "k8s-2", "--context", "cp", kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    assert f"contextsDisabled (none) -> k8s-2 (helm release kubeblocks revision {start} -> {start + 1})" in r.stderr
    at = manager_args.index("--multi-cluster-contexts=k8s-1,k8s-2,k8s-3") + 1
    assert args_of(cp, RELEASE) == [*manager_args[:at], "--multi-cluster-contexts-disabled=k8s-2", *manager_args[at:]]
    at = dp_args.index("--multi-cluster-contexts=k8s-1,k8s-2,k8s-3") + 1
    assert args_of(cp, DP) == [*dp_args[:at], "--multi-cluster-contexts-disabled=k8s-2", *dp_args[at:]]
    after = helm_values(bed, operator)
    assert after["multiCluster"].pop("contextsDisabled") == "k8s-2"
    values["multiCluster"].pop("contextsDisabled")
    assert after == values  # every other value untouched

    # Idempotent: no new revision, no Deployment write.
    before = (revision(cp), rv(cp, RELEASE), rv(cp, DP))
    r = kbmc("contexts", "disable", "k8s-2", "--context", "cp", kubeconfig=bed.kubeconfig_path)
    assert r.code == 0 and "k8s-2 already disabled; nothing changed" in r.stderr
    assert (revision(cp), rv(cp, RELEASE), rv(cp, DP)) == before

    # A second context merges with the first.
    r = kbmc("contexts", "disable", "k8s-3", "--context", "cp", "-o", "json", kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["contextsDisabled"] == ["k8s-2", "k8s-3"] and report["via"] == "helm"
    assert "--multi-cluster-contexts-disabled=k8s-2,k8s-3" in args_of(cp, RELEASE)

    r = kbmc("contexts", "enable", "k8s-2", "k8s-3", "--context", "cp", kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    assert args_of(cp, RELEASE) == manager_args and args_of(cp, DP) == dp_args
    assert helm_values(bed, operator)["multiCluster"]["contextsDisabled"] == ""
    before = (revision(cp), rv(cp, RELEASE), rv(cp, DP))
    assert before[0] == start + 3
    r = kbmc("contexts", "enable", "k8s-2", "--context", "cp", kubeconfig=bed.kubeconfig_path)
    assert r.code == 0 and "nothing changed" in r.stderr
    assert (revision(cp), rv(cp, RELEASE), rv(cp, DP)) == before


REFUSALS = {
    "not in the operator's contexts": (["k8s-9"], "context(s) k8s-9 not in the operator's contexts (k8s-1,k8s-2,k8s-3)"),
    "the control plane's own context": (["cp"], "the control plane's own context 'cp' cannot be disabled"),
    "the last enabled data plane": (["k8s-1", "k8s-2", "k8s-3"], "would leave no enabled data plane"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
@pytest.mark.parametrize("via", ["helm", "deployment"])
def test_refusals_change_nothing(case: str, via: str, operator, registry: ClientRegistry, kbmc, bed,
                                 helm_path) -> None:
    cp = registry.for_context("cp")
    contexts, message = REFUSALS[case]
    before = (revision(cp), rv(cp, RELEASE), rv(cp, DP))
    r = kbmc("contexts", "disable", *contexts, "--context", "cp", "--via", via, kubeconfig=bed.kubeconfig_path)
    assert r.code == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert (revision(cp), rv(cp, RELEASE), rv(cp, DP)) == before


def test_remove_refuses_a_context_it_cannot_check_or_does_not_know(operator, registry: ClientRegistry, kbmc, bed,
                                                                     helm_path, tmp_path: Path) -> None:
    import yaml

    cp = registry.for_context("cp")
    before = (revision(cp), rv(cp, RELEASE), rv(cp, DP))
    # k8s-3 is an operator context, but this kubeconfig lacks it (the data plane is gone): what is placed there
    # cannot be looked at, so it is refused as for an unreachable one.
    doc = yaml.safe_load(bed.kubeconfig_path.read_text())
    doc["contexts"] = [c for c in doc["contexts"] if c["name"] != "k8s-3"]
    partial = tmp_path / "kubeconfig"
    partial.write_text(yaml.safe_dump(doc))
    partial.chmod(0o600)
    r = kbmc("contexts", "remove", "k8s-3", "--context", "cp", kubeconfig=partial)
    assert r.code == 2, r.stderr
    assert "cannot tell what is still placed on k8s-3" in r.stderr and "--force" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    # A name known nowhere is a mistake, not a removal already done.
    r = kbmc("contexts", "remove", "k8s-9", "--context", "cp", kubeconfig=bed.kubeconfig_path)
    assert r.code == 2, r.stderr
    assert "context k8s-9 not in the operator's contexts (k8s-1,k8s-2,k8s-3)" in r.stderr
    assert "already done" not in r.stderr + r.stdout and len(r.stderr.strip().splitlines()) == 1
    assert (revision(cp), rv(cp, RELEASE), rv(cp, DP)) == before


def set_args(cp: KubeClient, name: str, args: list[str]) -> None:
    """A hand edit of the first container's args (re-read and redone when the controller's status write wins)."""
    from kbmc.clients import ApiError

    path = resource_path("apps/v1", "deployments", NS, name)
    for _ in range(10):
        d = cp.get(path)
        d["spec"]["template"]["spec"]["containers"][0]["args"] = args
        try:
            cp.replace(path, d)
            return
        except ApiError as exc:
            if not exc.conflict:
                raise
    raise AssertionError(f"Deployment {name} kept changing")


def test_helm_disable_refuses_to_drop_hand_added_manager_args(operator, registry: ClientRegistry, kbmc, bed,
                                                               helm_path) -> None:
    """helm replaces the args list on upgrade: args added by hand would silently go, so the helm way refuses."""
    cp = registry.for_context("cp")
    original = args_of(cp, RELEASE)
    set_args(cp, RELEASE, [*original, "--zap-log-level=debug"])
    try:
        def spec_state() -> tuple[Any, ...]:  # the controller's status writes move resourceVersion: generation
            return (revision(cp), *(cp.get(resource_path("apps/v1", "deployments", NS, n))["metadata"]["generation"]
                                    for n in (RELEASE, DP)))

        before = spec_state()
        for dry in ([], ["--dry-run"]):
            r = kbmc("contexts", "disable", "k8s-2", "--context", "cp", *dry, kubeconfig=bed.kubeconfig_path)
            assert r.code == 2, r.stderr
            assert "would drop args added to the Deployments by hand (kubeblocks: --zap-log-level=debug)" in r.stderr
            assert "--via deployment" in r.stderr and len(r.stderr.strip().splitlines()) == 1
            assert spec_state() == before
        # The suggested way keeps them.
        r = kbmc("contexts", "disable", "k8s-2", "--context", "cp", "--via", "deployment",
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        live = args_of(cp, RELEASE)
        assert "--zap-log-level=debug" in live and "--multi-cluster-contexts-disabled=k8s-2" in live
        r = kbmc("contexts", "enable", "k8s-2", "--context", "cp", "--via", "deployment",
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        assert args_of(cp, RELEASE) == [*original, "--zap-log-level=debug"]
    finally:
        set_args(cp, RELEASE, original)


def test_helm_change_refuses_to_undo_a_data_plane_added_to_the_live_args_by_hand(
        operator, registry: ClientRegistry, kbmc, bed, helm_path) -> None:
    """k8s-9 appended to the live --multi-cluster-contexts (the release lacks it): a helm upgrade would drop it."""
    cp = registry.for_context("cp")
    originals = {n: args_of(cp, n) for n in (RELEASE, DP)}
    for n, args in originals.items():
        set_args(cp, n, [a + ",k8s-9" if a.startswith("--multi-cluster-contexts=") else a for a in args])
    try:
        def spec_state() -> tuple[Any, ...]:
            return (revision(cp), *(generation(cp, n) for n in (RELEASE, DP)))

        before = spec_state()
        for dry in ([], ["--dry-run"]):
            r = kbmc("contexts", "disable", "k8s-2", "--context", "cp", *dry, kubeconfig=bed.kubeconfig_path)
            assert r.code == 2, r.stderr
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr
            assert "runs with k8s-9 in --multi-cluster-contexts, the release does not render it" in r.stderr
            assert "`kbmc contexts add k8s-9`" in r.stderr and "--via deployment" in r.stderr
            assert spec_state() == before
            assert all("--multi-cluster-contexts=k8s-1,k8s-2,k8s-3,k8s-9" in args_of(cp, n) for n in (RELEASE, DP))
        # --via deployment keeps the hand-added plane.
        r = kbmc("contexts", "disable", "k8s-2", "--context", "cp", "--via", "deployment",
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        assert "--multi-cluster-contexts=k8s-1,k8s-2,k8s-3,k8s-9" in args_of(cp, RELEASE)
        assert "--multi-cluster-contexts-disabled=k8s-2" in args_of(cp, RELEASE)
    finally:
        for n, args in originals.items():
            set_args(cp, n, args)


def test_a_repeated_disabled_flag_is_read_as_the_manager_reads_it(operator, registry: ClientRegistry, kbmc, bed,
                                                                  helm_path) -> None:
    """Go's flag package keeps the LAST of a repeated flag: k8s-3 is disabled, k8s-2 is not."""
    cp = registry.for_context("cp")
    original = args_of(cp, RELEASE)
    set_args(cp, RELEASE, [*original, "--multi-cluster-contexts-disabled=k8s-2",
                           "--multi-cluster-contexts-disabled=k8s-3"])
    try:
        r = kbmc("contexts", "list", "--context", "cp", "-o", "json", kubeconfig=bed.kubeconfig_path)
        rows = {row["context"]: row for row in json.loads(r.stdout)["contexts"]}
        assert rows["k8s-3"]["disabled"] and not rows["k8s-2"]["disabled"], rows
        r = kbmc("operator", "status", "--context", "cp", "-o", "json", kubeconfig=bed.kubeconfig_path)
        assert json.loads(r.stdout)["contextsDisabled"] == ["k8s-3"], r.stdout
        r = kbmc("contexts", "enable", "k8s-3", "--context", "cp", kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        assert "already enabled" not in r.stderr and "enabled k8s-3: contextsDisabled k8s-3 -> (none)" in r.stderr
        # Written as one flag (here: none), and said what the earlier, ignored occurrence held.
        assert "gave --multi-cluster-contexts-disabled 2 times (in effect: the last, k8s-3)" in r.stderr
        assert "dropped from the earlier, ignored ones: k8s-2 (they were enabled and stay enabled)" in r.stderr
        assert not any(a.startswith("--multi-cluster-contexts-disabled") for a in args_of(cp, RELEASE))
    finally:
        set_args(cp, RELEASE, original)


def test_list_exits_1_when_a_data_plane_is_unreachable(operator, kbmc, bed, helm_path) -> None:
    bed.stop_apiserver("k8s-3")
    try:
        r = kbmc("contexts", "list", "--context", "cp", "-o", "json", kubeconfig=bed.kubeconfig_path)
        assert r.code == 1, r.stderr
        rows = {row["context"]: row for row in json.loads(r.stdout)["contexts"]}  # every row still printed
        assert not rows["k8s-3"]["reachable"] and rows["k8s-1"]["reachable"] and rows["k8s-2"]["reachable"]
        r = kbmc("contexts", "list", "--context", "cp", kubeconfig=bed.kubeconfig_path)
        assert r.code == 1 and "not reachable: k8s-3" in r.stderr
    finally:
        bed.start_apiserver("k8s-3")
    r = kbmc("contexts", "list", "--context", "cp", kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr


def race(bed, operator: dict[str, Any], verb: str, via: str | None) -> list[subprocess.CompletedProcess[str]]:  # type: ignore[no-untyped-def]
    """`kbmc contexts VERB` for k8s-1 and k8s-2 from two processes at once; via None: the default path."""
    def one(context: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=str(bed.kubeconfig_path), NO_COLOR="1", **operator["env"])
        return subprocess.run([sys.executable, "-m", "kbmc", "contexts", verb, context, "--context", "cp",
                               *(["--via", via] if via else [])], capture_output=True, text=True, env=env,
                              timeout=300)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, ["k8s-1", "k8s-2"]))


def test_two_processes_disabling_at_once_both_land(operator, registry: ClientRegistry, bed) -> None:
    """10 races through the Deployment patch, then 20 disable races through the default path (the helm release),
    every fourth undone by an enable race, the others by one enable: none is lost."""
    cp = registry.for_context("cp")
    disabled = ["--multi-cluster-contexts-disabled=k8s-1,k8s-2"]
    for i in range(10):  # 5 disable races, each undone by an enable race
        verb, want = ("disable", disabled) if i % 2 == 0 else ("enable", [])
        results = race(bed, operator, verb, "deployment")
        assert all(r.returncode == 0 for r in results), (i, verb, [r.stderr for r in results])
        for name in (RELEASE, DP):
            assert [a for a in args_of(cp, name) if a.startswith("--multi-cluster-contexts-disabled")] == want, \
                (i, verb, name)
    start, runs = revision(cp), 0
    env = dict(os.environ, KUBECONFIG=str(bed.kubeconfig_path), NO_COLOR="1", **operator["env"])
    for i in range(20):
        results = race(bed, operator, "disable", None)
        assert all(r.returncode == 0 for r in results), (i, [r.stderr for r in results])
        assert all("(helm release kubeblocks revision" in r.stderr for r in results), (i, [r.stderr for r in results])
        for name in (RELEASE, DP):
            assert [a for a in args_of(cp, name) if a.startswith("--multi-cluster-contexts-disabled")] == disabled, \
                (i, name)
        assert helm_values(bed, operator)["multiCluster"]["contextsDisabled"] == "k8s-1,k8s-2"
        runs += 2
        if i % 4 == 0:
            results = race(bed, operator, "enable", None)
            assert all(r.returncode == 0 for r in results), (i, [r.stderr for r in results])
            runs += 2
        else:
            one = subprocess.run([sys.executable, "-m", "kbmc", "contexts", "enable", "k8s-1", "k8s-2", "--context",
                                  "cp"], capture_output=True, text=True, env=env, timeout=300)
            assert one.returncode == 0, one.stderr
            runs += 1
        assert not any(a.startswith("--multi-cluster-contexts-disabled") for n in (RELEASE, DP)
                       for a in args_of(cp, n)), i
    assert revision(cp) == start + runs  # one revision per run: each saw the other's change, none was lost


def test_list_shows_each_data_plane_and_flags_config_differences(operator, registry: ClientRegistry, kbmc, bed,
                                                                 helm_path) -> None:
    k8s3 = registry.for_context("k8s-3")
    ns = "ctx-list"
    k8s3.create(resource_path("v1", "namespaces"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    try:
        k8s3.create(resource_path("v1", "pods", ns), {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "pg-0", "labels": {"app.kubernetes.io/managed-by": "kubeblocks",
                                                    "app.kubernetes.io/instance": "pg"}},
            "spec": {"containers": [{"name": "c", "image": "postgres"}]}})
        r = kbmc("contexts", "list", "--context", "cp", "--data-planes", "k8s-1,k8s-2", "-o", "json",
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        rows = {row["context"]: row for row in json.loads(r.stdout)["contexts"]}
        assert list(rows) == ["k8s-1", "k8s-2", "k8s-3"]
        assert all(row["inOperator"] and row["inSecret"] and row["reachable"] and not row["disabled"]
                   for row in rows.values())
        assert rows["k8s-3"]["pods"] == {"count": 1, "byCluster": {f"{ns}/pg": 1}}
        assert rows["k8s-1"]["pods"]["count"] == 0 and rows["k8s-1"]["differences"] == []
        # No kbmc.yaml here: the difference names --data-planes, what the list was compared with.
        assert rows["k8s-3"]["differences"] == [{"problem": "in the operator's contexts but not in --data-planes",
                                                 "fix": "add it to --data-planes, or kbmc contexts remove k8s-3"}]
    finally:
        k8s3.delete(resource_path("v1", "namespaces", name=ns))


def test_write_config_and_placed_clusters(operator, registry: ClientRegistry, kbmc, bed, helm_path,
                                         tmp_path: Path) -> None:
    import yaml

    r = kbmc("--context", "cp", "--data-planes", DATA_PLANES, "init", kubeconfig=bed.kubeconfig_path)
    assert r.code == 0, r.stderr
    cp = registry.for_context("cp")
    ns = "ctx-placed"
    cp.create(resource_path("v1", "namespaces"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    try:
        cp.create(resource_path("apps.kubeblocks.io/v1alpha1", "clusters", ns), {
            "apiVersion": "apps.kubeblocks.io/v1alpha1", "kind": "Cluster",
            "metadata": {"name": "pg", "annotations": {
                "apps.kubeblocks.io/multi-cluster-placement": "k8s-1,k8s-3"}},
            "spec": {"terminationPolicy": "Delete", "componentSpecs": [{"name": "pg", "replicas": 2}]}})
        r = kbmc("contexts", "disable", "k8s-3", "--write-config", "--via", "deployment",
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        assert f"Cluster {ns}/pg has replicas placed on k8s-3" in r.stderr
        doc = yaml.safe_load((tmp_path / "kbmc.yaml").read_text())
        assert [d.get("enabled", True) for d in doc["dataPlanes"]] == [True, True, False]
        r = kbmc("contexts", "list", "-o", "json", kubeconfig=bed.kubeconfig_path)
        rows = {row["context"]: row for row in json.loads(r.stdout)["contexts"]}
        assert rows["k8s-3"]["disabled"] and rows["k8s-3"]["differences"] == []
        r = kbmc("contexts", "enable", "k8s-3", "--write-config", "--via", "deployment",
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        doc = yaml.safe_load((tmp_path / "kbmc.yaml").read_text())
        assert [d.get("enabled", True) for d in doc["dataPlanes"]] == [True, True, True]
    finally:
        cp.delete(resource_path("v1", "namespaces", name=ns))


def test_add_and_remove_a_fourth_data_plane(operator, registry: ClientRegistry, kbmc, bed, standins,
                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import yaml

    from kbmc import kubeconfig as kc
    from kbmc.operator.preflight import secret_contexts
    from tests.bed.network_helpers import clear_cilium, mesh_peers

    # The real helm first on PATH; the cilium stand-in after it, acting on the bed's clusters as cilium-cli does.
    monkeypatch.setenv("PATH", f"{Path(operator['helm']).parent}{os.pathsep}{os.environ['PATH']}")
    for key, value in operator["env"].items():
        if key.startswith("HELM_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("KBMC_STANDIN_CLUSTERS", "1")
    monkeypatch.setenv("KUBECONFIG", str(bed.kubeconfig_path))
    cp = registry.for_context("cp")
    contexts4 = "--multi-cluster-contexts=k8s-1,k8s-2,k8s-3,k8s-4"
    mutating = (["install"], ["clustermesh", "enable"], ["clustermesh", "connect"], ["clustermesh", "disconnect"])
    bed.add_data_plane("k8s-4")
    try:
        r = kbmc("--context", "cp", "--data-planes", f"{DATA_PLANES},k8s-4", "init", kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr  # kbmc.yaml with network.eastWest: cilium and each plane's Cilium values
        configured = (tmp_path / "kbmc.yaml").read_text()
        r = kbmc("network", "cilium", "--data-planes", DATA_PLANES, kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr  # the three members meshed first
        r = kbmc("contexts", "add", "k8s-4", "--allow-loopback", "--dry-run", "-o", "json",
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        steps = {s["step"]: s for s in json.loads(r.stdout)["steps"]}
        assert [s["status"] for s in steps.values()] == ["would run"] * 4
        assert "connect to k8s-1,k8s-2,k8s-3" in steps["mesh"]["detail"]
        start, seen = revision(cp), len(standins())
        assert [c for c in standins() if c["command"] in mutating and c["context"] == "k8s-4"] == []

        r = kbmc("contexts", "add", "k8s-4", "--allow-loopback", kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        assert secret_contexts(cp, NS, "kb-multi-cluster-kubeconfig") == ["k8s-1", "k8s-2", "k8s-3", "k8s-4"]
        assert contexts4 in args_of(cp, RELEASE) and contexts4 in args_of(cp, DP)
        assert revision(cp) == start + 1
        assert helm_values(bed, operator)["multiCluster"]["contexts"] == "k8s-1,k8s-2,k8s-3,k8s-4"
        k8s4 = ClientRegistry(kc.load(str(bed.kubeconfig_path))).for_context("k8s-4")
        role = k8s4.get(resource_path("rbac.authorization.k8s.io/v1", "clusterroles",
                                      name="kubeblocks-cluster-pod-role"))
        assert role["rules"] and "aggregationRule" not in role
        cp_role = cp.get(resource_path("rbac.authorization.k8s.io/v1", "clusterroles",
                                       name="kubeblocks-cluster-pod-role"))
        assert (cp_role["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "Helm", cp_role
        calls = [c["argv"] for c in standins()[seen:] if c["command"] in mutating]
        assert calls == [
            ["install", "--set", "cluster.name=k8s-4", "--set", "cluster.id=4",
             "--set", "ipam.operator.clusterPoolIPv4PodCIDRList=10.4.0.0/16", "--context", "k8s-4"],
            ["clustermesh", "enable", "--service-type", "NodePort", "--context", "k8s-4"],
            ["clustermesh", "connect", "--destination-context", "k8s-1,k8s-2,k8s-3", "--connection-mode",
             "bidirectional", "--parallel", "3", "--context", "k8s-4"]], calls
        assert mesh_peers(registry, "k8s-1") == ["k8s-2", "k8s-3", "k8s-4"]
        assert mesh_peers(ClientRegistry(kc.load(str(bed.kubeconfig_path))), "k8s-4") == ["k8s-1", "k8s-2", "k8s-3"]

        # A re-run resumes: nothing left to do in the Secret, the operator or the mesh (no cilium call changes
        # anything: the status read says it is connected already).
        seen = len(standins())
        r = kbmc("contexts", "add", "k8s-4", "--allow-loopback", "-o", "json", kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        steps = {s["step"]: s for s in json.loads(r.stdout)["steps"]}
        assert {k: v["status"] for k, v in steps.items()} == {
            "secret": "already done", "operator": "already done", "rbac": "already done", "mesh": "already done"}
        assert steps["mesh"]["detail"] == "already connected to k8s-1,k8s-2,k8s-3"
        assert [c for c in standins()[seen:] if c["command"] in mutating] == []
        assert revision(cp) == start + 1

        # remove is refused while a KubeBlocks instance's pod is placed there.
        k8s4.create(resource_path("v1", "namespaces"),
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pg"}})
        k8s4.create(resource_path("v1", "pods", "pg"), {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "pg-1", "labels": {"app.kubernetes.io/managed-by": "kubeblocks",
                                                    "app.kubernetes.io/instance": "pg"}},
            "spec": {"containers": [{"name": "c", "image": "postgres"}]}})
        before = (revision(cp), rv(cp, RELEASE))
        r = kbmc("contexts", "remove", "k8s-4", kubeconfig=bed.kubeconfig_path)
        assert r.code == 2 and "KubeBlocks objects still placed on k8s-4: pod pg/pg-1" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and (revision(cp), rv(cp, RELEASE)) == before
        k8s4.delete(resource_path("v1", "pods", "pg", "pg-1"), propagation=None)

        seen = len(standins())
        r = kbmc("contexts", "remove", "k8s-4", "--purge", "-o", "json", kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        steps = {s["step"]: s for s in json.loads(r.stdout)["steps"]}
        assert "--multi-cluster-contexts=k8s-1,k8s-2,k8s-3" in args_of(cp, RELEASE)
        assert "--multi-cluster-contexts=k8s-1,k8s-2,k8s-3" in args_of(cp, DP)
        assert secret_contexts(cp, NS, "kb-multi-cluster-kubeconfig") == ["k8s-1", "k8s-2", "k8s-3"]
        assert k8s4.get_or_none(resource_path("rbac.authorization.k8s.io/v1", "clusterroles",
                                              name="kubeblocks-cluster-pod-role")) is None
        calls = [c["argv"] for c in standins()[seen:] if c["command"] in mutating]
        assert calls == [["clustermesh", "disconnect", "--destination-context", "k8s-1,k8s-2,k8s-3",
                          "--connection-mode", "bidirectional", "--context", "k8s-4"]], calls
        assert mesh_peers(registry, "k8s-1") == ["k8s-2", "k8s-3"] and mesh_peers(
            ClientRegistry(kc.load(str(bed.kubeconfig_path))), "k8s-4") == []
        # kbmc.yaml is the topology in use: it follows.
        assert steps["config"]["status"] == "done"
        assert [d["context"] for d in yaml.safe_load((tmp_path / "kbmc.yaml").read_text())["dataPlanes"]] == \
            DATA_PLANES.split(",")

        # A re-run (the plane is still in the kubeconfig): the mesh is read, nothing is disconnected again.
        seen = len(standins())
        r = kbmc("contexts", "remove", "k8s-4", "-o", "json", kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        steps = {s["step"]: s for s in json.loads(r.stdout)["steps"]}
        assert steps["mesh"] == {"step": "mesh", "status": "already done",
                                 "detail": "not connected to k8s-1,k8s-2,k8s-3"}
        assert steps["config"]["status"] == "already done"
        assert [c for c in standins()[seen:] if c["command"] in mutating] == []

        # doctor, with a kbmc.yaml still listing the removed plane: no pod-RBAC check (or `rbac sync` fix) for
        # it, a warning that the operator does not use it.
        (tmp_path / "kbmc.yaml").write_text(configured)
        r = kbmc("doctor", "--allow-loopback", "-o", "json", kubeconfig=bed.kubeconfig_path)
        rows = [c for c in json.loads(r.stdout)["checks"] if c["scope"] == "k8s-4"]
        assert not [c for c in rows if c["check"] == "pod RBAC" or "rbac sync" in (c["fix"] or "")], rows
        assert [(c["check"], c["status"]) for c in rows if c["status"] != "ok"] == [("data plane in use", "warn")]
    finally:
        run_kbmc(bed, operator["env"], "contexts", "remove", "k8s-4", "--force", "--context", "cp")
        clear_cilium(registry, DATA_PLANES.split(","))
        bed.remove_cluster("k8s-4")


def test_a_held_lease_blocks_within_timeout_and_a_dead_holders_is_taken_over(operator, registry: ClientRegistry,
                                                                              kbmc, bed) -> None:
    import socket
    from datetime import datetime, timedelta, timezone

    from kbmc.contexts import lease

    cp = registry.for_context("cp")
    path = resource_path(lease.API, "leases", NS, lease.LEASE_NAME)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"

    def hold(holder: str, renewed: datetime, duration: int) -> None:
        body = {"apiVersion": lease.API, "kind": "Lease", "metadata": {"name": lease.LEASE_NAME, "namespace": NS},
                "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                         "renewTime": renewed.strftime(fmt), "acquireTime": renewed.strftime(fmt),
                         "leaseTransitions": 0}}
        cp.delete(path, propagation=None)
        cp.create(resource_path(lease.API, "leases", NS), body)

    renewed = datetime.now(timezone.utc).replace(microsecond=0)
    hold("kbmc@elsewhere/4242-abcdef", renewed, 360)  # fresh, held from another machine
    before = rv(cp, RELEASE)
    try:
        # The wait ends with --timeout (not the lease's 360 s), naming the holder, the expiry the holder wrote
        # (renewTime + leaseDurationSeconds) and what to do.
        r = kbmc("contexts", "disable", "k8s-1", "--context", "cp", "--via", "deployment", "--timeout", "2s",
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 1, r.stderr
        expiry = (renewed + timedelta(seconds=360)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert "another kbmc run (kbmc@elsewhere/4242-abcdef) holds the lease kb-system/kbmc-contexts" in r.stderr
        assert f"it expires at {expiry} (renewTime" in r.stderr and "leaseDurationSeconds 360" in r.stderr
        assert "kubectl -n kb-system delete lease kbmc-contexts" in r.stderr and "Traceback" not in r.stderr
        assert rv(cp, RELEASE) == before
        # A kbmc process on this machine that died holding it: taken over at once, though not expired.
        gone = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                                  text=True, check=True).stdout)
        hold(f"kbmc@{socket.gethostname()}/{gone}-abcdef", datetime.now(timezone.utc), 360)
        r = kbmc("contexts", "disable", "k8s-1", "--context", "cp", "--via", "deployment", "--timeout", "30s",
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        assert "--multi-cluster-contexts-disabled=k8s-1" in args_of(cp, RELEASE)
        spec = cp.get(path)["spec"]
        assert spec["leaseTransitions"] == 1 and spec["holderIdentity"] == ""  # taken over, then released
        assert spec["leaseDurationSeconds"] == lease.DURATION
        # An expired one (its holder elsewhere stopped renewing) is taken over too.
        hold("kbmc@elsewhere/4242-abcdef", datetime.now(timezone.utc) - timedelta(minutes=7), 360)
        r = kbmc("contexts", "enable", "k8s-1", "--context", "cp", "--via", "deployment", "--timeout", "30s",
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        assert not any(a.startswith("--multi-cluster-contexts-disabled") for a in args_of(cp, RELEASE))
    finally:
        cp.delete(path, propagation=None)
        r = kbmc("contexts", "enable", "k8s-1", "--context", "cp", "--via", "deployment",
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr


def test_a_stray_disabled_context_is_listed_then_enabled_once_and_a_rerun_is_a_no_op(
        operator, registry: ClientRegistry, kbmc, bed, helm_path, tmp_path: Path) -> None:
    import yaml

    cp = registry.for_context("cp")
    originals = {name: args_of(cp, name) for name in (RELEASE, DP)}
    # k8s-9: a data plane this kubeconfig knows, left in the disabled list but not in the contexts (a stray).
    doc = yaml.safe_load(bed.kubeconfig_path.read_text())
    k8s3 = next(c for c in doc["contexts"] if c["name"] == "k8s-3")
    doc["contexts"].append({"name": "k8s-9", "context": dict(k8s3["context"])})
    with_k8s9 = tmp_path / "kubeconfig"
    with_k8s9.write_text(yaml.safe_dump(doc))
    with_k8s9.chmod(0o600)
    for name, args in originals.items():
        set_args(cp, name, [*args, "--multi-cluster-contexts-disabled=k8s-9"])
    try:
        # list flags it (no kbmc.yaml here: --data-planes is what it is compared with, and named as such).
        r = kbmc("contexts", "list", "--context", "cp", "--data-planes", DATA_PLANES, "-o", "json",
                 kubeconfig=with_k8s9)
        assert r.code == 0, r.stderr
        report = json.loads(r.stdout)
        rows = {row["context"]: row for row in report["contexts"]}
        assert report["configuredBy"] == "--data-planes"
        assert rows["k8s-9"]["disabled"] and not rows["k8s-9"]["inOperator"]
        assert rows["k8s-9"]["differences"] == [
            {"problem": "disabled but not in the operator's contexts (a stray --multi-cluster-contexts-disabled "
                        "entry)", "fix": "kbmc contexts enable k8s-9"}]
        r = kbmc("contexts", "list", "--context", "cp", "--data-planes", DATA_PLANES, kubeconfig=with_k8s9)
        assert "k8s-9: disabled but not in the operator's contexts" in r.stderr and "kbmc.yaml" not in r.stderr

        r = kbmc("contexts", "enable", "k8s-9", "--context", "cp", "--via", "deployment", kubeconfig=with_k8s9)
        assert r.code == 0, r.stderr
        assert args_of(cp, RELEASE) == originals[RELEASE] and args_of(cp, DP) == originals[DP]
        before = (generation(cp, RELEASE), generation(cp, DP))  # the controllers' status writes move resourceVersion
        r = kbmc("contexts", "enable", "k8s-9", "--context", "cp", "--via", "deployment", kubeconfig=with_k8s9)
        assert r.code == 0, r.stderr
        assert "k8s-9 already enabled; nothing changed" in r.stderr
        assert "k8s-9 is not one of the operator's contexts" in r.stderr
        assert (generation(cp, RELEASE), generation(cp, DP)) == before
        # A name neither the operator nor the kubeconfig has is a mistake: exit 2, one line.
        r = kbmc("contexts", "enable", "k8s-9", "--context", "cp", "--via", "deployment",
                 kubeconfig=bed.kubeconfig_path)
        assert r.code == 2 and "k8s-9 not in the operator's contexts (k8s-1,k8s-2,k8s-3) nor in your kubeconfig" \
            in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert (generation(cp, RELEASE), generation(cp, DP)) == before
    finally:
        for name, args in originals.items():
            set_args(cp, name, args)


def test_operator_install_keeps_a_disable_and_values_set_outside_kbmc(operator, registry: ClientRegistry, kbmc,
                                                                      bed, helm_path) -> None:
    """`kbmc contexts disable` then `kbmc operator install` without --contexts-disabled (kbmc.yaml not updated):
    the disable stays, and so does a value set with `helm upgrade --set`; told otherwise, they go."""
    cp = registry.for_context("cp")
    install = ["operator", "install", "--context", "cp", "--data-planes", DATA_PLANES, "--installer", "helm",
               "--chart", str(chart_dir()), "--no-wait", "--timeout", "180"]
    stop = threading.Event()  # upgrades run the chart's pre-upgrade hook: it needs a kubelet
    kubelet = threading.Thread(target=fake_hook_kubelet, args=(cp, stop), daemon=True)
    kubelet.start()
    try:
        proc = subprocess.run([str(operator["helm"]), "upgrade", RELEASE, str(chart_dir()), "-n", NS, "--reuse-values",
                               "--set", "kbmcOutside.owner=dba", "--skip-crds", "--timeout", "180s",
                               "--kube-context", "cp", "--kubeconfig", str(bed.kubeconfig_path)],
                              capture_output=True, text=True, env=dict(os.environ, **operator["env"]), timeout=300)
        assert proc.returncode == 0, proc.stderr
        r = kbmc("contexts", "disable", "k8s-2", "--context", "cp", kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        start = revision(cp)

        r = kbmc(*install, kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        said = " ".join(r.stderr.split())  # warnings wrap at the terminal's width
        assert "keeping k8s-2 disabled as the running operator has it" in said
        assert "the release keeps value(s) this run does not pass: kbmcOutside (set outside kbmc" in said, said
        assert "dba" not in r.stderr + r.stdout  # named, never printed
        assert "--multi-cluster-contexts-disabled=k8s-2" in args_of(cp, RELEASE)
        values = helm_values(bed, operator)
        assert values["kbmcOutside"] == {"owner": "dba"} and values["multiCluster"]["contextsDisabled"] == "k8s-2"
        assert revision(cp) == start  # nothing to change: no upgrade at all

        # An upgrade takes the lease `contexts` commands take: while another run holds it, nothing is upgraded.
        from datetime import datetime, timezone

        from kbmc.contexts import lease

        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        cp.delete(resource_path(lease.API, "leases", NS, lease.LEASE_NAME), propagation=None)  # released, kept
        cp.create(resource_path(lease.API, "leases", NS), {
            "apiVersion": lease.API, "kind": "Lease", "metadata": {"name": lease.LEASE_NAME, "namespace": NS},
            "spec": {"holderIdentity": "kbmc@elsewhere/4242-abcdef", "leaseDurationSeconds": 360,
                     "renewTime": now, "acquireTime": now}})
        try:
            r = kbmc(*install, "--contexts-disabled", "", "--timeout", "3s", kubeconfig=bed.kubeconfig_path)
            assert r.code == 1, r.stderr
            assert "another kbmc run (kbmc@elsewhere/4242-abcdef) holds the lease kb-system/kbmc-contexts" in r.stderr
            assert revision(cp) == start and "--multi-cluster-contexts-disabled=k8s-2" in args_of(cp, RELEASE)
        finally:
            cp.delete(resource_path(lease.API, "leases", NS, lease.LEASE_NAME), propagation=None)

        # Told otherwise: --contexts-disabled is the whole list; the outside value still stays.
        r = kbmc(*install, "--contexts-disabled", "", kubeconfig=bed.kubeconfig_path)
        assert r.code == 0, r.stderr
        assert not any(a.startswith("--multi-cluster-contexts-disabled") for a in args_of(cp, RELEASE))
        values = helm_values(bed, operator)
        assert values["kbmcOutside"] == {"owner": "dba"} and values["multiCluster"]["contextsDisabled"] == ""
        assert revision(cp) == start + 1
    finally:
        r = kbmc(*install, "--contexts-disabled", "", "--reset-values", kubeconfig=bed.kubeconfig_path)
        stop.set()
        kubelet.join()
    assert r.code == 0, r.stderr
    assert "kbmcOutside" not in helm_values(bed, operator)
