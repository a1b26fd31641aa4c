"""`kbmc operator install` bad input found offline: one line, exit 2, before any kubeconfig or cluster is used."""

from __future__ import annotations

import pytest

BASE = ["operator", "install", "--context", "cp", "--data-planes", "k8s-1,k8s-2", "--dry-run"]


@pytest.mark.parametrize("extra, message", [
    (["--set", "multiCluster.contexts=k8s-1"], "kbmc sets multiCluster.* itself"),
    (["--set", "image.tag"], "'image.tag' is not KEY=VALUE"),
    (["--set", "multiCluster[0]=x"], "kbmc sets multiCluster.* itself"),
    (["--set-string", "multi\\Cluster.contexts=x"], "kbmc sets multiCluster.* itself"),
    (["--set", "a=1,a.b=2"], "--set 'a=1,a.b=2': unable to parse key"),
    (["--contexts-disabled", "k8s-3"], "disabled context(s) k8s-3 not in the data-plane contexts (k8s-1, k8s-2)"),
    (["--contexts-disabled", "k8s-1,,k8s-2"], "--contexts-disabled 'k8s-1,,k8s-2' has an empty entry"),
    (["--installer", "kbcli", "--chart", "./kubeblocks"], "--chart/--repo apply to --installer helm only"),
    (["--chart", "./no-such-chart"], "--chart ./no-such-chart: no such chart directory or .tgz"),
    (["--values", "missing.yaml"], "--values missing.yaml: no such file"),
    (["--timeout", "0"], "--timeout 0 must be greater than zero"),
    (["--timeout", "nan"], "--timeout 'nan' is not a duration"),
    (["--timeout", "inf"], "--timeout 'inf' is not a duration"),
    # helm's release-name rule: a DNS-1123 label of at most 53 characters; empty is not "the default".
    (["--release", "r" * 54], "longer than 53 characters (helm's limit)"),
    (["--release", ""], "--release: release name must not be empty"),
    (["--release", "KB"], "--release: release name 'KB' must be lowercase"),
    (["--release", "kb.io"], "--release: release name 'kb.io' must be lowercase"),
    # The version goes into the CRD URL and helm's --version: a semantic version, nothing around it.
    (["--version", "0.9.0\n"], "--version: '0.9.0\\n' is not a semantic version"),
    (["--version", "0.9.0 "], "--version: '0.9.0 ' is not a semantic version"),
    (["--version", ""], "--version: '' is not a semantic version"),
    (["--timeout", "1e-320"], "--timeout '1e-320' is not a duration"),
])
def test_bad_input_is_one_line_exit_2(kbmc, no_kubeconfig, extra: list[str], message: str) -> None:
    r = kbmc(*BASE, *extra)
    assert r.code == 2 and r.stdout == ""
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_values_file_setting_multicluster_is_refused(kbmc, no_kubeconfig, tmp_path) -> None:
    (tmp_path / "v.yaml").write_text("multiCluster:\n  contexts: [k8s-1, k8s-2]\n")
    r = kbmc(*BASE, "--values", "v.yaml")
    assert r.code == 2 and "--values v.yaml: sets multiCluster, which kbmc sets itself" in r.stderr
