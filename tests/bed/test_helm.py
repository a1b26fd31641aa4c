"""The real helm, through kbmc's runner, against the bed: the runbook's comma trap included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kbmc.clients import ClientRegistry, resource_path
from kbmc.errors import CommandError
from kbmc.runner import ShRunner

CHART = Path(__file__).resolve().parent / "charts" / "hello"


@pytest.fixture
def helm_on_path(real_helm: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", f"{real_helm.parent}{os.pathsep}{os.environ['PATH']}")
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))


def test_real_helm_installs_into_the_named_context_only(bed, registry: ClientRegistry, make_namespace,
                                                        helm_on_path) -> None:
    ns = make_namespace("k8s-1", "k8s-2")
    runner = ShRunner()
    kubeconfig = str(bed.kubeconfig_path)
    # The runbook's trap: helm splits --set at commas; escaped, the value stays whole.
    runner.run("helm", ["install", "demo", str(CHART), "-n", ns, "--set", "contexts=k8s-1\\,k8s-2\\,k8s-3"],
               context="k8s-2", kubeconfig=kubeconfig, timeout=120)
    cm = registry.for_context("k8s-2").get(resource_path("v1", "configmaps", ns, "demo-hello"))
    assert cm["data"] == {"greeting": "hello", "contexts": "k8s-1,k8s-2,k8s-3"}
    assert registry.for_context("k8s-1").get_or_none(resource_path("v1", "configmaps", ns, "demo-hello")) is None
    runner.run("helm", ["uninstall", "demo", "-n", ns], context="k8s-2", kubeconfig=kubeconfig, timeout=120)
    assert registry.for_context("k8s-2").get_or_none(resource_path("v1", "configmaps", ns, "demo-hello")) is None


def test_real_helm_failure_surfaces_command_and_stderr(bed, make_namespace, helm_on_path) -> None:
    ns = make_namespace("k8s-1")
    with pytest.raises(CommandError) as info:
        ShRunner().run("helm", ["install", "demo", str(CHART), "-n", ns, "--set", "contexts=k8s-1,k8s-2"],
                       context="k8s-1", kubeconfig=str(bed.kubeconfig_path), timeout=120)
    assert "helm install demo" in str(info.value) and "--kube-context k8s-1" in str(info.value)
    assert "k8s-2" in info.value.stderr_tail  # helm's own complaint about the unescaped comma
