"""Credentials never printed; kubeconfigs read as kubectl/client-go reads them (issue: adversarial hardening)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc import kubeconfig as kc
from kbmc import redact
from kbmc.clients import _short, impersonation_headers
from kbmc.errors import InputError, OperationError


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Any:
    redact.forget_all()
    yield
    redact.forget_all()


# ---- redaction: patterns for what kbmc never saw as a credential --------------------------------------


@pytest.mark.parametrize(("text", "secret"), [
    ("Invalid header value b'Bearer s3cr3t-tok\\n'", "s3cr3t-tok"),
    ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
    ("authorization=Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("proxy http://alice:pa55word@proxy.invalid:3128 refused", "pa55word"),
    ("dial SOCKS5://bob:hunter22@[::1]:1080", "hunter22"),
    ("server alice:pa55word@example.test:6443", "pa55word"),
    ("token: eyJhbGciOiJSUzI1NiJ9.payload", "eyJhbGciOiJSUzI1NiJ9.payload"),
    ('{"password": "Tr0ub4dor"}', "Tr0ub4dor"),
    ("key -----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAKCAQEA\n-----END RSA PRIVATE KEY----- end", "MIIEow"),
    ("-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEEI\\n-----END EC PRIVATE KEY-----", "MHcCAQEEI"),
])
def test_patterns_remove_credentials(text: str, secret: str) -> None:
    out = redact.text(text)
    assert secret not in out
    assert redact.MASK in out


def test_ordinary_messages_are_left_alone() -> None:
    for text in ("context 'k8s-1': server https://10.0.0.11:6443 is a loopback address",
                 "Secret kb-system/mc-kubeconfig updated: added k8s-4",
                 "missing: create pods, get secrets"):
        assert redact.text(text) == text


def test_known_values_are_removed_in_every_form() -> None:
    key_pem = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASC\nAT8wggE7AgEAAkEAxyz\n-----END PRIVATE KEY-----\n"
    key_b64 = base64.b64encode(key_pem.encode()).decode()
    redact.register("tok-0123456789\n")
    redact.register(key_b64)
    for text in ("raw tok-0123456789 here", "repr 'tok-0123456789\\n'", f"data {key_b64}",
                 "line MIIBVQIBADANBgkqhkiG9w0BAQEFAASC", "line AT8wggE7AgEAAkEAxyz"):
        out = redact.text(text)
        assert "tok-0123456789" not in out and key_b64 not in out and "MIIBVQ" not in out and "AT8wgg" not in out


def test_data_redacts_secret_keys_and_strings() -> None:
    redact.register("zz-known-secret")
    doc = {"users": [{"user": {"token": "t", "password": "p", "client-key-data": "k"}}],
           "error": "got zz-known-secret", "server": "https://u:pw-123456@h:1"}
    out = redact.data(doc)
    assert out["users"][0]["user"] == {"token": "REDACTED", "password": "REDACTED", "client-key-data": "REDACTED"}
    assert "zz-known-secret" not in out["error"] and "pw-123456" not in out["server"]


def test_loading_a_kubeconfig_registers_its_credentials(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({"clusters": [{"name": "c", "cluster": {
        "server": "https://api.invalid", "proxy-url": "http://al:proxy-pw-9@proxy.invalid:3128"}}],
        "users": [{"name": "u", "user": {"username": "admin", "password": "pw-xyz-123"}},
                  {"name": "t", "user": {"token": "inline-token-42\n"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    kc.load(str(path))
    for secret in ("pw-xyz-123", "inline-token-42", "proxy-pw-9"):
        assert secret not in redact.text(f"oops {secret} leaked")


def test_transport_errors_read_balanced() -> None:
    exc = Exception("HTTPSConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: /version "
                    "(Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f>: "
                    "Failed to establish a new connection: [Errno 111] Connection refused'))")
    text = _short(exc)
    assert text == "Failed to establish a new connection: [Errno 111] Connection refused"
    assert text.count("(") == text.count(")")


# ---- tokens as client-go resolves them ------------------------------------------------------------


def config(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None,
           extra: dict[str, Any] | None = None) -> Path:
    doc = {"clusters": [{"name": "c", "cluster": {"server": "https://api.invalid:6443"} if cluster is None else cluster}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], **(extra or {})}
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    return path


def shipped_user(path: Path) -> dict[str, Any]:
    users: list[dict[str, Any]] = kc.load(str(path)).minimal(["x"])["users"]
    return dict(users[0]["user"])


def test_inline_token_with_a_newline_is_refused_like_kubectl(tmp_path: Path) -> None:
    # kubectl: "net/http: invalid header field value for "Authorization"" (checked against the bed in tests/bed).
    with pytest.raises(InputError, match="contains a newline") as err:
        shipped_user(config(tmp_path, {"token": "abc-123456\n"}))
    assert "abc-123456" not in redact.text(str(err.value))
    assert shipped_user(config(tmp_path, {"token": "abc-123456"})) == {"token": "abc-123456"}


def test_token_file_wins_over_inline_token_and_is_inlined_trimmed(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("from-file-456\n")
    user = shipped_user(config(tmp_path, {"token": "inline-789", "tokenFile": "tok"}))
    assert user == {"token": "from-file-456"}  # no file path travels into the Secret


def test_unreadable_or_binary_or_empty_token_file_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "bin").write_bytes(b"\xff\xfe tok")
    with pytest.raises(InputError, match="is not UTF-8 text"):
        shipped_user(config(tmp_path, {"tokenFile": "bin"}))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(InputError, match="read empty token from file"):
        shipped_user(config(tmp_path, {"tokenFile": "empty"}))


def test_non_utf8_kubeconfig_is_one_line_input_error(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_bytes(b"apiVersion: v1\nclusters: []\n# \xff\xfe\n")
    with pytest.raises(InputError, match=r"is not UTF-8 text \(byte 0xff at offset"):
        kc.load(str(path))


def test_exec_null_is_no_exec(tmp_path: Path) -> None:
    entry = kc.load(str(config(tmp_path, {"exec": None, "token": "abc-123"}))).context("x")
    assert kc.in_pod_problems(entry, allow_loopback=False, server_override=None) == []


# ---- what kubectl refuses --------------------------------------------------------------------------


@pytest.mark.parametrize(("cluster", "user", "reason"), [
    ({"server": "https://api.invalid", "insecure-skip-tls-verify": True, "certificate-authority-data": "Q0E="},
     {"token": "t0k3n-x"}, "specifying a root certificates file with the insecure flag is not allowed"),
    ({"server": "https://api.invalid"}, {"client-certificate-data": "Q0VSVA=="},
     "client-key-data or client-key must be specified for u to use the clientCert authentication method"),
    ({"server": "https://api.invalid"}, {"token": "t0k3n-x", "username": "a", "password": "pw-123456"},
     "more than one authentication method found for u; found [token basicAuth], only one is allowed"),
    ({"server": "https://api.invalid"}, {"token": "t0k3n-x", "as-groups": ["g"]},
     "requesting uid, groups or user-extra for u without impersonating a user"),
    ({"server": "https://api.invalid", "proxy-url": "ftp://proxy.invalid"}, {"token": "t0k3n-x"},
     "unsupported scheme 'ftp', must be http, https, or socks5"),
    ({}, {"token": "t0k3n-x"}, "no server found for cluster 'c'"),
])
def test_configs_kubectl_rejects_are_refused_with_its_reason(tmp_path: Path, cluster: dict[str, Any],
                                                             user: dict[str, Any], reason: str) -> None:
    with pytest.raises(InputError) as err:
        kc.load(str(config(tmp_path, user, cluster))).context("x")
    assert reason in str(err.value) and "kubectl refuses it too" in str(err.value)
    assert "pw-123456" not in redact.text(str(err.value))


@pytest.mark.parametrize("section", ["clusters", "users", "contexts"])
def test_duplicate_names_within_one_file_are_refused(tmp_path: Path, section: str) -> None:
    doc: dict[str, Any] = {"clusters": [{"name": "c", "cluster": {"server": "https://api.invalid"}}],
                           "users": [{"name": "u", "user": {"token": "t0k3n-x"}}],
                           "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}
    doc[section].append(doc[section][0])
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(InputError, match=f"duplicate name '{doc[section][0]['name']}' in list {section}"):
        kc.load(str(path))


# ---- loopback decided on the address as dialled -----------------------------------------------------


@pytest.mark.parametrize("server", [
    "https://127.0.0.1:6443", "https://0.0.0.0:6443", "https://[::]:6443", "https://[::1]:6443",
    "https://[::ffff:127.0.0.1]:6443", "https://[::ffff:7f00:1]:6443", "https://[0:0:0:0:0:ffff:127.0.0.2]:1",
    "localhost:6443", "127.0.0.1:6443", "HTTPS://LOCALHOST:6443", "https://localhost.:6443",
    "https://api.localhost:6443", "https://127.1:6443", "https://2130706433:6443", "https://[::1%25lo]:6443",
    "https://[::ffff:0.0.0.0]:6443",
])
def test_loopback_forms(server: str) -> None:
    assert kc.is_loopback_server(server)


@pytest.mark.parametrize("server", ["https://10.0.0.11:6443", "10.0.0.11:6443", "https://[fd00::1]:6443",
                                    "https://[::ffff:10.0.0.1]:6443", "https://api.example.test:6443",
                                    "https://localhost-api.example.test"])
def test_not_loopback(server: str) -> None:
    assert not kc.is_loopback_server(server)


def test_loopback_proxy_is_refused_for_the_pod(tmp_path: Path) -> None:
    path = config(tmp_path, {"token": "t0k3n-x"}, {"server": "https://api.invalid", "proxy-url": "http://[::ffff:127.0.0.1]:3128"})
    entry = kc.load(str(path)).context("x")
    problems = kc.in_pod_problems(entry, allow_loopback=False, server_override=None)
    assert len(problems) == 1 and "proxy-url" in problems[0] and "loopback" in problems[0]


@pytest.mark.parametrize(("server", "cluster", "url"), [
    ("localhost:6443", {"certificate-authority-data": "Q0E="}, "http://localhost:6443"),
    ("10.0.0.1:6443", {}, "http://10.0.0.1:6443"),
    ("HTTPS://10.0.0.1:6443", {}, "https://10.0.0.1:6443"),
])
def test_server_url_like_client_go(server: str, cluster: dict[str, Any], url: str) -> None:
    assert kc.server_url({"server": server, **cluster}) == url


def test_impersonation_headers_as_client_go_sends_them() -> None:
    headers = impersonation_headers({"as": "kbmc-viewer", "as-groups": ["a", "b"], "as-uid": "42",
                                     "as-user-extra": {"scopes": ["x", "y"]}})
    assert headers == (("Impersonate-User", "kbmc-viewer"), ("Impersonate-Uid", "42"), ("Impersonate-Group", "a"),
                       ("Impersonate-Group", "b"), ("Impersonate-Extra-scopes", "x"), ("Impersonate-Extra-scopes", "y"))
    assert impersonation_headers({"token": "x"}) == ()


# ---- crashes become one line, exit 2 -----------------------------------------------------------------


def test_non_utf8_kubeconfig_and_token_file_are_exit_2_one_line(kbmc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad-config"
    bad.write_bytes(b"apiVersion: v1\nkind: Config\n# caf\xe9\n")
    r = kbmc("env", "check", "--context", "cp", "--data-planes", "k8s-1", kubeconfig=bad)
    assert r.code == 2 and r.stderr.count("error:") == 1 and "is not UTF-8 text" in r.stderr
    assert "unexpected" not in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "tok").write_bytes(b"\xff\xfe")
    good = config(tmp_path, {"tokenFile": str(tmp_path / "tok")})
    r = kbmc("env", "prepare", "--context", "x", "--data-planes", "x", "--dry-run", kubeconfig=good)
    assert r.code == 2 and "tokenFile" in r.stderr and "is not UTF-8 text" in r.stderr, r.stderr
    assert "unexpected" not in r.stderr


def test_socks_proxy_without_pysocks_is_a_clear_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from kbmc.clients import ClientRegistry

    monkeypatch.setitem(sys.modules, "socks", None)  # as if PySocks were not installed
    path = config(tmp_path, {"token": "t0k3n-x"}, {"server": "https://api.invalid:6443",
                                                  "proxy-url": "socks5://127.0.0.1:1080"})
    with pytest.raises(InputError, match="is a SOCKS proxy, which needs the PySocks package"):
        ClientRegistry(kc.load(str(path))).for_context("x")


def test_bad_server_port_is_input_error_not_a_crash(kbmc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = config(tmp_path, {"token": "t0k3n-x"})
    r = kbmc("env", "prepare", "--context", "x", "--data-planes", "x", "--dry-run",
             "--server", "x=https://api.invalid:99999", kubeconfig=path)
    assert r.code == 2 and "bad host or port" in r.stderr and "unexpected" not in r.stderr
    bad = config(tmp_path, {"token": "t0k3n-x"}, {"server": "https://api.invalid:99999"})
    r = kbmc("env", "check", "--context", "x", "--data-planes", "x", kubeconfig=bad)
    assert r.code == 2 and "is not a URL or a host:port pair" in r.stderr and "unexpected" not in r.stderr


def test_recreate_puts_the_old_secret_back_when_the_create_fails_after_the_delete() -> None:
    """The dry runs passed, but the real create failed (a race, a webhook): the old Secret must not be lost."""
    from kbmc.clients import ApiError
    from kbmc.env import secret

    old = {"apiVersion": "v1", "kind": "Secret", "type": secret.SECRET_TYPE, "immutable": True,
           "metadata": {"name": "s", "namespace": "ns", "uid": "u1", "resourceVersion": "7", "labels": {"a": "b"}},
           "data": {"kubeconfig": "b2xk", "extra": "a2VlcA=="}}
    calls: list[tuple[str, Any, Any]] = []

    class Client:
        def request(self, method: str, path: str, *, body: Any = None) -> Any:
            calls.append((method, body, None))

        def create(self, path: str, body: Any, *, dry_run: bool = False) -> Any:
            calls.append(("POST", body, dry_run))
            if not dry_run and body["data"].get("kubeconfig") != "b2xk":
                raise ApiError("cp", "POST", path, 422, "Invalid", {"message": "denied by a webhook"})
            return body

    params = secret.PrepareParams("cp", ["k8s-1"], "ns", "s", force=True)
    desired = {**old, "metadata": {"name": "s", "namespace": "ns", "labels": {}, "annotations": {}},
               "data": {"kubeconfig": "bmV3", "extra": "a2VlcA=="}}
    with pytest.raises(OperationError, match="the old Secret was put back as it was") as err:
        secret._recreate(Client(), old, desired, "/api/v1/namespaces/ns/secrets/s", params)
    assert "denied by a webhook" in str(err.value)
    restored = calls[-1][1]
    assert restored["data"] == old["data"] and restored["immutable"] is True
    assert "uid" not in restored["metadata"] and "resourceVersion" not in restored["metadata"]
    assert [c[0] for c in calls] == ["DELETE", "POST", "DELETE", "POST", "POST"]
    assert calls[0][1]["dryRun"] == ["All"] and calls[1][2] is True  # proven before the real delete


@pytest.mark.parametrize(("reason", "category"), [
    ("116, '[X509: KEY_VALUES_MISMATCH] key values mismatch (_ssl.c:4030)'", "TLS error"),
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "TLS error"),
    ("'latin-1' codec can't encode characters in position 7-9: ordinal not in range(256)",
     "invalid credentials (cannot be sent in an HTTP header)"),
    ("Failed to establish a new connection: [Errno 111] Connection refused", "unreachable"),
])
def test_transport_failures_are_named_by_what_failed(reason: str, category: str) -> None:
    from kbmc.clients import ApiError

    err = ApiError("k8s-1", "GET", "/version", 0, reason, {})
    assert err.summary == f"{category}: {reason}" and f": {category}: " in str(err)
