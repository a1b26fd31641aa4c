"""The real KubeBlocks CRDs, from the `github.com/apecloud/kubeblocks` Go module's config/crd/bases.

One place pins which release serves each Cluster API the tests check against.
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


class CrdsUnavailable(RuntimeError):
    pass


def crd_dir(release: str) -> Path:
    go = shutil.which("go")
    if go is None:
        raise CrdsUnavailable("Go is not installed: cannot fetch the KubeBlocks CRDs")
    proc = subprocess.run([go, "mod", "download", "-json", f"{MODULE}@{release}"], capture_output=True, text=True,
                          env=dict(os.environ, GOFLAGS="-mod=mod"))
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "Dir" not in info:
        raise CrdsUnavailable(f"go mod download {MODULE}@{release} failed: {info.get('Error') or proc.stderr.strip()}")
    return Path(info["Dir"]) / "config" / "crd" / "bases"


def load_crds(api: str) -> list[dict[str, Any]]:
    base = crd_dir(RELEASES[api])
    return [yaml.safe_load((base / name).read_text()) for name in CRDS]
