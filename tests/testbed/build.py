"""Build (once) and find the test bed's binaries: kube-apiserver, kube-controller-manager, etcd, helm,
and kbmc-oracle (Kubernetes' own validators, for the differential tests).

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
BINARIES = ("kube-apiserver", "kube-controller-manager", "etcd", "helm", "kbmc-oracle")
# Binary -> (Go module directory, package). helm has a module of its own, so that its
# requirements cannot change the dependency versions the Kubernetes binaries are built with.
_BUILDS = {
    "kube-apiserver": (GOBUILD, "k8s.io/kubernetes/cmd/kube-apiserver"),
    "kube-controller-manager": (GOBUILD, "k8s.io/kubernetes/cmd/kube-controller-manager"),
    "etcd": (GOBUILD, "./etcd"),
    "helm": (GOBUILD / "helm", "helm.sh/helm/v3/cmd/helm"),
    "kbmc-oracle": (GOBUILD, "./kbmc-oracle"),
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


def installed_name(binary: str) -> str:
    """The oracle is ours and changes with the tests: its cached name carries a hash of its source."""
    if binary != "kbmc-oracle":
        return binary
    import hashlib

    source = (GOBUILD / "kbmc-oracle" / "main.go").read_bytes() + (GOBUILD / "go.sum").read_bytes()
    return f"kbmc-oracle-{hashlib.sha256(source).hexdigest()[:12]}"


def ensure_binaries(log: bool = True) -> Path:
    """The directory holding every binary, building first those that are missing (only those)."""
    target = cache_dir()
    if all((target / installed_name(b)).is_file() for b in BINARIES):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (pytest workers, a hand-started bed) may ask at once: build once.
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [b for b in BINARIES if not (target / installed_name(b)).is_file()]
        if not missing:
            return target
        return _build(target, missing, log)


def oracle_path(log: bool = True) -> Path:
    """kbmc-oracle: JSON lines in, Kubernetes' validators' answers out (gobuild/kbmc-oracle)."""
    return ensure_binaries(log) / installed_name("kbmc-oracle")


def _build(target: Path, missing: list[str], log: bool) -> Path:
    go = shutil.which("go")
    if go is None:
        raise BuildUnavailable("Go is not installed and the test bed's binaries are not cached in " + str(target))
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=target.parent))
    if log:
        print(f"testbed: building {', '.join(missing)} {pinned_versions()} into {target} "
              "(first time only; several minutes)", file=sys.stderr, flush=True)
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod -buildvcs=false")
    modules: dict[Path, list[str]] = {}
    for b in missing:
        module, package = _BUILDS[b]
        modules.setdefault(module, []).append(package)
    try:
        for module, packages in modules.items():
            subprocess.run([go, "build", "-trimpath", f"-ldflags={_version_ldflags()}", "-o", str(tmp) + "/",
                            *packages], cwd=module, env=env, check=True)
        target.mkdir(exist_ok=True)
        for b in missing:
            os.replace(tmp / b, target / installed_name(b))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


if __name__ == "__main__":
    print(ensure_binaries())
