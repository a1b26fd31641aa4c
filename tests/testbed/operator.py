"""The bed's kubelet, for exactly what the KubeBlocks operator tests need.

The bed has API servers and controller managers but no kubelet. This runner plays one:

* Control plane (`cp`), namespace kb-system: for the pods of the KubeBlocks manager Deployment (the one the
  real chart creates; helm or `kbmc operator install` put it there), it runs the real manager binary as a
  local process with that pod's container args and env, the way a kubelet would run the container. The
  Deployment, ReplicaSet and pod objects stay the real ones: the bed's kube-controller-manager creates the
  pods, the runner reports them Running/Ready, so the Deployment's status (available replicas, the
  Available condition) is computed by the real deployment controller, and a changed pod template rolls out
  a new pod, for which the runner restarts the manager.
* Data planes: pods the operator created (labelled `app.kubernetes.io/managed-by=kubeblocks`) get phase
  Running, Ready and a loopback pod IP (never an address anything might dial beyond this machine).

What a local process needs rewritten (and only that): `--kubeconfig` the bed's cp admin kubeconfig; leader
election off; the metrics and health probes on free 127.0.0.1 ports; `--extensions=false` (the addon
controller installs addons through helm Jobs, which need a kubelet and images); webhooks off; every mounted
Secret/ConfigMap volume written to a private 0700 directory (files 0600) with its mount path rewritten in
the args; the volume mounted at /etc/kubeblocks (the manager's config) becomes the working directory,
where the manager looks for config.yaml.

Run by `python -m tests.testbed up --operator` and the `bed_operator` pytest fixture, as a process of its
own: `python -m tests.testbed.operator --root <bed dir>`. Logs: <bed dir>/logs/operator-runner.log and
operator-manager.log.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.testbed.bed import CONTROL_PLANE, TestBed, _alive, _terminate, free_port
from tests.testbed.build import ensure_manager

NAMESPACE = "kb-system"
# The manager Deployment of the KubeBlocks chart: `kubeblocks.selectorLabels` plus its component label.
MANAGER_LABELS = {"app.kubernetes.io/name": "kubeblocks", "app.kubernetes.io/component": "apps"}
MANAGER_CONTAINER = "manager"
OPERATOR_POD_LABEL = "app.kubernetes.io/managed-by=kubeblocks"
POD_IP = "127.0.0.1"  # loopback only: nothing may dial beyond this machine
CONFIG_MOUNT = "/etc/kubeblocks"
INTERVAL = 0.5
RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Api:
    """Just enough of a Kubernetes client for the runner: admin credentials of one bed cluster."""

    def __init__(self, bed: TestBed, name: str) -> None:
        d = bed.cluster_dir(name)
        self.ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
        self.ctx.load_cert_chain(str(d / "admin.crt"), str(d / "admin.key"))
        self.server = bed.server(name)
        self.name = name

    def call(self, method: str, path: str, body: Any = None,
             content_type: str = "application/merge-patch+json") -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method,  # noqa: S310 - bed loopback
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:  # noqa: S310
            return json.loads(r.read() or b"{}")

    def get_or_none(self, path: str) -> Any:
        try:
            return self.call("GET", path)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise


def _selector(labels: dict[str, str]) -> str:
    return urllib.parse.quote(",".join(f"{k}={v}" for k, v in labels.items()))


def ready_status(pod: dict[str, Any], ready: bool, restarts: int = 0, started: str | None = None) -> dict[str, Any]:
    """The status a kubelet would report for a pod whose containers all run (and are ready or not)."""
    since = started or _now()
    flag = "True" if ready else "False"
    containers = pod["spec"].get("containers", [])
    return {
        "phase": "Running",
        "hostIP": POD_IP, "hostIPs": [{"ip": POD_IP}],
        "podIP": POD_IP, "podIPs": [{"ip": POD_IP}],
        "startTime": pod.get("status", {}).get("startTime") or since,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": since},
            {"type": "Initialized", "status": "True", "lastTransitionTime": since},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": since},
            {"type": "Ready", "status": flag, "lastTransitionTime": since},
        ],
        "containerStatuses": [
            {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": ready, "started": True,
             "restartCount": restarts, "state": {"running": {"startedAt": since}}}
            for c in containers
        ],
    }


def _is_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and status.get("podIP") == POD_IP and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


@dataclass
class Manager:
    """One running manager process: the container of one pod."""

    pod_uid: str
    pod_name: str
    proc: subprocess.Popen[bytes]
    health: str
    run_dir: Path
    started: str = field(default_factory=_now)
    restarts: int = 0
    reported_ready: bool | None = None


class Runner:
    def __init__(self, bed: TestBed, binary: Path, namespace: str = NAMESPACE) -> None:
        self.bed = bed
        self.binary = binary
        self.namespace = namespace
        self.cp = Api(bed, CONTROL_PLANE)
        self.data_planes = [Api(bed, n) for n in bed.names]  # cp too: a Cluster may be placed there
        self.state_dir = bed.root / "operator"
        self.state_dir.mkdir(mode=0o700, exist_ok=True)
        self.manager_log = bed.root / "logs" / "operator-manager.log"
        self.manager: Manager | None = None
        self.backoff_until = 0.0
        self.failures = 0
        self.pending_restarts = 0  # restart count to report for the next manager process
        self.stopping = False

    # -- the manager pod ---------------------------------------------------------------------------

    def manager_pods(self) -> list[dict[str, Any]]:
        """Pods of the manager Deployment, newest first (the one a rollout is bringing up leads).

        The chart's Deployments (manager, dataprotection) share their pods' labels: a pod belongs to the
        manager when its ReplicaSet belongs to the manager Deployment."""
        ns = self.namespace
        deployments = self.cp.call("GET", f"/apis/apps/v1/namespaces/{ns}/deployments?labelSelector="
                                          f"{_selector(MANAGER_LABELS)}").get("items", [])
        owners = {d["metadata"]["uid"] for d in deployments}
        replica_sets = {rs["metadata"]["uid"] for rs in
                        self.cp.call("GET", f"/apis/apps/v1/namespaces/{ns}/replicasets").get("items", [])
                        if _owned_by(rs, owners)}
        pods = [p for p in self.cp.call("GET", f"/api/v1/namespaces/{ns}/pods").get("items", [])
                if _owned_by(p, replica_sets) and not p["metadata"].get("deletionTimestamp")
                and any(c["name"] == MANAGER_CONTAINER for c in p["spec"].get("containers", []))]
        return sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"], reverse=True)

    def sync_manager(self) -> None:
        pods = self.manager_pods()
        current = pods[0] if pods else None
        if self.manager and (current is None or current["metadata"]["uid"] != self.manager.pod_uid):
            self.log(f"pod {self.manager.pod_name} is gone or replaced: stopping its manager")
            self.stop_manager()
        # Older pods of a rollout: their container no longer runs here.
        for old in pods[1:]:
            if _is_ready(old):
                self.patch_pod_status(self.cp, old, ready_status(old, ready=False))
        if current is None:
            return
        if self.manager and self.manager.proc.poll() is not None:
            code = self.manager.proc.returncode
            self.log(f"manager of {self.manager.pod_name} exited with {code}; restarting (backoff)")
            self.failures += 1
            self.backoff_until = time.monotonic() + RESTART_BACKOFF[min(self.failures, len(RESTART_BACKOFF)) - 1]
            self.pending_restarts = self.manager.restarts + 1
            self.stop_manager()
            self.patch_pod_status(self.cp, current, ready_status(current, ready=False, restarts=self.pending_restarts))
        if self.manager is None:
            if time.monotonic() < self.backoff_until:
                return
            self.start_manager(current, restarts=self.pending_restarts)
            self.pending_restarts = 0
        assert self.manager is not None
        ready = self.probe(self.manager.health)
        if ready:
            self.failures = 0
        if ready != self.manager.reported_ready or not _is_ready(current) and ready:
            self.patch_pod_status(self.cp, current, ready_status(current, ready, self.manager.restarts,
                                                                 self.manager.started))
            self.manager.reported_ready = ready

    def start_manager(self, pod: dict[str, Any], restarts: int) -> None:
        spec = pod["spec"]
        container = next(c for c in spec["containers"] if c["name"] == MANAGER_CONTAINER)
        uid = pod["metadata"]["uid"]
        run_dir = self.state_dir / hashlib.sha256(uid.encode()).hexdigest()[:12]
        run_dir.mkdir(mode=0o700, exist_ok=True)
        mounts = self.materialize_mounts(pod, container, run_dir)
        metrics, health = free_port(), free_port()
        args = local_args(container.get("args", []), mounts,
                          kubeconfig=str(self.bed.cluster_dir(CONTROL_PLANE) / "admin.kubeconfig"),
                          metrics=f"127.0.0.1:{metrics}", health=f"127.0.0.1:{health}")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(run_dir)}
        env.update(self.resolve_env(pod, container))
        env.pop("ENABLE_WEBHOOKS", None)  # webhooks off: nothing here could call them
        self.log(f"starting the manager for pod {pod['metadata']['name']}: {' '.join(args)}")
        with open(self.manager_log, "ab") as log:
            log.write(f"--- {_now()} manager for pod {pod['metadata']['name']}\n".encode())
            log.flush()
            proc = subprocess.Popen([str(self.binary), *args], cwd=mounts.get(CONFIG_MOUNT, str(run_dir)), env=env,
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        (self.state_dir / "manager.pid").write_text(str(proc.pid))
        self.manager = Manager(uid, pod["metadata"]["name"], proc, f"http://127.0.0.1:{health}/readyz", run_dir,
                               restarts=restarts)

    def stop_manager(self) -> None:
        if self.manager is None:
            return
        _terminate(self.manager.proc.pid)
        self.manager.proc.poll()
        shutil.rmtree(self.manager.run_dir, ignore_errors=True)  # its copies of mounted Secrets go too
        self.manager = None
        (self.state_dir / "manager.pid").unlink(missing_ok=True)

    def materialize_mounts(self, pod: dict[str, Any], container: dict[str, Any], run_dir: Path) -> dict[str, str]:
        """Write each Secret/ConfigMap volume the container mounts into run_dir; mount path -> local dir."""
        ns = pod["metadata"]["namespace"]
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        mounts: dict[str, str] = {}
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"], {})
            files: dict[str, bytes] = {}
            if "secret" in volume:
                obj = self.cp.get_or_none(f"/api/v1/namespaces/{ns}/secrets/{volume['secret']['secretName']}")
                files = {k: base64.b64decode(v) for k, v in ((obj or {}).get("data") or {}).items()}
            elif "configMap" in volume:
                obj = self.cp.get_or_none(f"/api/v1/namespaces/{ns}/configmaps/{volume['configMap']['name']}")
                files = {k: v.encode() for k, v in ((obj or {}).get("data") or {}).items()}
            else:
                continue  # the manager's own mounts are all Secrets and ConfigMaps
            for item in (volume.get("secret") or volume.get("configMap") or {}).get("items") or []:
                if item["key"] in files:
                    files[item["path"]] = files.pop(item["key"])
            target = run_dir / "mounts" / mount["name"]
            target.mkdir(mode=0o700, parents=True, exist_ok=True)
            for key, content in files.items():
                path = target / key
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(content)
            mounts[mount["mountPath"].rstrip("/")] = str(target)
        return mounts

    def resolve_env(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
        ns = pod["metadata"]["namespace"]
        env: dict[str, str] = {}
        for item in container.get("env", []):
            name = item["name"]
            if "value" in item:
                env[name] = _expand(str(item["value"]), env)
                continue
            ref = item.get("valueFrom") or {}
            if "secretKeyRef" in ref:
                r = ref["secretKeyRef"]
                obj = self.cp.get_or_none(f"/api/v1/namespaces/{ns}/secrets/{r['name']}")
                value = ((obj or {}).get("data") or {}).get(r["key"])
                if value is not None:
                    env[name] = base64.b64decode(value).decode()
            elif "configMapKeyRef" in ref:
                r = ref["configMapKeyRef"]
                obj = self.cp.get_or_none(f"/api/v1/namespaces/{ns}/configmaps/{r['name']}")
                value = ((obj or {}).get("data") or {}).get(r["key"])
                if value is not None:
                    env[name] = value
            elif "fieldRef" in ref:
                env[name] = _field(pod, ref["fieldRef"]["fieldPath"])
            else:
                env[name] = ""
        return env

    def probe(self, url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - the manager's own loopback probe
                return bool(r.status == 200)
        except OSError:
            return False

    # -- data-plane pods ---------------------------------------------------------------------------

    def sync_workload_pods(self) -> None:
        for api in self.data_planes:
            try:
                pods = api.call("GET", f"/api/v1/pods?labelSelector={urllib.parse.quote(OPERATOR_POD_LABEL)}")
            except OSError:
                continue  # a data plane a test stopped
            for pod in pods.get("items", []):
                if pod["metadata"].get("deletionTimestamp") or _is_ready(pod):
                    continue
                self.patch_pod_status(api, pod, ready_status(pod, ready=True))

    # -- plumbing ----------------------------------------------------------------------------------

    def patch_pod_status(self, api: Api, pod: dict[str, Any], status: dict[str, Any]) -> None:
        meta = pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
        try:
            api.call("PATCH", path, {"metadata": {"uid": meta["uid"]}, "status": status})
        except urllib.error.HTTPError as exc:
            if exc.code not in (404, 409):
                raise
            return
        self.log(f"{api.name}: pod {meta['namespace']}/{meta['name']} Running, ready={status['conditions'][-1]['status']}")

    def log(self, message: str) -> None:
        print(f"{_now()} {message}", flush=True)

    def run(self) -> None:
        while not self.stopping:
            for step in (self.sync_manager, self.sync_workload_pods):
                try:
                    step()
                except Exception:  # keep running: an API server a test stopped, a conflict, ...
                    self.log(f"{step.__name__} failed:\n{traceback.format_exc()}")
            time.sleep(INTERVAL)
        self.stop_manager()


def _owned_by(obj: dict[str, Any], uids: set[str]) -> bool:
    return any(ref.get("controller") and ref.get("uid") in uids for ref in obj["metadata"].get("ownerReferences", []))


def _field(pod: dict[str, Any], path: str) -> str:
    meta = pod["metadata"]
    simple = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
              "metadata.uid": meta.get("uid"), "spec.nodeName": pod["spec"].get("nodeName") or "bed",
              "spec.serviceAccountName": pod["spec"].get("serviceAccountName"),
              "status.podIP": POD_IP, "status.hostIP": POD_IP}
    if path in simple:
        return str(simple[path] or "")
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    return ""


def _expand(value: str, env: dict[str, str]) -> str:
    """$(VAR) references to earlier variables, as the kubelet expands them."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


_DROPPED = ("--kubeconfig", "--leader-elect", "--metrics-bind-address", "--health-probe-bind-address",
            "--extensions")


def local_args(args: list[str], mounts: dict[str, str], *, kubeconfig: str, metrics: str, health: str) -> list[str]:
    """The container's args for a local process: mount paths rewritten, what must change replaced."""
    out: list[str] = []
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
            continue
        flag = arg.split("=", 1)[0]
        if flag in _DROPPED:
            # `--flag value` form (bools never take a separate value)
            skip_next = "=" not in arg and flag not in ("--leader-elect", "--extensions")
            continue
        for mount_path, local in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
            arg = re.sub(re.escape(mount_path) + r"(?=/|$|,)", local, arg)
        out.append(arg)
    return [*out, f"--kubeconfig={kubeconfig}", "--leader-elect=false", f"--metrics-bind-address={metrics}",
            f"--health-probe-bind-address={health}", "--extensions=false"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed.operator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="the bed's directory")
    parser.add_argument("--namespace", default=NAMESPACE, help="namespace of the manager Deployment")
    args = parser.parse_args(argv)
    bed = TestBed.load(args.root)
    if bed is None:
        print(f"no test bed recorded in {args.root}", file=sys.stderr)
        return 1
    runner = Runner(bed, ensure_manager(), args.namespace)

    def stop(*_: Any) -> None:
        runner.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.log(f"operator runner watching {CONTROL_PLANE}/{args.namespace} for the KubeBlocks manager")
    runner.run()
    runner.log("operator runner stopped")
    return 0


def stop_leftover_manager(root: Path) -> None:
    """Stop a manager whose runner died without stopping it."""
    pid_file = root / "operator" / "manager.pid"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    if _alive(pid):
        _terminate(pid)
    pid_file.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
