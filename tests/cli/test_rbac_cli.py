"""`kbmc rbac sync` bad input: refused before any cluster is contacted."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


@pytest.mark.parametrize("args,message", [
    (("--role", "kb/role"), "--role: 'kb/role' may not contain '/'"),
    (("--role", ".."), "--role: '..' may not be a name"),
    (("--role", "x", "--role", "x"), "--role names x twice"),
    (("--data-planes", "k8s-1,k8s-9"), "context 'k8s-9' is not in the kubeconfig"),
    (("--dry-run=yes",), "--dry-run"),
])
def test_bad_input_is_refused_before_any_cluster_is_contacted(kbmc, tmp_path: Path, args, message) -> None:  # type: ignore[no-untyped-def]
    # The servers refuse connections: exit 2 (not 1) proves nothing was contacted.
    kube = tmp_path / "kubeconfig"
    kube.write_text(yaml.safe_dump({
        "clusters": [{"name": n, "cluster": {"server": f"https://127.0.0.1:{p}"}} for n, p in (("a", 1), ("b", 2))],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "cp", "context": {"cluster": "a", "user": "u"}},
                     {"name": "k8s-1", "context": {"cluster": "b", "user": "u"}}]}))
    planes = () if "--data-planes" in args else ("--data-planes", "k8s-1")
    r = kbmc("--context", "cp", *planes, "rbac", "sync", *args, kubeconfig=kube)
    assert r.code == 2, r.stderr
    assert message in r.stderr and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_down_control_plane_is_an_operation_failure(kbmc, tmp_path: Path) -> None:
    kube = tmp_path / "kubeconfig"
    kube.write_text(yaml.safe_dump({
        "clusters": [{"name": n, "cluster": {"server": f"https://127.0.0.1:{p}"}} for n, p in (("a", 1), ("b", 2))],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "cp", "context": {"cluster": "a", "user": "u"}},
                     {"name": "k8s-1", "context": {"cluster": "b", "user": "u"}}]}))
    r = kbmc("--context", "cp", "--data-planes", "k8s-1", "rbac", "sync", kubeconfig=kube)
    assert r.code == 1
    assert "cp:" in r.stderr and "unreachable" in r.stderr
