"""A Lease in the control plane that serialises kbmc's changes to the operator's contexts.

helm refuses a second upgrade while one is in progress, and two read-modify-write patches of the manager's
args can race: every `contexts disable/enable` takes this lock first (coordination.k8s.io/v1 Lease, created
or taken over with resourceVersion preconditions), re-reads the live state under it, writes, and releases.
A holder that died leaves a lease that expires after `leaseDurationSeconds` and is then taken over.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from kbmc.clients import ApiError, KubeClient, resource_path
from kbmc.errors import OperationError

LEASE_NAME = "kbmc-contexts"
API = "coordination.k8s.io/v1"


def holder_identity() -> str:
    return f"kbmc@{socket.gethostname()}/{os.getpid()}-{secrets.token_hex(3)}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        try:
            return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None


def expired(lease: dict[str, Any], now: datetime | None = None) -> bool:
    spec = lease.get("spec") or {}
    if not spec.get("holderIdentity"):
        return True
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    if renewed is None:
        return True
    return (now or _now()) > renewed + timedelta(seconds=int(spec.get("leaseDurationSeconds") or 0))


@contextmanager
def held(client: KubeClient, namespace: str, *, duration: int = 60, timeout: float = 120.0,
         identity: str | None = None, interval: float = 0.2) -> Iterator[str]:
    """Hold the lease for the block; raise OperationError (retryable) when another holder keeps it past `timeout`."""
    me = identity or holder_identity()
    path = resource_path(API, "leases", namespace, LEASE_NAME)
    deadline = time.monotonic() + timeout
    last_holder = None
    while True:
        now = _now()
        spec = {"holderIdentity": me, "leaseDurationSeconds": duration, "acquireTime": _fmt(now),
                "renewTime": _fmt(now)}
        current = client.get_or_none(path)
        try:
            if current is None:
                client.create(resource_path(API, "leases", namespace),
                              {"apiVersion": API, "kind": "Lease",
                               "metadata": {"name": LEASE_NAME, "namespace": namespace}, "spec": spec})
                break
            if expired(current, now):
                # resourceVersion in the body: only one of two racing takers wins, the other gets 409.
                taken = {**current, "spec": {**(current.get("spec") or {}), **spec,
                                             "leaseTransitions": int((current.get("spec") or {})
                                                                     .get("leaseTransitions") or 0) + 1}}
                client.replace(path, taken)
                break
            last_holder = (current.get("spec") or {}).get("holderIdentity")
        except ApiError as exc:
            if exc.status not in (409, 422):  # 409: someone else created/took it first
                raise
        if time.monotonic() > deadline:
            raise OperationError(f"another kbmc run ({last_holder or 'unknown'}) holds the lease "
                                 f"{namespace}/{LEASE_NAME}; retry when it is done (it expires {duration}s after "
                                 f"its last renewal)")
        time.sleep(interval + secrets.randbelow(100) / 1000)
    try:
        yield me
    finally:
        release(client, namespace, me)


def release(client: KubeClient, namespace: str, identity: str) -> None:
    """Give the lease up if still ours (an expired lease may have been taken over meanwhile)."""
    path = resource_path(API, "leases", namespace, LEASE_NAME)
    try:
        current = client.get_or_none(path)
        if current is None or (current.get("spec") or {}).get("holderIdentity") != identity:
            return
        client.replace(path, {**current, "spec": {**current["spec"], "holderIdentity": "",
                                                  "renewTime": None, "acquireTime": None}})
    except ApiError:
        pass  # it expires by itself
