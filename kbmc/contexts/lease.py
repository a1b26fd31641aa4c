"""A Lease in the control plane that serialises kbmc's changes to the operator's contexts.

helm refuses a second upgrade while one is in progress, and two read-modify-write patches of the manager's
args can race: every `contexts disable/enable` takes this lock first (coordination.k8s.io/v1 Lease, created
or taken over with resourceVersion preconditions), re-reads the live state under it, writes, and releases.
The holder renews the lease every `duration / 3` seconds while it works (a helm upgrade may take minutes), so
the lease can be short: a holder that died leaves a lease that expires `leaseDurationSeconds` (30 s) after its
last renewal and is then taken over. A holder on this machine whose process is gone is taken over at once.
A run that cannot get the lease gives up within its own timeout, naming the holder, when its lease expires
(renewTime + leaseDurationSeconds, as the holder wrote them) and what to do.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from kbmc.clients import ApiError, KubeClient, resource_path
from kbmc.errors import OperationError

LEASE_NAME = "kbmc-contexts"
API = "coordination.k8s.io/v1"
DURATION = 30  # seconds; renewed every DURATION / 3 while held
_IDENTITY = re.compile(r"^kbmc@(?P<host>[^/]+)/(?P<pid>\d+)-[0-9a-f]+$")


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


def expires_at(lease: dict[str, Any]) -> datetime | None:
    """When the lease runs out: its holder's last renewTime (else acquireTime) + its leaseDurationSeconds."""
    spec = lease.get("spec") or {}
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    if renewed is None:
        return None
    return renewed + timedelta(seconds=int(spec.get("leaseDurationSeconds") or 0))


def dead_local_holder(identity: str | None, host: str | None = None) -> bool:
    """True when the holder is a kbmc process on this machine that no longer runs (it cannot renew or release)."""
    m = _IDENTITY.match(identity or "")
    if m is None or m.group("host") != (host or socket.gethostname()):
        return False
    pid = int(m.group("pid"))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (owned by someone else)
        return False
    return False


def expired(lease: dict[str, Any], now: datetime | None = None) -> bool:
    spec = lease.get("spec") or {}
    if not spec.get("holderIdentity"):
        return True
    until = expires_at(lease)
    return until is None or (now or _now()) > until


def busy_message(lease: dict[str, Any] | None, namespace: str, now: datetime | None = None) -> str:
    """Why a run gave up waiting: who holds the lease, when it expires (as its holder wrote it), what to do."""
    spec = (lease or {}).get("spec") or {}
    holder = spec.get("holderIdentity") or "unknown"
    until = expires_at(lease or {})
    where = f"{namespace}/{LEASE_NAME}"
    if until is None:
        when = "it has no renewTime"
    else:
        left = int((until - (now or _now())).total_seconds())
        when = (f"it expires at {until.strftime('%Y-%m-%dT%H:%M:%SZ')} (renewTime {spec.get('renewTime')} + "
                f"leaseDurationSeconds {spec.get('leaseDurationSeconds')}"
                + (f", in {left}s)" if left > 0 else ")"))
    return (f"another kbmc run ({holder}) holds the lease {where}; {when}. Retry when it is done; if that run is "
            f"gone, retry after the expiry, or delete the lease: kubectl -n {namespace} delete lease {LEASE_NAME}")


@contextmanager
def held(client: KubeClient, namespace: str, *, timeout: float, duration: int = DURATION,
         identity: str | None = None, interval: float = 0.2) -> Iterator[str]:
    """Hold the lease for the block, renewing it; raise OperationError (retryable) when another holder keeps it
    past `timeout` (the wait never outlasts it)."""
    me = identity or holder_identity()
    path = resource_path(API, "leases", namespace, LEASE_NAME)
    deadline = time.monotonic() + timeout
    current: dict[str, Any] | None = None
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
            if expired(current, now) or dead_local_holder((current.get("spec") or {}).get("holderIdentity")):
                # resourceVersion in the body: only one of two racing takers wins, the other gets 409.
                taken = {**current, "spec": {**(current.get("spec") or {}), **spec,
                                             "leaseTransitions": int((current.get("spec") or {})
                                                                     .get("leaseTransitions") or 0) + 1}}
                client.replace(path, taken)
                break
        except ApiError as exc:
            if exc.status not in (409, 422):  # 409: someone else created/took it first
                raise
        left = deadline - time.monotonic()
        if left <= 0:
            raise OperationError(busy_message(current, namespace))
        time.sleep(min(left, interval + secrets.randbelow(100) / 1000))
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(client, path, me, duration, stop), daemon=True)
    renewer.start()
    try:
        yield me
    finally:
        stop.set()
        renewer.join()
        release(client, namespace, me)


def _renew(client: KubeClient, path: str, identity: str, duration: int, stop: threading.Event) -> None:
    """Move renewTime forward every duration/3 while the lease is ours (a lost one is not taken back)."""
    while not stop.wait(max(0.5, duration / 3)):
        try:
            current = client.get_or_none(path)
            if current is None or (current.get("spec") or {}).get("holderIdentity") != identity:
                return
            client.replace(path, {**current, "spec": {**current["spec"], "renewTime": _fmt(_now())}})
        except ApiError:
            continue  # a conflict or a blip: the next round tries again, well before the lease expires


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
