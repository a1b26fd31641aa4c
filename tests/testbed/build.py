"""Build (once) and find the test bed's binaries: kube-apiserver, kube-controller-manager, etcd, helm.

The pinned Kubernetes release is the `k8s.io/kubernetes` requirement in
gobuild/go.mod: the one place it is written. Binaries are cached outside the
repo, under $KBMC_TESTBED_CACHE (default ~/.cache/kbmc-testbed)/<version>/,
and rebuilt only when missing.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

GOBUILD = Path(__file__).resolve().parent / "gobuild"
BINARIES = ("kube-apiserver", "kube-controller-manager", "etcd", "helm")
# Go module directory -> packages built from it. helm has a module of its own, so that its
# requirements cannot change the dependency versions the Kubernetes binaries are built with.
_BUILDS = {
    GOBUILD: ("k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager", "./etcd"),
    GOBUILD / "helm": ("helm.sh/helm/v3/cmd/helm",),
}


class BuildUnavailable(RuntimeError):
    """Go is not installed and no cached binaries exist."""


def pinned_versions() -> dict[str, str]:
    text = (GOBUILD / "go.mod").read_text() + (GOBUILD / "helm" / "go.mod").read_text()
    k8s = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", text, re.M)
    etcd = re.search(r"^\s*go\.etcd\.io/etcd/server/v3 (v\S+)", text, re.M)
    helm = re.search(r"^\s*(?:require\s+)?helm\.sh/helm/v3 (v\S+)", text, re.M)
    assert k8s and etcd and helm, "gobuild/go.mod must require k8s.io/kubernetes, etcd's server and helm"
    return {"kubernetes": k8s.group(1), "etcd": etcd.group(1), "helm": helm.group(1)}


def cache_dir() -> Path:
    root = Path(os.environ.get("KBMC_TESTBED_CACHE", Path.home() / ".cache" / "kbmc-testbed"))
    return root / pinned_versions()["kubernetes"]


def _version_ldflags() -> str:
    """Stamp the release into the binaries, so /version reports it (a plain `go build` says v0.0.0)."""
    version = pinned_versions()["kubernetes"]
    major, minor = version.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    helm = pinned_versions()["helm"]
    return (f"-s -w -X {pkg}.gitVersion={version} -X {pkg}.gitMajor={major} -X {pkg}.gitMinor={minor} "
            f"-X {pkg}.gitTreeState=clean -X helm.sh/helm/v3/internal/version.version={helm}")


def ensure_binaries(log: bool = True) -> Path:
    """The directory holding all three binaries, building them first if any is missing."""
    target = cache_dir()
    if all((target / b).is_file() for b in BINARIES):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (pytest workers, a hand-started bed) may ask at once: build once.
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all((target / b).is_file() for b in BINARIES):
            return target
        return _build(target, log)


def _build(target: Path, log: bool) -> Path:
    go = shutil.which("go")
    if go is None:
        raise BuildUnavailable("Go is not installed and the test bed's binaries are not cached in " + str(target))
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=target.parent))
    if log:
        print(f"testbed: building {', '.join(BINARIES)} {pinned_versions()} into {target} "
              "(first time only; several minutes)", file=sys.stderr, flush=True)
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod -buildvcs=false")
    try:
        for module, packages in _BUILDS.items():
            subprocess.run([go, "build", "-trimpath", f"-ldflags={_version_ldflags()}", "-o", str(tmp) + "/",
                            *packages], cwd=module, env=env, check=True)
        target.mkdir(exist_ok=True)
        for b in BINARIES:
            os.replace(tmp / b, target / b)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


if __name__ == "__main__":
    print(ensure_binaries())
