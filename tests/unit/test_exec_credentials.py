"""A kubeconfig user whose exec credential plugin fails: one clear error, never an anonymous client."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from kbmc import kubeconfig as kc
from kbmc.clients import ClientRegistry
from kbmc.errors import OperationError


def plugin(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    path.chmod(0o755)
    return path


def registry_for(tmp_path: Path, command: Path) -> ClientRegistry:
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
           "users": [{"name": "u", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                     "command": str(command), "args": ["--secret-arg", "s3cr3t-value"],
                                                     "interactiveMode": "Never"}}}],
           "contexts": [{"name": "dp", "context": {"cluster": "c", "user": "u"}}], "current-context": "dp"}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return ClientRegistry(kc.load(str(path)))


def test_a_failing_plugin_is_one_clear_error_for_its_context(tmp_path: Path,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    calls = tmp_path / "calls"
    failing = plugin(tmp_path, "get-token", f"open({str(calls)!r}, 'a').write('x')\n"
                     "sys.stderr.write('looking up alice\\nerror: the session of alice expired; log in again\\n')\n"
                     "sys.exit(1)")
    registry = registry_for(tmp_path, failing)
    with pytest.raises(OperationError) as info:
        registry.for_context("dp")
    assert str(info.value) == (f"context 'dp': getting credentials: exec plugin {failing} failed with exit code 1: "
                               "error: the session of alice expired; log in again")
    assert "s3cr3t-value" not in str(info.value)  # the plugin's arguments are not shown
    # Asked again (another command step, another thread): the same error, the plugin not run again.
    with pytest.raises(OperationError, match="exit code 1"):
        registry.for_context("dp")
    assert calls.read_text() == "x"
    # The official client's own "ERROR:root:exec: ..." log line does not reach the terminal.
    assert "ERROR:root" not in capfd.readouterr().err


def test_a_plugin_without_credentials_in_its_answer_is_an_error(tmp_path: Path) -> None:
    empty = plugin(tmp_path, "no-token", "import json\nprint(json.dumps({'apiVersion': "
                   "'client.authentication.k8s.io/v1', 'kind': 'ExecCredential', 'status': {}}))")
    with pytest.raises(OperationError, match="exec plugin .*no-token failed: missing token or clientCertificateData"):
        registry_for(tmp_path, empty).for_context("dp")


def test_a_working_plugin_gives_a_client_with_its_token(tmp_path: Path) -> None:
    answer = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
              "status": {"token": "plugin-token-123456"}}
    working = plugin(tmp_path, "ok-token", f"print({json.dumps(json.dumps(answer))})")
    client = registry_for(tmp_path, working).for_context("dp")
    assert client.api.configuration.api_key["BearerToken"] == "Bearer plugin-token-123456"


def test_a_plugin_that_is_not_installed_says_so(tmp_path: Path) -> None:
    with pytest.raises(OperationError, match=r"exec plugin .*no-such-plugin cannot be run: .*No such file or "
                                             r"directory.*\(is it installed and on PATH\?\)"):
        registry_for(tmp_path, tmp_path / "no-such-plugin").for_context("dp")
