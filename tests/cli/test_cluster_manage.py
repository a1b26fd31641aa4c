"""`kbmc cluster status|list|delete`: bad input is refused before any cluster is called."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("args, message", [
    (["cluster", "delete", "db", "--timeout", "0"], "--timeout 0 must be greater than zero"),
    (["cluster", "delete", "db", "--api", "v2"], "--api 'v2' is not one of v1alpha1, v1"),
    (["cluster", "status", "db", "--api", "v2"], "--api 'v2' is not one of v1alpha1, v1"),
    (["cluster", "list", "--api", "v2"], "--api 'v2' is not one of v1alpha1, v1"),
])
def test_bad_input_exits_2_with_one_line(kbmc, no_kubeconfig, args: list[str], message: str) -> None:
    r = kbmc(*args)
    assert r.code == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_unknown_context_is_bad_input(kbmc, tmp_path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n")
    r = kbmc("cluster", "delete", "db", "--context", "nope", "--data-planes", "k8s-1", kubeconfig=kubeconfig)
    assert r.code == 2 and "nope" in r.stderr
