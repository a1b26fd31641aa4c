"""The parsed-topology cache: a file read before is not parsed again, and the cache never changes an answer."""

from __future__ import annotations

import json
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


def planted(private_cache: Path, text: str, doc: object) -> None:
    """What someone else who can write to the cache folder would leave there."""
    entry = cache._entry("topology", text)
    assert entry is not None
    entry.write_text(json.dumps(doc))


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_folder_others_can_write_to_is_never_used(private_cache: Path, tmp_path: Path, mode: int) -> None:
    path = tmp_path / "kbmc.yaml"
    path.write_text(STARTER)
    planted(private_cache, STARTER, {"apiVersion": "kbmc.io/v1alpha1", "kind": "Topology",
                                     "controlPlane": {"context": "elsewhere"}, "dataPlanes": []})
    private_cache.chmod(mode)
    assert cache.cache_dir("topology") is None
    assert topology.load(path).control_plane.context == "cp"  # the file, not what was planted
    private_cache.chmod(0o700)
    private_cache.parent.chmod(mode)  # kbmc's own folder, above the part's
    assert cache.cache_dir("topology") is None
    from kbmc import templating

    assert templating._bytecode_cache(__import__("jinja2")) is None


def test_a_link_is_never_used(private_cache: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    private_cache.parent.mkdir(parents=True, mode=0o700)
    private_cache.symlink_to(elsewhere)
    assert cache.cache_dir("topology") is None


def test_a_folder_an_older_kbmc_made_readable_is_tightened(private_cache: Path) -> None:
    private_cache.mkdir(parents=True)
    private_cache.parent.chmod(0o755)
    private_cache.chmod(0o755)
    assert cache.cache_dir("topology") == private_cache
    assert stat.S_IMODE(private_cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(private_cache.parent.stat().st_mode) == 0o700


def test_no_home_means_no_cache_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert cache.cache_dir("topology") is None
    path = tmp_path / "kbmc.yaml"
    path.write_text(STARTER)
    assert topology.load(path).control_plane.context == "cp"


def test_a_relative_xdg_cache_home_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir("topology") == tmp_path / "home" / ".cache" / "kbmc" / "topology"
    assert not (tmp_path / "relative").exists()
