"""The operator runner's rewrite of the manager container's args for a local process."""

from __future__ import annotations

from tests.testbed.operator import _expand, local_args

CHART_ARGS = [  # the 0.9.0 chart's manager args, with multiCluster values set
    "--health-probe-bind-address=:8081", "--metrics-bind-address=:8080", "--leader-elect",
    "--zap-devel=false", "--extensions=true", "--apps=true",
    "--multi-cluster-kubeconfig=/var/run/secrets/kubeblocks.io/multicluster/kubeconfig",
    "--multi-cluster-contexts=k8s-1,k8s-2,k8s-3", "--multi-cluster-contexts-disabled=k8s-2",
]


def test_local_args_keep_the_chart_args_and_rewrite_only_what_a_local_process_needs() -> None:
    args = local_args(CHART_ARGS, {"/var/run/secrets/kubeblocks.io/multicluster": "/bed/operator/x/mc"},
                      kubeconfig="/bed/cp.kubeconfig", metrics="127.0.0.1:1001", health="127.0.0.1:1002")
    assert args == [
        "--zap-devel=false", "--apps=true",
        "--multi-cluster-kubeconfig=/bed/operator/x/mc/kubeconfig",
        "--multi-cluster-contexts=k8s-1,k8s-2,k8s-3", "--multi-cluster-contexts-disabled=k8s-2",
        "--kubeconfig=/bed/cp.kubeconfig", "--leader-elect=false", "--metrics-bind-address=127.0.0.1:1001",
        "--health-probe-bind-address=127.0.0.1:1002", "--extensions=false",
    ]


def test_local_args_drop_the_value_of_a_replaced_flag_given_separately() -> None:
    args = local_args(["--kubeconfig", "/in/cluster", "--leader-elect", "--apps=true"], {},
                      kubeconfig="/k", metrics="127.0.0.1:1", health="127.0.0.1:2")
    assert args[:2] == ["--apps=true", "--kubeconfig=/k"]
    assert "/in/cluster" not in args


def test_mount_path_is_rewritten_only_as_a_whole_path() -> None:
    args = local_args(["--a=/etc/kb/x", "--b=/etc/kbx/y"], {"/etc/kb": "/p"}, kubeconfig="/k",
                      metrics="127.0.0.1:1", health="127.0.0.1:2")
    assert args[:2] == ["--a=/p/x", "--b=/etc/kbx/y"]


def test_env_references_expand_like_the_kubelet() -> None:
    assert _expand("$(A)-$(B)", {"A": "1"}) == "1-$(B)"
