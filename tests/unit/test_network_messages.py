"""What `kbmc network` says: one context prefix, one-line apply conflicts, per-round progress, the summary,
and the chart checks that run before any cluster is called."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbmc.clients import ApiError
from kbmc.errors import InputError, OperationError
from kbmc.fanout import fan_out, raise_failures
from kbmc.network import mesh
from kbmc.network.cilium import STEPS, CiliumResult, ClusterSummary, progress_line, summary_line
from kbmc.network.metallb import MetallbParams, check_chart, helm_decision

SVC = "/api/v1/namespaces/demo/services/etcd-0-ext"
# The API server's apply conflict (fieldmanager's NewConflictError): the message spans lines, the causes do not.
CONFLICT = {
    "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409,
    "message": 'Apply failed with 2 conflicts: conflicts with "kubectl-edit" using v1:\n'
               '- .spec.ports[port=2379,protocol="TCP"].targetPort\n- .spec.type',
    "details": {"name": "etcd-0-ext", "kind": "services", "causes": [
        {"reason": "FieldManagerConflict", "message": 'conflict with "kubectl-edit" using v1',
         "field": '.spec.ports[port=2379,protocol="TCP"].targetPort'},
        {"reason": "FieldManagerConflict", "message": 'conflict with "kubectl-edit" using v1', "field": ".spec.type"},
        {"reason": "FieldManagerConflict", "message": 'conflict with "helm" using v1', "field": ".metadata.labels.x"},
    ]},
}


def test_an_apply_conflict_is_one_line_naming_fields_and_managers() -> None:
    exc = ApiError("k8s-2", "PATCH", SVC, 409, "Conflict", CONFLICT)
    expected = ('apply conflict: .spec.ports[port=2379,protocol="TCP"].targetPort, .spec.type owned by field manager '
                '"kubectl-edit"; .metadata.labels.x owned by field manager "helm"')
    assert exc.summary == expected
    assert str(exc) == f"k8s-2: PATCH {SVC}: {expected}"
    assert "\n" not in str(exc)


def test_a_conflict_that_is_not_an_apply_conflict_keeps_the_servers_words() -> None:
    exc = ApiError("k8s-2", "POST", SVC, 409, "Conflict", {"message": 'services "etcd-0-ext" already exists'})
    assert exc.field_conflicts == {}
    assert str(exc) == f'k8s-2: POST {SVC}: 409 Conflict: services "etcd-0-ext" already exists'


def _fail(context: str) -> None:
    if context == "k8s-2":
        raise ApiError(context, "GET", "/version", 500, "Internal Server Error", {"message": "boom"})
    raise OperationError("disk full")


def test_a_failure_names_its_context_once() -> None:
    results = {r.context: r for r in fan_out(["k8s-1", "k8s-2"], _fail)}
    assert results["k8s-2"].reason == "GET /version: 500 Internal Server Error: boom"
    assert results["k8s-2"].labelled == "k8s-2: GET /version: 500 Internal Server Error: boom"
    assert results["k8s-1"].labelled == "k8s-1: disk full"
    with pytest.raises(OperationError) as caught:
        raise_failures(list(results.values()), "cannot read")
    assert str(caught.value) == "cannot read: k8s-1: disk full; k8s-2: GET /version: 500 Internal Server Error: boom"


@pytest.mark.parametrize("count", [3, 4, 5, 6])
def test_progress_lists_each_pair_of_a_round_once(count: int) -> None:
    names = [f"k8s-{i}" for i in range(1, count + 1)]
    for round_ in mesh.rounds(names):
        states = [(p, "connected") for p in round_]
        line = progress_line("round 1/5", states)
        for a, b in round_:
            assert line.count(f"{a} <-> {b}") == 1
        assert line.count("<->") == len(round_)


def test_progress_groups_pairs_by_how_they_ended() -> None:
    line = progress_line("round 2/3", [(("k8s-1", "k8s-3"), "connected"), (("k8s-2", "k8s-4"), "blocked: k8s-4"),
                                       (("k8s-5", "k8s-6"), "connected")])
    assert line == "round 2/3: k8s-1 <-> k8s-3, k8s-5 <-> k8s-6 connected; k8s-2 <-> k8s-4 blocked: k8s-4"


def _result() -> CiliumResult:
    return CiliumResult(plan=None, clusters=[ClusterSummary("k8s-1"), ClusterSummary("k8s-2")],  # type: ignore[arg-type]
                        pairs={}, done=True)


def test_the_summary_names_the_steps_that_ran() -> None:
    assert summary_line(_result(), STEPS) == ("ClusterMesh complete on k8s-1, k8s-2: install, enable, connect and "
                                              "status done")
    partial = summary_line(_result(), ("enable",))
    assert partial.startswith("enable done on k8s-1, k8s-2 (not run: install, connect, status")
    assert "complete" not in partial


def _chart(tmp_path: Path, version: str = "0.15.2") -> Path:
    (tmp_path / "metallb").mkdir()
    (tmp_path / "metallb" / "Chart.yaml").write_text(f"apiVersion: v2\nname: metallb\nversion: {version}\n")
    return tmp_path / "metallb"


def test_version_with_a_local_chart_of_another_version_is_refused(tmp_path: Path) -> None:
    chart = _chart(tmp_path)
    with pytest.raises(InputError) as caught:
        check_chart(MetallbParams(members=[], chart=str(chart), version="0.14.9"))
    assert str(caught.value) == (f"--version 0.14.9 does not apply to the local chart {chart} as helm installs a "
                                 "local chart's own version, 0.15.2 (drop --version, or pass the chart of that version)")


def test_version_matching_the_local_chart_or_a_repository_chart_is_accepted(tmp_path: Path) -> None:
    chart = _chart(tmp_path)
    check_chart(MetallbParams(members=[], chart=str(chart), version="0.15.2"))
    check_chart(MetallbParams(members=[], chart=str(chart)))
    check_chart(MetallbParams(members=[], chart="oci://registry.invalid/metallb", version="0.14.9"))
    check_chart(MetallbParams(members=[], version="0.14.9"))


@pytest.mark.parametrize("have,wanted,expected", [
    (None, "0.15.2", "install (0.15.2)"),
    ("0.15.2", "0.15.2", "skip (already installed with the same chart version 0.15.2)"),
    ("0.14.9", "0.15.2", "upgrade (0.14.9 -> 0.15.2)"),
    ("0.15.2", None, "upgrade (0.15.2 -> chart version unknown)"),
])
def test_the_helm_decision(have: str | None, wanted: str | None, expected: str) -> None:
    assert helm_decision(have, wanted) == expected


def test_service_port_names_are_unique_and_valid_port_names() -> None:
    import re

    from kbmc.network.expose import service_ports

    ports = service_ports([{"containerPort": 53, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"},
                           {"containerPort": 53, "protocol": "UDP"},  # declared twice: one Service port
                           {"name": "port-80", "containerPort": 81}, {"containerPort": 80},
                           {"name": "dns", "containerPort": 5353, "protocol": "UDP"},
                           {"name": "dns", "containerPort": 5353, "protocol": "TCP"},
                           {"containerPort": 65535, "protocol": "SCTP"}, {"containerPort": 65535}])
    assert [(p["name"], p["port"], p["protocol"]) for p in ports] == [
        ("port-53-tcp", 53, "TCP"), ("port-53-udp", 53, "UDP"), ("port-80", 81, "TCP"), ("port-80-tcp", 80, "TCP"),
        ("dns", 5353, "UDP"), ("port-5353-tcp", 5353, "TCP"), ("port-65535-sctp", 65535, "SCTP"),
        ("port-65535-tcp", 65535, "TCP")]
    # IANA_SVC_NAME: at most 15 characters, lowercase letters, digits and '-', a letter, no '--', no '-' at an end.
    assert all(len(p["name"]) <= 15 and re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", p["name"])
               and "--" not in p["name"] for p in ports)


def test_a_webhook_timeout_reports_the_timeout_given_not_the_time_left() -> None:
    from kbmc.network.metallb import apply_through_webhook, pool

    class Client:
        def apply(self, path: str, body: object, *, dry_run: bool = False) -> object:
            raise ApiError("k8s-1", "PATCH", path, 500, "InternalError", {"message": (
                'Internal error occurred: failed calling webhook "ipaddresspoolvalidationwebhook.metallb.io": '
                'no endpoints available for service "metallb-webhook-service"')})

    class Registry:
        def for_context(self, context: str) -> Client:
            return Client()

    member = type("Member", (), {"context": "k8s-1", "addresses": ["198.51.100.0/28"]})()
    with pytest.raises(OperationError) as caught:
        # What is left of --timeout 10 when the pool is applied: 9.99548s.
        apply_through_webhook(Registry(), "k8s-1", pool(member), timeout=0.2, given_timeout=10,  # type: ignore[arg-type]
                              sleep=lambda _s: None)
    assert "did not answer within 10s (--timeout)" in str(caught.value), caught.value
