"""The real MetalLB chart, from the `go.universe.tf/metallb` Go module (the chart is under charts/metallb).

One place pins the release the MetalLB tests install.
"""

from __future__ import annotations

from pathlib import Path

from tests.testbed.crds import module_dir_of

MODULE = "go.universe.tf/metallb"
RELEASE = "v0.15.2"


def chart_dir(release: str = RELEASE) -> Path:
    """The chart directory (read-only, in the Go module cache); its CRDs come with it (the crds subchart)."""
    return module_dir_of(MODULE, release) / "charts" / "metallb"
