"""kbmc.identity: contexts grouped by the cluster they reach, each cluster asked once."""

from __future__ import annotations

from typing import Any

from kbmc import identity
from kbmc.clients import ApiError, KubeClient


class _Registry:
    """Contexts -> the kube-system UID their cluster answers (None: the cluster is down)."""

    def __init__(self, uids: dict[str, str | None]) -> None:
        self.uids = uids
        self.requests: list[str] = []
        self.clients: dict[str, KubeClient] = {}

    def for_context(self, ctx: str) -> KubeClient:
        if ctx not in self.clients:
            registry = self

            class Client(KubeClient):
                def get(self, path: str, **query: Any) -> Any:
                    registry.requests.append(ctx)
                    uid = registry.uids[ctx]
                    if uid is None:
                        raise ApiError(ctx, "GET", path, 0, "connection refused", {})
                    return {"metadata": {"name": "kube-system", "uid": uid}}

            self.clients[ctx] = Client(ctx, None)  # type: ignore[arg-type]
        return self.clients[ctx]


def test_contexts_are_grouped_by_cluster_and_each_is_asked_once() -> None:
    registry = _Registry({"cp": "u-cp", "cp-alias": "u-cp", "k8s-1": "u-1", "k8s-1b": "u-1", "k8s-2": "u-2",
                          "down": None})
    found = identity.clusters(registry, ["cp", "cp-alias", "k8s-1", "k8s-2", "k8s-1b", "down"])  # type: ignore[arg-type]
    assert found.same("cp", "cp-alias") and not found.same("cp", "k8s-1")
    assert found.same("down", "down") and not found.same("down", "cp")  # unknown: only its own name
    assert found.aliases(["k8s-1", "k8s-2", "k8s-1b", "down"]) == [["k8s-1", "k8s-1b"]]
    assert set(found.failed) == {"down"} and identity.why(found.failed["down"]) == "unreachable: connection refused"
    # Asked again (the preflight, then the command): remembered per client.
    assert identity.cluster_id(registry.for_context("cp")) == "u-cp"
    assert sorted(registry.requests) == sorted(["cp", "cp-alias", "k8s-1", "k8s-2", "k8s-1b", "down"])


def test_a_forbidden_identity_says_what_kbmc_needs() -> None:
    class Forbidden(_Registry):
        def for_context(self, ctx: str) -> KubeClient:
            client = super().for_context(ctx)

            def get(path: str, **query: Any) -> Any:
                raise ApiError(ctx, "GET", path, 403, "Forbidden",
                               {"message": 'namespaces "kube-system" is forbidden: User "v" cannot get resource'})
            client.get = get  # type: ignore[method-assign]
            return client

    found = identity.clusters(Forbidden({"dp": "x"}), ["dp"])  # type: ignore[arg-type]
    reason = identity.why(found.failed["dp"])
    assert reason.startswith("cannot tell which cluster this is: get namespace kube-system: forbidden (403): ")
    assert 'User "v" cannot get resource' in reason and "dp:" not in reason
