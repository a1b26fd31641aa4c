"""Against the real bed: one client per context reaches its own cluster, kubeconfigs merge like kubectl."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from kbmc import kubeconfig as kc
from kbmc.clients import ClientRegistry, resource_path
from kbmc.fanout import fan_out
from tests.testbed.build import pinned_versions


def test_each_context_reaches_its_own_cluster(bed, registry: ClientRegistry, make_namespace) -> None:
    ns = make_namespace("k8s-2")
    path = resource_path("v1", "namespaces", name=ns)
    assert registry.for_context("k8s-2").get(path)["metadata"]["name"] == ns
    for other in ("cp", "k8s-1", "k8s-3"):
        assert registry.for_context(other).get_or_none(path) is None, f"{ns} leaked into {other}"


def test_bed_runs_the_pinned_release(registry: ClientRegistry) -> None:
    results = fan_out(["cp", "k8s-1", "k8s-2", "k8s-3"], lambda c: registry.for_context(c).version()["gitVersion"])
    assert [r.value for r in results] == [pinned_versions()["kubernetes"]] * 4


def test_controller_manager_aggregates_cluster_roles(registry: ClientRegistry, unique_name) -> None:
    """The runbook's RBAC trap depends on the aggregation controller: the bed must run it."""
    client = registry.for_context("k8s-1")
    label = unique_name("agg")
    parent = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
              "metadata": {"name": label},
              "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"kbmc-test/agg": label}}]}}
    child = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": f"{label}-child", "labels": {"kbmc-test/agg": label}},
             "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    roles = resource_path("rbac.authorization.k8s.io/v1", "clusterroles")
    client.create(roles, parent)
    client.create(roles, child)
    try:
        from kbmc.wait import Poll, wait_for

        def aggregated() -> Poll:
            rules = client.get(f"{roles}/{label}").get("rules") or []
            return Poll(bool(rules), f"rules: {rules}")

        wait_for("aggregation", aggregated, timeout=30, interval=0.2)
    finally:
        client.delete(f"{roles}/{label}")
        client.delete(f"{roles}/{label}-child")


def test_kubeconfig_split_across_files_merges_like_kubectl(bed, tmp_path: Path, monkeypatch) -> None:
    """KUBECONFIG=a:b:c with one context per file: every context usable, first current-context wins."""
    doc = yaml.safe_load(bed.kubeconfig_path.read_text())
    files = []
    for i, ctx in enumerate(doc["contexts"]):
        name = ctx["name"]
        part = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [c for c in doc["clusters"] if c["name"] == ctx["context"]["cluster"]],
            "users": [u for u in doc["users"] if u["name"] == ctx["context"]["user"]],
            "contexts": [ctx],
            "current-context": name if i > 0 else "",  # the first file sets none: the second's wins
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(part))
        files.append(str(path))
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(files))
    merged = kc.load()
    assert merged.context_names == ["cp", "k8s-1", "k8s-2", "k8s-3"]
    assert merged.current_context == "k8s-1"
    registry = ClientRegistry(merged)
    try:
        versions = fan_out(merged.context_names, lambda c: registry.for_context(c).version())
        assert all(r.ok for r in versions), [r.error for r in versions]
    finally:
        registry.close()


def test_stopped_cluster_fails_only_its_own_row(bed, registry: ClientRegistry) -> None:
    bed.stop_apiserver("k8s-3")
    try:
        results = fan_out(bed.names, lambda c: registry.for_context(c).version()["gitVersion"])
        assert [r.ok for r in results] == [True, True, True, False]
        assert "k8s-3" in (results[3].error or "") and "unreachable" in (results[3].error or "")
    finally:
        bed.start_apiserver("k8s-3")
    assert registry.for_context("k8s-3").version()


def test_error_summaries_carry_the_servers_message_once_without_the_url(registry: ClientRegistry,
                                                                        unique_name) -> None:
    """A row's reason (ApiError.summary) for 404, 409 and 422: the server's message, no context, no request URL."""
    from kbmc.clients import ApiError

    client = registry.for_context("k8s-1")
    roles = resource_path("rbac.authorization.k8s.io/v1", "clusterroles")
    name = unique_name("kbmc-test-summary")
    errors: dict[int, ApiError] = {}
    try:
        client.get(f"{roles}/{name}")
    except ApiError as exc:
        errors[exc.status] = exc
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    client.create(roles, role)
    try:
        for body in (role, {**role, "rules": [{"apiGroups": [""], "resources": ["pods"]}]}):  # 409, then 422
            try:
                client.create(roles, body) if body is role else client.replace(f"{roles}/{name}", body)
            except ApiError as exc:
                errors[exc.status] = exc
    finally:
        client.delete(f"{roles}/{name}")
    assert sorted(errors) == [404, 409, 422]
    for status, exc in errors.items():
        summary = exc.summary
        message = exc.body["message"]
        assert summary.endswith(f"({status}): {message}"), summary
        assert summary.count(message) == 1
        assert "k8s-1" not in summary and "/apis/" not in summary and "https://" not in summary
    assert errors[404].summary.startswith("not found (404): ")
    assert errors[422].summary.startswith("unprocessable entity (422): ")
