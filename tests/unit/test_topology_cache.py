"""The parsed-topology cache: a file read before is not parsed again, and the cache never changes an answer."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kbmc import cache, topology
from kbmc.errors import InputError, ValidationError

STARTER = topology.starter("cp", ["k8s-1", "k8s-2", "k8s-3"])


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(root))
    return root / "kbmc" / "topology"


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.exists() else []


def test_a_clean_file_is_cached_privately_and_read_back_the_same(tmp_path: Path, private_cache: Path) -> None:
    path = tmp_path / "kbmc.yaml"
    path.write_text(STARTER)
    first = topology.load(path)
    [entry] = entries(private_cache)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(private_cache.stat().st_mode) == 0o700
    assert topology.load(path) == first


def test_an_edited_file_is_parsed_again(tmp_path: Path, private_cache: Path) -> None:
    path = tmp_path / "kbmc.yaml"
    path.write_text(STARTER)
    topology.load(path)
    path.write_text(STARTER.replace("clusterID: 3", "clusterID: 9"))
    assert [d.cilium_id for d in topology.load(path).data_planes] == [1, 2, 9]
    assert len(entries(private_cache)) == 2


def test_checks_run_on_a_cached_document(tmp_path: Path) -> None:
    """The cache holds the YAML document, not a verdict: a topology that fails validation fails every time."""
    path = tmp_path / "kbmc.yaml"
    path.write_text(STARTER.replace("clusterID: 3", "clusterID: 2"))
    for _ in range(2):
        with pytest.raises(ValidationError, match="duplicate Cilium cluster id 2"):
            topology.load(path)


def test_yaml_errors_are_never_cached(tmp_path: Path, private_cache: Path) -> None:
    path = tmp_path / "kbmc.yaml"
    path.write_text(STARTER + "controlPlane: {context: again}\n")  # a duplicate key
    for _ in range(2):
        with pytest.raises(InputError, match="duplicate key"):
            topology.load(path)
    assert entries(private_cache) == []


@pytest.mark.parametrize("doc", [{"when": __import__("datetime").date(2026, 1, 1)}, {1: "a"}, {"x": float("nan")},
                                 {True: "a"}])
def test_documents_json_cannot_carry_are_not_cached(doc: object, private_cache: Path) -> None:
    cache.store_parsed("topology", "text", doc)
    assert entries(private_cache) == []
    assert cache.load_parsed("topology", "text") is None


def test_a_damaged_entry_is_a_miss(tmp_path: Path, private_cache: Path) -> None:
    path = tmp_path / "kbmc.yaml"
    path.write_text(STARTER)
    expected = topology.load(path)
    [entry] = entries(private_cache)
    entry.write_text('{"apiVersion": ')
    assert topology.load(path) == expected


def test_no_cache_when_the_folder_cannot_be_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the folder should be
    path = tmp_path / "kbmc.yaml"
    path.write_text(STARTER)
    assert [d.context for d in topology.load(path).data_planes] == ["k8s-1", "k8s-2", "k8s-3"]


def test_a_second_run_does_not_import_pyyaml(tmp_path: Path, private_cache: Path) -> None:
    """What the cache is for: an offline command over an unchanged kbmc.yaml skips PyYAML's import."""
    (tmp_path / "kbmc.yaml").write_text(STARTER)
    env = {**os.environ, "XDG_CACHE_HOME": str(private_cache.parents[1]), "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)

    def yaml_imported() -> bool:
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "kbmc", "validate"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, check=True)
        return any(line.rsplit("|", 1)[-1].strip() == "yaml" for line in proc.stderr.splitlines())

    assert yaml_imported()
    assert not yaml_imported()


def test_the_cache_keeps_the_newest_entries_only(private_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "KEEP", 3)
    for i in range(5):
        cache.store_parsed("topology", f"text {i}", {"i": i})
        entry = cache._entry("topology", f"text {i}")
        assert entry is not None and entry.exists()
        os.utime(entry, (1000 + i, 1000 + i))  # a distinct age for each, whatever the clock's resolution
    assert len(entries(private_cache)) == 3
    assert [cache.load_parsed("topology", f"text {i}") for i in range(5)] == [None, None, {"i": 2}, {"i": 3}, {"i": 4}]
