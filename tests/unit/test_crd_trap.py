"""The runbook's data-plane CRD trap, one check shared by `operator install`'s preflight and `kbmc doctor`."""

from __future__ import annotations

from typing import Any

import pytest

from kbmc.clients import ApiError, KubeClient
from kbmc.doctor.checks import CRDS_CHECK, FAIL, OK, crds_row
from kbmc.operator.preflight import CRD_PATH, CrdCheckFailed, data_plane_crds, delete_crds_command

CRDS = {"dp": ["instancesets.workloads.kubeblocks.io", "certificates.cert-manager.io", "clusters.apps.kubeblocks.io"],
        "clean": ["certificates.cert-manager.io"]}


class _Registry:
    """Contexts -> (kube-system UID or None when down, CRD names or None when listing them is forbidden)."""

    def __init__(self, uids: dict[str, str | None], crds: dict[str, list[str] | None]) -> None:
        self.uids, self.crds = uids, crds
        self.clients: dict[str, KubeClient] = {}

    def for_context(self, ctx: str) -> KubeClient:
        if ctx not in self.clients:
            registry = self

            class Client(KubeClient):
                def get(self, path: str, **query: Any) -> Any:
                    if registry.uids[ctx] is None:
                        raise ApiError(ctx, "GET", path, 0, "connection refused", {})
                    if path == CRD_PATH:
                        names = registry.crds.get(ctx, [])
                        if names is None:
                            raise ApiError(ctx, "GET", path, 403, "Forbidden", {"message": "crds are forbidden"})
                        return {"items": [{"metadata": {"name": n}} for n in names]}
                    return {"metadata": {"name": "kube-system", "uid": registry.uids[ctx]}}

            self.clients[ctx] = Client(ctx, None)  # type: ignore[arg-type]
        return self.clients[ctx]


def registry(**down: bool) -> Any:
    uids: dict[str, str | None] = {"cp": "u-cp", "cp-alias": "u-cp", "dp": "u-1", "clean": "u-2", "locked": "u-3"}
    for ctx in down:
        uids[ctx] = None
    return _Registry(uids, {"cp": CRDS["dp"], "cp-alias": CRDS["dp"], **CRDS, "locked": None})


def test_kubeblocks_crds_in_a_data_plane_are_found_the_control_plane_own_are_not() -> None:
    reg = registry()
    assert data_plane_crds(reg, "cp", "dp") == ["clusters.apps.kubeblocks.io", "instancesets.workloads.kubeblocks.io"]
    assert data_plane_crds(reg, "cp", "clean") == []
    assert data_plane_crds(reg, "cp", "cp") is None
    assert data_plane_crds(reg, "cp", "cp-alias") is None  # the same cluster, under another name


@pytest.mark.parametrize(("down", "target", "reason"), [
    ("dp", "dp", "unreachable: connection refused"),
    ("cp", "dp", "cannot tell whether it is the control plane's cluster: cp: unreachable: connection refused"),
    (None, "locked", "forbidden (403): crds are forbidden"),
])
def test_what_cannot_be_checked_says_why(down: str | None, target: str, reason: str) -> None:
    reg = registry(**({down: True} if down else {}))
    with pytest.raises(CrdCheckFailed) as exc:
        data_plane_crds(reg, "cp", target)
    assert str(exc.value).startswith(reason)


def test_doctor_row_names_the_crds_and_the_command() -> None:
    row = crds_row(registry(), "cp", "dp", reachable=True)
    assert (row.check, row.status) == (CRDS_CHECK, FAIL)
    assert "instancesets.workloads.kubeblocks.io" in row.detail
    assert row.fix == delete_crds_command("dp", ["clusters.apps.kubeblocks.io", "instancesets.workloads.kubeblocks.io"])
    assert row.fix == ("kubectl --context dp delete crd clusters.apps.kubeblocks.io "
                       "instancesets.workloads.kubeblocks.io")
    assert crds_row(registry(), "cp", "clean", reachable=True).status == OK
    assert crds_row(registry(), "cp", "cp-alias", reachable=True).status == OK
    assert crds_row(registry(), "cp", "locked", reachable=True).status == FAIL
