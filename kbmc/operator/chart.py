"""Which chart to install, and where its CRDs come from.

A chart is a name in a repository (default: `kubeblocks` from the official repo), an `oci://` reference,
a local directory or a `.tgz`. KubeBlocks' CRDs go in first, server-side: from the chart's `crds/` when it
has one (0.9), else from `--crds FILE|URL` (default: the release's `kubeblocks_crds.yaml`; 1.0 charts ship none).
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbmc.errors import InputError, OperationError

DEFAULT_CHART = "kubeblocks"
DEFAULT_REPO = "https://apecloud.github.io/helm-charts"
CRDS_URL = "https://github.com/apecloud/kubeblocks/releases/download/v{version}/kubeblocks_crds.yaml"
_PATH_PREFIXES = ("/", "./", "../", "~")


@dataclass(frozen=True)
class ChartRef:
    kind: str  # repo | oci | dir | tgz
    ref: str  # what helm is given
    repo: str | None = None

    @property
    def local(self) -> bool:
        return self.kind in ("dir", "tgz")


def resolve(chart: str | None, repo: str | None) -> ChartRef:
    """The chart reference; a local path that does not exist is bad input."""
    if chart is None:
        return ChartRef("repo", DEFAULT_CHART, repo or DEFAULT_REPO)
    if chart.startswith("oci://"):
        if repo:
            raise InputError("--repo does not apply to an oci:// chart", hint="drop --repo")
        return ChartRef("oci", chart)
    path = Path(os.path.expanduser(chart))
    looks_local = chart.startswith(_PATH_PREFIXES) or chart.endswith((".tgz", ".tar.gz"))
    if path.is_dir():
        if not (path / "Chart.yaml").is_file():
            raise InputError(f"--chart {chart}: directory has no Chart.yaml", hint="point --chart at a chart directory")
        return ChartRef("dir", str(path.resolve()))
    if path.is_file() and chart.endswith((".tgz", ".tar.gz")):
        return ChartRef("tgz", str(path.resolve()))
    if looks_local:
        raise InputError(f"--chart {chart}: no such chart directory or .tgz",
                         hint="check the path, or give a chart name with --repo, or an oci:// reference")
    if repo is None and "/" not in chart:
        repo = DEFAULT_REPO
    return ChartRef("repo", chart, repo)


def chart_metadata(chart: ChartRef) -> dict[str, Any] | None:
    """Chart.yaml of a local chart (None for remote ones)."""
    from kbmc.yamlio import load_yaml

    text = _local_files(chart, "Chart.yaml")
    if not text:
        return None
    doc = load_yaml(text[0][1], f"{chart.ref}/Chart.yaml")
    return doc if isinstance(doc, dict) else None


def chart_crds(chart: ChartRef) -> tuple[str, list[dict[str, Any]]] | None:
    """(source, CRDs) from a local chart's crds/ directory, or None when it has none."""
    files = _local_files(chart, "crds/")
    if not files:
        return None
    docs: list[dict[str, Any]] = []
    for name, text in files:
        docs += load_crds(text, name)
    return f"{chart.ref}/crds ({len(files)} files)", docs


def _local_files(chart: ChartRef, wanted: str) -> list[tuple[str, str]]:
    """(name, text) of Chart.yaml or the crds/*.yaml files of a local chart."""
    if chart.kind == "dir":
        root = Path(chart.ref)
        if wanted.endswith("/"):
            return [(str(p), p.read_text()) for p in sorted((root / wanted).glob("*.yaml"))]
        p = root / wanted
        return [(str(p), p.read_text())] if p.is_file() else []
    if chart.kind == "tgz":
        out: list[tuple[str, str]] = []
        with tarfile.open(chart.ref) as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                parts = member.name.split("/", 1)  # <chart>/crds/x.yaml
                inner = parts[1] if len(parts) == 2 else ""
                hit = (inner.startswith(wanted) and inner.endswith(".yaml") and "/" not in inner[len(wanted):]
                       if wanted.endswith("/") else inner == wanted)
                if hit and member.isfile():
                    fh = tar.extractfile(member)
                    if fh is not None:
                        out.append((member.name, fh.read().decode()))
        return out
    return []


def load_crds(text: str, source: str) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in a multi-document YAML text; anything else is bad input."""
    import yaml

    from kbmc.yamlio import YamlError

    try:
        docs = [d for d in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if d]
    except yaml.YAMLError as exc:
        raise YamlError(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from None
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
            raise InputError(f"{source}: holds a {kind}, not only CustomResourceDefinitions",
                             hint="pass a CRD manifest with --crds")
    return docs


def crds_source(crds: str | None, version: str) -> str:
    """--crds as given, else the release's kubeblocks_crds.yaml."""
    if crds:
        if not crds.startswith(("https://", "http://")) and not Path(crds).is_file():
            raise InputError(f"--crds {crds}: no such file", hint="give a CRD manifest file or an https:// URL")
        return crds
    return CRDS_URL.format(version=version.lstrip("v"))


def fetch_crds(source: str) -> list[dict[str, Any]]:
    """Read CRDs from a file or a URL (only when actually installing)."""
    if source.startswith(("https://", "http://")):
        import urllib.request

        try:
            with urllib.request.urlopen(source, timeout=60) as resp:  # noqa: S310 - an http(s) URL the user chose
                text = resp.read().decode()
        except OSError as exc:
            raise OperationError(f"cannot download the CRDs from {source}: {exc}") from None
    else:
        text = Path(source).read_text()
    return load_crds(text, source)
