"""The real KubeBlocks CRDs and chart, from the `github.com/apecloud/kubeblocks` Go module.

One place pins which release serves each Cluster API the tests check against, and which release's
chart (`deploy/helm`) the operator tests install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

MODULE = "github.com/apecloud/kubeblocks"
# Cluster API -> the KubeBlocks release whose CRDs define it.
RELEASES = {"v1alpha1": "v0.9.0", "v1": "v1.0.1"}
CRDS = ("apps.kubeblocks.io_clusters.yaml", "apps.kubeblocks.io_componentdefinitions.yaml")
# The chart the operator tests install (0.9: the v1alpha1 Cluster API, the runbook's release).
CHART_RELEASE = RELEASES["v1alpha1"]


# libyaml's loader when PyYAML has it: the pure-Python one takes seconds over every CRD of a release.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CrdsUnavailable(RuntimeError):
    pass


def crd_dir(release: str) -> Path:
    return module_dir(release) / "config" / "crd" / "bases"


def chart_dir(release: str = CHART_RELEASE) -> Path:
    """The real KubeBlocks chart (read-only, in the Go module cache)."""
    return module_dir(release) / "deploy" / "helm"


def all_crds(release: str = CHART_RELEASE) -> list[dict[str, Any]]:
    """Every CRD of a release (config/crd/bases), as the operator needs them in the control plane."""
    docs: list[dict[str, Any]] = []
    for path in sorted(crd_dir(release).glob("*.yaml")):
        docs += [d for d in yaml.load_all(path.read_text(), Loader=_LOADER) if d]
    return docs


def module_dir(release: str) -> Path:
    return module_dir_of(MODULE, release)


def module_dir_of(module: str, release: str) -> Path:
    """Where `go mod download` put a module release (downloaded once, then from the module cache)."""
    go = shutil.which("go")
    if go is None:
        raise CrdsUnavailable(f"Go is not installed: cannot fetch {module}")
    proc = subprocess.run([go, "mod", "download", "-json", f"{module}@{release}"], capture_output=True, text=True,
                          env=dict(os.environ, GOFLAGS="-mod=mod"))
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "Dir" not in info:
        raise CrdsUnavailable(f"go mod download {module}@{release} failed: {info.get('Error') or proc.stderr.strip()}")
    return Path(info["Dir"])


def load_crds(api: str) -> list[dict[str, Any]]:
    base = crd_dir(RELEASES[api])
    return [yaml.safe_load((base / name).read_text()) for name in CRDS]


def clear_orphan_chart_roles(client: Any, settle: float = 3.0, timeout: float = 90.0) -> list[str]:
    """Delete the chart's ClusterRoles that no helm release owns, until none comes back for `settle` seconds.

    After `helm uninstall`, kube-controller-manager's ClusterRole aggregation controller may still hold the
    aggregated role `kubeblocks` in its queue: its server-side apply of the rules re-creates the role helm just
    deleted, without helm's marks, and the next `helm install` refuses to adopt it ("invalid ownership
    metadata"). The role is no one's, so it goes; deleting again until the controller's queue has drained.
    """
    import time

    from kbmc.clients import resource_path

    roles_path = resource_path("rbac.authorization.k8s.io/v1", "clusterroles")
    deleted: list[str] = []
    quiet_since = time.monotonic()
    deadline = quiet_since + timeout
    while time.monotonic() < deadline:
        orphans = [r["metadata"]["name"] for r in client.get(roles_path)["items"]
                   if (r["metadata"]["name"] == "kubeblocks" or r["metadata"]["name"].startswith("kubeblocks-"))
                   and "meta.helm.sh/release-name" not in (r["metadata"].get("annotations") or {})]
        for name in orphans:
            client.delete(resource_path("rbac.authorization.k8s.io/v1", "clusterroles", name=name))
            deleted.append(name)
        if orphans:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            break
        time.sleep(0.5)
    return deleted
