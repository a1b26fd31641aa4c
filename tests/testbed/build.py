"""Build (once) and find the test bed's binaries: kube-apiserver, kube-controller-manager, etcd, helm,
the real KubeBlocks manager, and kbmc-oracle (Kubernetes' own validators, for the differential tests).

The pinned Kubernetes release is the `k8s.io/kubernetes` requirement in
gobuild/go.mod: the one place it is written. Binaries are cached outside the
repo, under $KBMC_TESTBED_CACHE (default ~/.cache/kbmc-testbed)/<version>/,
and rebuilt only when missing. The KubeBlocks manager (AGPL-3.0) is built from
its Go module like the rest, never vendored or committed.
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
MANAGER = "kubeblocks-manager"
ORACLE = "kbmc-oracle"
# What every bed needs (and the validators' oracle); the KubeBlocks manager only beds that run the
# operator (built by `python -m tests.testbed.build` all the same, so CI builds it once up front).
BINARIES = ("kube-apiserver", "kube-controller-manager", "etcd", "helm", ORACLE)
ALL_BINARIES = (*BINARIES, MANAGER)
# Binary -> (Go module directory, package). helm and KubeBlocks have modules of their own, so that their
# requirements (KubeBlocks pins k8s.io/* v0.28.3) cannot change the dependency versions the Kubernetes
# binaries are built with.
_BUILDS: dict[str, tuple[Path, str]] = {
    "kube-apiserver": (GOBUILD, "k8s.io/kubernetes/cmd/kube-apiserver"),
    "kube-controller-manager": (GOBUILD, "k8s.io/kubernetes/cmd/kube-controller-manager"),
    "etcd": (GOBUILD, "./etcd"),
    ORACLE: (GOBUILD, "./kbmc-oracle"),
    "helm": (GOBUILD / "helm", "helm.sh/helm/v3/cmd/helm"),
    MANAGER: (GOBUILD / "kubeblocks", "github.com/apecloud/kubeblocks/cmd/manager"),
}


class BuildUnavailable(RuntimeError):
    """Go is not installed and no cached binaries exist."""


def pinned_versions() -> dict[str, str]:
    text = (GOBUILD / "go.mod").read_text() + (GOBUILD / "helm" / "go.mod").read_text()
    k8s = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", text, re.M)
    etcd = re.search(r"^\s*go\.etcd\.io/etcd/server/v3 (v\S+)", text, re.M)
    helm = re.search(r"^\s*(?:require\s+)?helm\.sh/helm/v3 (v\S+)", text, re.M)
    kb = re.search(r"^require github\.com/apecloud/kubeblocks (v\S+)", (GOBUILD / "kubeblocks" / "go.mod").read_text(), re.M)
    assert k8s and etcd and helm and kb, \
        "gobuild/go.mod must require k8s.io/kubernetes, etcd's server and helm; gobuild/kubeblocks/go.mod KubeBlocks"
    return {"kubernetes": k8s.group(1), "etcd": etcd.group(1), "helm": helm.group(1), "kubeblocks": kb.group(1)}


def cache_dir() -> Path:
    root = Path(os.environ.get("KBMC_TESTBED_CACHE", Path.home() / ".cache" / "kbmc-testbed"))
    return root / pinned_versions()["kubernetes"]


def _version_ldflags() -> str:
    """Stamp the releases into the binaries, so /version reports them (a plain `go build` says v0.0.0)."""
    versions = pinned_versions()
    version = versions["kubernetes"]
    major, minor = version.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    return (f"-s -w -X {pkg}.gitVersion={version} -X {pkg}.gitMajor={major} -X {pkg}.gitMinor={minor} "
            f"-X {pkg}.gitTreeState=clean -X helm.sh/helm/v3/internal/version.version={versions['helm']} "
            f"-X github.com/apecloud/kubeblocks/version.Version={versions['kubeblocks']}")


def installed_name(binary: str) -> str:
    """The oracle is ours and changes with the tests: its cached name carries a hash of its source."""
    if binary != ORACLE:
        return binary
    import hashlib

    source = (GOBUILD / ORACLE / "main.go").read_bytes() + (GOBUILD / "go.sum").read_bytes()
    return f"{ORACLE}-{hashlib.sha256(source).hexdigest()[:12]}"


def ensure_binaries(log: bool = True, names: tuple[str, ...] = BINARIES) -> Path:
    """The directory holding the named binaries, building those that are missing first (only those)."""
    target = cache_dir()
    if all((target / installed_name(b)).is_file() for b in names):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (pytest workers, a hand-started bed) may ask at once: build once.
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [b for b in names if not (target / installed_name(b)).is_file()]
        if not missing:
            return target
        return _build(target, missing, log)


def ensure_manager(log: bool = True) -> Path:
    """The real KubeBlocks manager binary (built from its Go module on first use: 5-11 minutes on 2 cores)."""
    return ensure_binaries(log, (MANAGER,)) / MANAGER


def oracle_path(log: bool = True) -> Path:
    """kbmc-oracle: JSON lines in, Kubernetes' validators' answers out (gobuild/kbmc-oracle)."""
    return ensure_binaries(log, (ORACLE,)) / installed_name(ORACLE)


def _build(target: Path, names: list[str], log: bool) -> Path:
    go = shutil.which("go")
    if go is None:
        raise BuildUnavailable("Go is not installed and the test bed's binaries are not cached in " + str(target))
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=target.parent))
    if log:
        print(f"testbed: building {', '.join(names)} {pinned_versions()} into {target} "
              "(first time only; several minutes)", file=sys.stderr, flush=True)
    # The KubeBlocks module's go.sum hash is pinned in gobuild/kubeblocks/go.sum (v0.9.3 is not in the
    # checksum database), so no checksum-database lookup is needed for it.
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod -buildvcs=false")
    try:
        for b in names:
            module, package = _BUILDS[b]  # the Go build cache shares the work between binaries of one module
            subprocess.run([go, "build", "-trimpath", f"-ldflags={_version_ldflags()}", "-o", str(tmp / b), package],
                           cwd=module, env=env, check=True)
        target.mkdir(exist_ok=True)
        for b in names:
            os.replace(tmp / b, target / installed_name(b))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


if __name__ == "__main__":
    print(ensure_binaries(names=ALL_BINARIES))
