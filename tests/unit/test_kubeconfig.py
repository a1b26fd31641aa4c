"""kubeconfig loading follows kubectl's merge rules; reduction keeps only what is asked for."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import yaml

from kbmc import kubeconfig as kc
from kbmc.errors import InputError


def write(path: Path, clusters: dict[str, dict], users: dict[str, dict], contexts: dict[str, tuple[str, str]],
          current: str | None = None) -> Path:
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [{"name": n, "context": {"cluster": c, "user": u}} for n, (c, u) in contexts.items()],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


def test_first_file_wins_for_names_and_current_context(tmp_path: Path) -> None:
    a = write(tmp_path / "a", {"c1": {"server": "https://a:1"}}, {"u1": {"token": "A"}}, {"x": ("c1", "u1")})
    b = write(tmp_path / "b", {"c1": {"server": "https://b:1"}, "c2": {"server": "https://b:2"}},
              {"u1": {"token": "B"}}, {"x": ("c2", "u1"), "y": ("c2", "u1")}, current="y")
    cfg = kc.load(env={"KUBECONFIG": f"{a}{os.pathsep}{b}"})
    assert cfg.context("x").server == "https://a:1"  # context x and cluster c1 from the first file
    assert cfg.context("y").server == "https://b:2"
    assert cfg.context("x").user == {"token": "A"}
    assert cfg.current_context == "y"  # a's has none, so b's counts
    assert cfg.sources == [str(a), str(b)]


def test_missing_kubeconfig_entries_are_skipped_but_explicit_file_must_exist(tmp_path: Path) -> None:
    a = write(tmp_path / "a", {"c": {"server": "https://a"}}, {"u": {"token": "t"}}, {"x": ("c", "u")})
    cfg = kc.load(env={"KUBECONFIG": f"{tmp_path / 'nope'}{os.pathsep}{a}"})
    assert cfg.context_names == ["x"]
    with pytest.raises(InputError, match="does not exist"):
        kc.load(str(tmp_path / "nope"))


def test_relative_file_references_resolve_against_their_file(tmp_path: Path) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    (sub / "ca.crt").write_bytes(b"CA-BYTES")
    (sub / "token").write_text("tok-123\n")
    path = write(sub / "config", {"c": {"server": "https://10.0.0.1", "certificate-authority": "ca.crt"}},
                 {"u": {"tokenFile": "token"}}, {"x": ("c", "u")})
    cfg = kc.load(str(path))
    assert cfg.context("x").cluster["certificate-authority"] == str(sub / "ca.crt")
    flat = cfg.minimal(["x"])
    assert base64.b64decode(flat["clusters"][0]["cluster"]["certificate-authority-data"]) == b"CA-BYTES"
    assert flat["users"][0]["user"] == {"token": "tok-123"}


def test_minimal_holds_only_the_asked_contexts(tmp_path: Path) -> None:
    path = write(tmp_path / "k", {"c1": {"server": "https://1"}, "c2": {"server": "https://2"},
                                  "c3": {"server": "https://3"}},
                 {"u1": {"token": "1"}, "u2": {"token": "2"}, "u3": {"token": "3"}},
                 {"a": ("c1", "u1"), "b": ("c2", "u2"), "c": ("c3", "u3")}, current="c")
    flat = kc.load(str(path)).minimal(["a", "b"], server_overrides={"b": "https://10.9.9.9:6443"})
    assert [c["name"] for c in flat["contexts"]] == ["a", "b"]
    assert {u["name"] for u in flat["users"]} == {"u1", "u2"}
    servers = {c["cluster"]["server"] for c in flat["clusters"]}
    assert servers == {"https://1", "https://10.9.9.9:6443"}
    assert flat["current-context"] == "a"


def test_unreadable_cert_file_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path / "k", {"c": {"server": "https://1"}}, {"u": {"client-key": "/nonexistent/key.pem",
                                                                        "client-certificate-data": "eA=="}},
                 {"x": ("c", "u")})
    with pytest.raises(InputError, match=r"context 'x': cannot read client-key file /nonexistent/key.pem"):
        kc.load(str(path)).minimal(["x"])


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("apiVersion: v1\nclusters: [\n  - name: x\n  oops: : :\n")
    with pytest.raises(InputError, match=r"bad: line \d+ is not valid YAML"):
        kc.load(str(bad))


def test_unknown_context_lists_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path / "k", {"c": {"server": "https://1"}}, {"u": {"token": "t"}}, {"x": ("c", "u")})
    with pytest.raises(InputError, match=r"context 'k8s-9' is not in the kubeconfig .*known contexts: x"):
        kc.load(str(path)).context("k8s-9")


@pytest.mark.parametrize("server,loopback", [
    ("https://127.0.0.1:6443", True), ("https://127.8.0.2", True), ("https://localhost:6443", True),
    ("https://[::1]:6443", True), ("https://10.0.0.5:6443", False), ("https://api.example.com", False),
])
def test_loopback_detection(server: str, loopback: bool) -> None:
    assert kc.is_loopback_server(server) is loopback


def test_redact_hides_every_credential() -> None:
    doc = {"users": [{"name": "u", "user": {"token": "secret-token", "client-key-data": "S0VZ",
                                            "client-certificate-data": "Q0VSVA==", "username": "bob",
                                            "password": "pw"}}]}
    text = yaml.safe_dump(kc.redact_doc(doc))
    for secret in ("secret-token", "S0VZ", "Q0VSVA==", "pw\n"):
        assert secret not in text
    assert "bob" in text
