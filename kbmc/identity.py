"""Which cluster a context reaches, decided by the cluster itself.

Two contexts may name one cluster under different server addresses (`https://localhost:6443` and
`https://127.0.0.1:6443`, a load balancer's name and a node's address, an alias context made for
another user). Comparing the addresses as text cannot see that. The UID of the `kube-system`
namespace can: every cluster has that namespace, it is created once with the cluster, and its UID
is never reused. Reading it needs `get` on namespace `kube-system`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kbmc.clients import ApiError, ClientRegistry, KubeClient, resource_path
from kbmc.errors import KbmcError
from kbmc.fanout import ContextResult, fan_out

KUBE_SYSTEM = resource_path("v1", "namespaces", name="kube-system")


def cluster_id(client: KubeClient) -> str:
    """The cluster's identity (its kube-system namespace's UID); read once per client, then remembered."""
    if client.cluster_uid is None:
        client.cluster_uid = str(client.get(KUBE_SYSTEM)["metadata"]["uid"])
    return client.cluster_uid


def cluster_ids(registry: ClientRegistry, contexts: Iterable[str]) -> list[ContextResult[str]]:
    """Every context's cluster identity, read concurrently; a context that cannot be read fails its own result."""
    return fan_out(contexts, lambda ctx: cluster_id(registry.for_context(ctx)))


@dataclass
class Clusters:
    """Contexts grouped by the cluster they reach."""

    ids: dict[str, str]  # context -> cluster identity, for the contexts that could be read
    failed: dict[str, ContextResult[str]]  # context -> why its identity could not be read

    def same(self, a: str, b: str) -> bool:
        """Whether two contexts are known to reach one cluster (the same name always does)."""
        return a == b or (a in self.ids and self.ids.get(a) == self.ids.get(b))

    def aliases(self, contexts: Iterable[str]) -> list[list[str]]:
        """Groups of two or more of `contexts` that reach one cluster, in the order given."""
        groups: dict[str, list[str]] = {}
        for ctx in dict.fromkeys(contexts):
            if ctx in self.ids:
                groups.setdefault(self.ids[ctx], []).append(ctx)
        return [g for g in groups.values() if len(g) > 1]


def why(result: ContextResult[Any]) -> str:
    """Why a context's identity could not be read, for its row (without the context's name)."""
    exc = result.exception
    if isinstance(exc, ApiError):
        if exc.unreachable or exc.unauthenticated:
            return exc.summary
        return (f"cannot tell which cluster this is: get namespace kube-system: {exc.summary} "
                "(kbmc tells clusters apart by that namespace's UID)")
    text = result.error or "failed"
    if isinstance(exc, KbmcError):
        for prefix in (f"{result.context}: ", f"context {result.context!r}: "):
            if text.startswith(prefix):
                return text[len(prefix):]
    return text


def clusters(registry: ClientRegistry, contexts: Iterable[str]) -> Clusters:
    results = cluster_ids(registry, contexts)
    return Clusters({r.context: r.value for r in results if r.ok and r.value is not None},
                    {r.context: r for r in results if not r.ok})
