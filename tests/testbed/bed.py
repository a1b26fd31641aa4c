"""A real multi-cluster Kubernetes test bed on loopback.

One etcd; per cluster its own kube-apiserver (own --etcd-prefix, service CIDR,
CA, serving cert and admin client cert) and kube-controller-manager (ClusterRole
aggregation, namespace deletion, garbage collection, Deployments). One
kubeconfig with a context per cluster, credentials embedded as data.

State is kept in `<root>/state.json` so a bed started by `python -m tests.testbed up`
can be used and stopped from other processes.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.testbed import pki
from tests.testbed.build import ensure_binaries

CONTROL_PLANE = "cp"
READY_TIMEOUT = 120.0
VIEWER_USER = "kbmc-viewer"  # a token user with no RBAC grants, for permission checks


def data_plane_names(count: int) -> list[str]:
    return [f"k8s-{i}" for i in range(1, count + 1)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A zombie still answers kill(0); look at its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _terminate(pid: int | None, timeout: float = 10.0) -> None:
    if not _alive(pid):
        return
    assert pid is not None
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        except ChildProcessError:
            if not _alive(pid):
                return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (OSError, ChildProcessError):
        pass


@dataclass
class ClusterState:
    name: str
    index: int
    port: int
    service_cidr: str
    viewer_token: str
    apiserver_pid: int | None = None
    kcm_pid: int | None = None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@dataclass
class BedState:
    root: str
    etcd_port: int = 0
    etcd_pid: int | None = None
    clusters: dict[str, ClusterState] = field(default_factory=dict)
    operator_pid: int | None = None  # the operator runner (tests/testbed/operator.py), when started


class TestBed:
    """Start, inspect, break and stop the bed."""

    __test__ = False  # not a pytest test class

    def __init__(self, root: Path, state: BedState | None = None) -> None:
        self.root = Path(root)
        self.state = state or BedState(root=str(self.root))
        self.bin: Path | None = None

    # -- paths --------------------------------------------------------------------------------------

    @property
    def kubeconfig_path(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    def cluster_dir(self, name: str) -> Path:
        return self.root / "clusters" / name

    @property
    def names(self) -> list[str]:
        return list(self.state.clusters)

    @property
    def data_planes(self) -> list[str]:
        return [n for n in self.state.clusters if n != CONTROL_PLANE]

    def server(self, name: str) -> str:
        return self.state.clusters[name].server

    # -- lifecycle ----------------------------------------------------------------------------------

    @classmethod
    def start(cls, root: Path, data_planes: int = 3) -> TestBed:
        bed = cls(root)
        bed.root.mkdir(parents=True, exist_ok=True)
        bed.bin = ensure_binaries()
        try:
            bed._start_etcd()
            names = [CONTROL_PLANE, *data_plane_names(data_planes)]
            with ThreadPoolExecutor(max_workers=len(names)) as pool:
                list(pool.map(bed._start_cluster, names, range(len(names))))
            bed.state.clusters = {n: bed.state.clusters[n] for n in names}  # threads finish in any order
        except BaseException:
            bed.stop()
            raise
        bed.write_kubeconfig()
        bed.save()
        return bed

    @classmethod
    def load(cls, root: Path) -> TestBed | None:
        """The bed recorded in `root`, whatever state its processes are in."""
        path = Path(root) / "state.json"
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        clusters = {k: ClusterState(**v) for k, v in raw.pop("clusters").items()}
        return cls(Path(root), BedState(**raw, clusters=clusters))

    @classmethod
    def attach(cls, root: Path) -> TestBed | None:
        """The bed recorded in `root`, if all its processes are running."""
        bed = cls.load(root)
        if bed is None or not _alive(bed.state.etcd_pid):
            return None
        if not all(_alive(c.apiserver_pid) for c in bed.state.clusters.values()):
            return None
        return bed

    def pids(self) -> list[int | None]:
        return [self.state.etcd_pid, self.state.operator_pid,
                *(p for c in self.state.clusters.values() for p in (c.apiserver_pid, c.kcm_pid))]

    def any_alive(self) -> bool:
        return any(_alive(pid) for pid in self.pids())

    def save(self) -> None:
        data = asdict(self.state)
        self.state_path.write_text(json.dumps(data, indent=2))

    def stop(self) -> None:
        self.stop_operator()
        for c in self.state.clusters.values():
            _terminate(c.kcm_pid)
            _terminate(c.apiserver_pid)
            c.kcm_pid = c.apiserver_pid = None
        _terminate(self.state.etcd_pid)
        self.state.etcd_pid = None
        if self.state_path.exists():
            self.state_path.unlink()

    def start_operator(self) -> None:
        """Start the operator runner (tests/testbed/operator.py): it runs the real KubeBlocks manager for the
        manager Deployment in cp's kb-system, and reports operator-created pods Running and Ready."""
        from tests.testbed.build import ensure_manager

        if _alive(self.state.operator_pid):
            return
        ensure_manager()  # build here, with its progress on stderr, not inside the runner
        repo = Path(__file__).resolve().parents[2]
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        with open(logs / "operator-runner.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "tests.testbed.operator", "--root", str(self.root)],
                                    cwd=repo, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.state.operator_pid = proc.pid
        self.save()

    def stop_operator(self) -> None:
        from tests.testbed.operator import stop_leftover_manager

        _terminate(self.state.operator_pid, timeout=20.0)  # it stops its manager first
        self.state.operator_pid = None
        stop_leftover_manager(self.root)
        if self.state_path.exists():
            self.save()

    def add_data_plane(self, name: str) -> None:
        """Start one more cluster (e.g. k8s-4) and add it to the kubeconfig."""
        self._binaries()
        self._start_cluster(name, len(self.state.clusters))
        self.write_kubeconfig()
        self.save()

    def remove_cluster(self, name: str) -> None:
        c = self.state.clusters.pop(name)
        _terminate(c.kcm_pid)
        _terminate(c.apiserver_pid)
        self.write_kubeconfig()
        self.save()

    # -- faults -------------------------------------------------------------------------------------

    def stop_apiserver(self, name: str) -> None:
        c = self.state.clusters[name]
        _terminate(c.kcm_pid)
        _terminate(c.apiserver_pid)
        c.apiserver_pid = c.kcm_pid = None
        self.save()

    def start_apiserver(self, name: str) -> None:
        c = self.state.clusters[name]
        self._binaries()
        self._launch_apiserver(c)
        self._wait_ready(c)
        self._launch_kcm(c)
        self.save()

    # -- internals ----------------------------------------------------------------------------------

    def _binaries(self) -> Path:
        if self.bin is None:
            self.bin = ensure_binaries()
        return self.bin

    def _spawn(self, argv: list[str], log_name: str) -> int:
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        with open(logs / f"{log_name}.log", "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        return proc.pid

    def _start_etcd(self) -> None:
        port, peer = free_port(), free_port()
        data = self.root / "etcd-data"
        shutil.rmtree(data, ignore_errors=True)
        self.state.etcd_port = port
        self.state.etcd_pid = self._spawn([
            str(self._binaries() / "etcd"), "--name", "bed", "--data-dir", str(data),
            "--listen-client-urls", f"http://127.0.0.1:{port}", "--advertise-client-urls", f"http://127.0.0.1:{port}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"bed=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync", "--log-level", "warn", "--quota-backend-bytes", str(2 * 1024**3),
        ], "etcd")
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:  # noqa: S310
                    if json.loads(r.read()).get("health") == "true":
                        return
            except OSError:
                pass
            if not _alive(self.state.etcd_pid):
                raise RuntimeError(f"etcd exited; see {self.root / 'logs' / 'etcd.log'}")
            time.sleep(0.2)
        raise RuntimeError("etcd did not become healthy")

    def _start_cluster(self, name: str, index: int) -> None:
        d = self.cluster_dir(name)
        d.mkdir(parents=True, exist_ok=True)
        ca = pki.CA(name)
        ca.pair.write(d, "ca")
        ca.issue("kube-apiserver", server=True).write(d, "serving")
        ca.issue("kbmc-admin", organizations=("system:masters",)).write(d, "admin")
        sa = pki.service_account_keys()
        (d / "sa.pub").write_bytes(sa.cert_pem)
        (d / "sa.key").write_bytes(sa.key_pem)
        token = secrets.token_hex(16)
        (d / "tokens.csv").write_text(f'{token},{VIEWER_USER},{VIEWER_USER},""\n')
        # Service CIDRs differ per cluster, as they would across real clusters.
        c = ClusterState(name=name, index=index, port=free_port(), service_cidr=f"10.{96 + index}.0.0/16",
                         viewer_token=token)
        self.state.clusters[name] = c
        self._launch_apiserver(c)
        self._wait_ready(c)
        self._write_admin_kubeconfig(c)
        self._launch_kcm(c)
        self._wait_settled(c)

    def _launch_apiserver(self, c: ClusterState) -> None:
        d = self.cluster_dir(c.name)
        c.apiserver_pid = self._spawn([
            str(self._binaries() / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.state.etcd_port}",
            f"--etcd-prefix=/registry-{c.name}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={c.port}",
            f"--cert-dir={d / 'certs'}",
            f"--tls-cert-file={d / 'serving.crt'}", f"--tls-private-key-file={d / 'serving.key'}",
            f"--client-ca-file={d / 'ca.crt'}",
            f"--token-auth-file={d / 'tokens.csv'}",
            f"--service-account-issuer=https://{c.name}.bed.kbmc.invalid",
            f"--service-account-key-file={d / 'sa.pub'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            f"--service-cluster-ip-range={c.service_cidr}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--endpoint-reconciler-type=none",
            # Webhooks, conversion webhooks and aggregated APIs are then resolved through EndpointSlices,
            # never a Service's ClusterIP (10.x here): nothing the bed runs may dial beyond loopback.
            "--enable-aggregator-routing=true",
            "--v=1",
        ], f"{c.name}-apiserver")

    def _write_admin_kubeconfig(self, c: ClusterState) -> None:
        d = self.cluster_dir(c.name)
        doc = _kubeconfig({c.name: (c, d)})
        (d / "admin.kubeconfig").write_text(yaml.safe_dump(doc))
        (d / "admin.kubeconfig").chmod(0o600)

    def _launch_kcm(self, c: ClusterState) -> None:
        d = self.cluster_dir(c.name)
        c.kcm_pid = self._spawn([
            str(self._binaries() / "kube-controller-manager"),
            f"--kubeconfig={d / 'admin.kubeconfig'}",
            "--leader-elect=false",
            "--secure-port=0",
            f"--service-account-private-key-file={d / 'sa.key'}",
            f"--root-ca-file={d / 'ca.crt'}",
            "--use-service-account-credentials=false",
            # No nodes and no cloud here; these controllers would only log errors.
            "--controllers=*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service-lb-controller,"
            "-node-route-controller,-persistentvolume-binder,-attachdetach,-persistentvolume-expander,"
            "-ephemeral-volume,-taint-eviction-controller,-bootstrap-signer-controller,-token-cleaner-controller",
            "--concurrent-gc-syncs=5",
            "--v=1",
        ], f"{c.name}-controller-manager")

    def _ssl_context(self, name: str) -> ssl.SSLContext:
        d = self.cluster_dir(name)
        ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
        ctx.load_cert_chain(str(d / "admin.crt"), str(d / "admin.key"))
        return ctx

    def _wait_ready(self, c: ClusterState) -> None:
        ctx = self._ssl_context(c.name)
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            if not _alive(c.apiserver_pid):
                raise RuntimeError(f"{c.name}: kube-apiserver exited; see {self.root}/logs/{c.name}-apiserver.log")
            try:
                with urllib.request.urlopen(f"{c.server}/readyz", context=ctx, timeout=3) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.25)
        raise RuntimeError(f"{c.name}: kube-apiserver not ready after {READY_TIMEOUT}s: {last}")

    # What kube-controller-manager creates in a new cluster's namespaces (the service account and root CA publisher
    # controllers). A test that snapshots a cluster must not start before these exist: on a slow machine they appear
    # seconds after the apiserver is ready, and would look like a change made by the command under test.
    SETTLED = [f"/api/v1/namespaces/{ns}/{kind}" for ns in ("default", "kube-system", "kube-public", "kube-node-lease")
               for kind in ("serviceaccounts/default", "configmaps/kube-root-ca.crt")]

    def _wait_settled(self, c: ClusterState) -> None:
        ctx = self._ssl_context(c.name)
        deadline = time.monotonic() + READY_TIMEOUT
        pending = list(self.SETTLED)
        while pending and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{c.server}{pending[0]}", context=ctx, timeout=3):  # noqa: S310
                    pending.pop(0)
                    continue
            except OSError:
                pass
            if not _alive(c.kcm_pid):
                raise RuntimeError(f"{c.name}: kube-controller-manager exited; see {self.root}/logs/{c.name}-controller-manager.log")
            time.sleep(0.2)
        if pending:
            raise RuntimeError(f"{c.name}: kube-controller-manager did not create {pending[0]} in {READY_TIMEOUT}s")

    def write_kubeconfig(self) -> Path:
        clusters = {n: (c, self.cluster_dir(n)) for n, c in self.state.clusters.items()}
        doc = _kubeconfig(clusters)
        self.kubeconfig_path.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.kubeconfig_path.chmod(0o600)
        return self.kubeconfig_path

    def viewer_context(self, name: str) -> dict[str, Any]:
        """A kubeconfig fragment for the bed's permission-less token user on cluster `name`."""
        c = self.state.clusters[name]
        return {
            "cluster": {"server": c.server, "certificate-authority-data": _b64(self.cluster_dir(name) / "ca.crt")},
            "user": {"token": c.viewer_token},
        }

    def status(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "kubeconfig": str(self.kubeconfig_path),
            "etcd": {"port": self.state.etcd_port, "running": _alive(self.state.etcd_pid)},
            "operatorRunner": {"running": _alive(self.state.operator_pid)},
            "clusters": {
                n: {"server": c.server, "apiserver": _alive(c.apiserver_pid), "controllerManager": _alive(c.kcm_pid),
                    "serviceCIDR": c.service_cidr}
                for n, c in self.state.clusters.items()
            },
        }


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _kubeconfig(clusters: dict[str, tuple[ClusterState, Path]]) -> dict[str, Any]:
    names = list(clusters)
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": c.server, "certificate-authority-data": _b64(d / "ca.crt")}}
                     for n, (c, d) in clusters.items()],
        "users": [{"name": f"{n}-admin", "user": {"client-certificate-data": _b64(d / "admin.crt"),
                                                 "client-key-data": _b64(d / "admin.key")}}
                  for n, (c, d) in clusters.items()],
        "contexts": [{"name": n, "context": {"cluster": n, "user": f"{n}-admin"}} for n in names],
        "current-context": names[0] if names else "",
    }
