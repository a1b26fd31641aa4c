"""Which MetalLB chart version a run installs, read from a local chart (a directory or a packaged .tgz):
a re-run compares it with the deployed release and changes nothing when they match."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from kbmc.network.metallb import MetallbParams, _chart_version

CHART_YAML = "apiVersion: v2\nname: metallb\nversion: 0.14.9\nappVersion: v0.14.9\n"


def _package(path: Path, files: dict[str, str]) -> Path:
    """A chart archive laid out as `helm package` writes it: <name>/Chart.yaml, <name>/templates/..."""
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_a_packaged_chart_gives_its_version(tmp_path: Path) -> None:
    chart = _package(tmp_path / "metallb-0.14.9.tgz", {
        "metallb/Chart.yaml": CHART_YAML, "metallb/charts/crds/Chart.yaml": "name: crds\nversion: 9.9.9\n",
        "metallb/values.yaml": "{}\n"})
    assert _chart_version(MetallbParams(members=[], chart=str(chart), version="ignored")) == "0.14.9"


def test_a_chart_directory_gives_its_version(tmp_path: Path) -> None:
    (tmp_path / "metallb").mkdir()
    (tmp_path / "metallb" / "Chart.yaml").write_text(CHART_YAML)
    assert _chart_version(MetallbParams(members=[], chart=str(tmp_path / "metallb"))) == "0.14.9"


def test_an_archive_without_a_chart_or_not_an_archive_gives_no_version(tmp_path: Path) -> None:
    empty = _package(tmp_path / "empty.tgz", {"readme.txt": "no chart here\n"})
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"not a tar archive")
    assert _chart_version(MetallbParams(members=[], chart=str(empty))) is None
    assert _chart_version(MetallbParams(members=[], chart=str(broken))) is None


def test_the_repository_chart_uses_the_requested_version() -> None:
    assert _chart_version(MetallbParams(members=[], version="0.14.8")) == "0.14.8"
