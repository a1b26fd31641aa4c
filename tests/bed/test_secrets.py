"""Secrets: no kubeconfig credential in any output of any command that reads a kubeconfig; files kbmc writes are 0600.

tests/bed/test_env_hardening.py drives `env check`/`env prepare` through every error path with every kind of
credential (token files, basic auth, proxy passwords, a library whose exception text carries the credential). This
module is its breadth companion: every other command that reads a kubeconfig, in every output mode it has (table,
`-o json`, `-o yaml`, `--dry-run`, `--diff`, `--debug` with a forced error), with a kubeconfig whose users carry a
client certificate and key (the bed's admins) or a token (the bed's permission-less viewer, whose requests the
servers answer with real 403s). Each run must reach code that could print a credential: a row names the text that
proves it got there (an error from a cluster, or the plan built from what it read).

The check looks for every credential as written (the token, the base64 `*-data` fields), in PEM form (every body
line of the decoded key and certificate) and base64-encoded (the token's encoding, and any base64 run in the
output decoded and searched again, so a printed Secret `data:` value counts too). `--show-secrets` proves the
check can fail.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets as pysecrets
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbmc.clients import ClientRegistry, resource_path
from tests.bed.network_helpers import write_topology
from tests.bed.test_cluster_apply import Crds
from tests.cli.test_cluster_render import GOLDEN
from tests.conftest import Result
from tests.testbed import crds
from tests.testbed.bed import TestBed

PLANES = ["k8s-1", "k8s-2", "k8s-3"]  # k8s-2 through the viewer token: every request there is a real 403
VIEWER_CP = "cp-viewer"  # the control plane through its viewer token: the forced error for --debug
CHART = Path(__file__).resolve().parent / "charts" / "hello"
METALLB = {"k8s-1": ["198.51.100.0/28"], "k8s-2": ["198.51.100.16/28"], "k8s-3": ["203.0.113.0/28"]}


def credentials_kubeconfig(bed: TestBed, path: Path) -> dict[str, str]:
    """The bed's kubeconfig with k8s-2 and a `cp-viewer` context on token users; returns every credential form."""
    doc = yaml.safe_load(bed.kubeconfig_path.read_text())
    doc["users"] += [{"name": "k8s-2-token", "user": {"token": bed.state.clusters["k8s-2"].viewer_token}},
                     {"name": "cp-token", "user": {"token": bed.state.clusters["cp"].viewer_token}}]
    for ctx in doc["contexts"]:
        if ctx["name"] == "k8s-2":
            ctx["context"]["user"] = "k8s-2-token"
    doc["contexts"].append({"name": VIEWER_CP, "context": {"cluster": "cp", "user": "cp-token"}})
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    forms: dict[str, str] = {}
    for user in doc["users"]:
        u, name = user["user"], user["name"]
        if "token" in u:
            forms[f"{name} token"] = u["token"]
            forms[f"{name} token (base64)"] = base64.b64encode(u["token"].encode()).decode()
        for field in ("client-key-data", "client-certificate-data"):
            if field in u:
                forms[f"{name} {field} (base64)"] = u[field]
                body = [ln for ln in base64.b64decode(u[field]).decode().splitlines() if ln and "-----" not in ln]
                for i, line in enumerate(body):
                    forms[f"{name} {field} (PEM line {i})"] = line
    return forms


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")


def leaks(text: str, forms: dict[str, str]) -> list[str]:
    """The names of the credential forms found in `text`, also inside any base64 run it carries."""
    texts = [text]
    for run in _BASE64_RUN.findall(text):
        try:
            texts.append(base64.b64decode(run + "=" * (-len(run) % 4)).decode(errors="replace"))
        except (binascii.Error, ValueError):
            continue
    return sorted({name for name, value in forms.items() if any(value in t for t in texts)})


@dataclass(frozen=True)
class Row:
    """One command: its arguments, the modes it has, and the text that proves it reached a cluster."""
    name: str
    args: tuple[str, ...]
    reached: str  # a regex the combined output of the table run must match
    modes: tuple[tuple[str, ...], ...] = ((), ("-o", "json"), ("-o", "yaml"))
    debug: bool = True  # also run with --debug and a forced error (see `run_all`)


def rows(ns: str, cluster: str, role: str, crds: Path) -> list[Row]:
    planes = ("--data-planes", ",".join(PLANES))
    dry = ("--dry-run",)
    return [
        Row("env check", ("env", "check", *planes), r"k8s-2.*(forbidden|missing)"),
        Row("env check --in-cluster", ("env", "check", *planes, "-n", ns, "--in-cluster", "--timeout", "1s"),
            r"(?s)k8s-2.*(forbidden|missing)"),
        Row("env prepare", ("env", "prepare", *planes, "-n", ns, "--allow-loopback"), r"Secret .*kb-multi-cluster",
            modes=((), ("-o", "json"), ("-o", "yaml"), dry, (*dry, "-o", "json"), (*dry, "-o", "yaml"))),
        *[Row(f"operator install{suffix}", ("operator", "install", "--data-planes", dps, "-n", ns, "--chart",
                                            str(CHART), "--crds", str(crds), "--no-wait", "--installer", "helm"),
              reached,
              modes=((), ("-o", "json"), ("-o", "yaml"), dry, (*dry, "-o", "json")))
          for suffix, dps, reached in (("", ",".join(PLANES), r"k8s-2.*forbidden"),
                                       (" (readable planes)", "k8s-1,k8s-3", r"installed release"))],
        Row("operator status", ("operator", "status", "-n", ns), r"not installed|kb-multi-cluster"),
        Row("rbac sync", ("rbac", "sync", *planes, "--role", role), r"(?s)k8s-2.*(forbidden|403)",
            modes=((), ("-o", "json"), ("-o", "yaml"), dry, ("--diff",), (*dry, "--diff", "-o", "json"))),
        Row("network cilium", ("network", "cilium", *planes), r"403 Forbidden",
            modes=((), ("-o", "json"), ("-o", "yaml"), dry, (*dry, "-o", "json"))),
        Row("network cilium (readable planes)", ("network", "cilium", "--data-planes", "k8s-1,k8s-3", *dry),
            r"clustermesh", modes=((), ("-o", "json"), ("-o", "yaml")), debug=False),
        Row("network metallb", ("network", "metallb", *planes, "--chart", str(CHART), "--timeout", "5s"),
            # k8s-2's 403s, or (a loaded machine: the helm stand-in slower than the timeout) helm's failure there
            r"(?s)k8s-2.*(forbidden|403|exited)", modes=((), ("-o", "json"), ("-o", "yaml"), dry, (*dry, "-o", "json"))),
        Row("network expose", ("network", "expose", cluster, "-n", ns, *planes), r"(?s)k8s-2.*(forbidden|403)",
            modes=((), ("-o", "json"), ("-o", "yaml"), dry, (*dry, "-o", "json"))),
        Row("cluster create", ("cluster", "create", "etcd", "--placement", ",".join(PLANES), "-n", ns, "--apply"),
            r"k8s-2.*403 Forbidden", modes=((), ("-o", "json"), ("-o", "yaml"), dry)),
        Row("cluster create (readable planes)", ("cluster", "create", "etcd", "--data-planes", "k8s-1,k8s-3",
                                                 "--placement", "k8s-1,k8s-3", "-n", ns, "--apply",
                                                 "--create-namespace"),
            r"created", modes=((), ("-o", "json"), ("-o", "yaml"), dry)),
        Row("cluster status", ("cluster", "status", cluster, "-n", ns, *planes), r"(?s)k8s-2.*(forbidden|403)"),
        Row("cluster list", ("cluster", "list", "-n", ns), cluster),
        # The dry runs first; then the real one (no operator here: the Cluster goes at once, k8s-2 answers 403).
        Row("cluster delete", ("cluster", "delete", cluster, "-n", ns, *planes), r"(?s)k8s-2.*(forbidden|403)",
            modes=(dry, (*dry, "-o", "json"), (*dry, "-o", "yaml"), ("--timeout", "5s", "-o", "json"))),
        Row("contexts list", ("contexts", "list", "-n", ns, *planes), r"k8s-2"),
        *[Row(f"contexts {verb}", ("contexts", verb, "k8s-2", "-n", ns, "--via", "deployment", *planes, *extra),
              r"k8s-2", modes=(dry, (*dry, "-o", "json"), (*dry, "-o", "yaml"), ("--timeout", "2s")))
          for verb, extra in (("disable", ("--no-wait",)), ("enable", ("--no-wait",)), ("add", ("--allow-loopback",)),
                              ("remove", ()))],
        Row("doctor", ("doctor", "-n", ns, "--allow-loopback", *planes), r"(?s)k8s-2.*(forbidden|403|missing)"),
        Row("validate", ("validate",), r"kbmc.yaml is valid", debug=False),  # reads no cluster: nothing to force
    ]


@pytest.fixture(scope="module")
def world(bed: TestBed, registry: ClientRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A namespace with a Cluster object, a fake manager Deployment and a ClusterRole to copy, all in cp."""
    Crds(registry).use("v1alpha1")
    cp = registry.for_context("cp")
    ns = f"kbs-{pysecrets.token_hex(3)}"
    cp.create(resource_path("v1", "namespaces"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    cluster = yaml.safe_load((GOLDEN / "etcd-cilium.yaml").read_text())
    # Placed explicitly, as `cluster create` places it: `cluster status` then reads its data planes whatever
    # operator another module left in kb-system (status falls back to that operator's contexts otherwise).
    cluster["metadata"] = {"name": f"etcd-{pysecrets.token_hex(3)}", "namespace": ns,
                           "annotations": {"apps.kubeblocks.io/multi-cluster-placement": ",".join(PLANES)}}
    cp.create(resource_path("apps.kubeblocks.io/v1alpha1", "clusters", ns), cluster)
    labels = {"app.kubernetes.io/name": "kubeblocks", "app.kubernetes.io/component": "apps",
              "app.kubernetes.io/instance": "kubeblocks"}
    cp.create(resource_path("apps/v1", "deployments", ns), {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kubeblocks", "labels": labels},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "containers": [{"name": "manager", "image": "kubeblocks:0.9.3",
                            "args": ["--multi-cluster-contexts=k8s-1,k8s-2,k8s-3"]}]}}}})
    role = f"kbs-role-{pysecrets.token_hex(3)}"
    cp.create(resource_path("rbac.authorization.k8s.io/v1", "clusterroles"), {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": role},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    try:
        yield {"ns": ns, "cluster": cluster["metadata"]["name"], "role": role}
    finally:
        for ctx in ("cp", *PLANES):
            registry.for_context(ctx).delete(resource_path("rbac.authorization.k8s.io/v1", "clusterroles", name=role))
        for ctx in ("cp", *PLANES):
            registry.for_context(ctx).delete(resource_path("v1", "namespaces", name=ns))


@pytest.fixture
def private_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[tuple[str, int]]]:
    """Every file kbmc writes (its one writer, and anything left in its temp dir), with its mode when written."""
    from kbmc import files

    written: list[tuple[str, int]] = []
    real = files.write_private

    def spy(path: str | Path, text: str) -> None:
        real(path, text)
        written.append((str(path), stat.S_IMODE(os.stat(path).st_mode)))

    monkeypatch.setattr(files, "write_private", spy)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TMPDIR", str(tmp))
    yield written
    written += [(str(p), stat.S_IMODE(p.stat().st_mode)) for p in tmp.rglob("*") if p.is_file()]


LEAKY_ERROR = ("--debug", "(leaking library error)")
VIEWER_ERROR = ("--debug", "--context", VIEWER_CP)


def run_all(kbmc: Callable[..., Result], bed: TestBed, tmp_path: Path, world: dict[str, Any],
            monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[Row, tuple[str, ...], Result]], dict[str, str]]:
    """Every row in each of its modes, then with --debug and two forced errors.

    The forced errors: the control plane through its viewer token (a real 403), and a client library whose
    exception text carries the credentials (as urllib3's "Invalid header value b'Bearer …'" once did), raised on
    every request so the traceback --debug shows holds them.
    """
    from kubernetes.client import ApiClient

    kubeconfig = tmp_path / "credentials-kubeconfig"
    forms = credentials_kubeconfig(bed, kubeconfig)
    write_topology(tmp_path / "kbmc.yaml", PLANES, metallb=METALLB)  # the kbmc fixture runs in tmp_path
    token, key = forms["k8s-2-token token"], base64.b64decode(forms["k8s-1-admin client-key-data (base64)"]).decode()

    def leaking_call_api(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"Invalid header value b'Bearer {token}\\n' for key {key!r}")

    runs = []
    crds_file = tmp_path / "crds.yaml"  # the chart has no crds/: without this kbmc would download the release's
    crds_file.write_text(yaml.safe_dump_all(crds.all_crds()[:2]))  # two of those already in cp, re-applied as they are
    for row in rows(world["ns"], world["cluster"], world["role"], crds_file):
        for mode in row.modes:
            runs.append((row, mode, kbmc("--context", "cp", *row.args, *mode, kubeconfig=kubeconfig)))
        if not row.debug:
            continue
        runs.append((row, VIEWER_ERROR, kbmc(*VIEWER_ERROR, *row.args, kubeconfig=kubeconfig)))
        with monkeypatch.context() as patch:
            patch.setattr(ApiClient, "call_api", leaking_call_api)
            runs.append((row, LEAKY_ERROR, kbmc("--context", "cp", "--debug", *row.args, kubeconfig=kubeconfig)))
    return runs, forms


def test_no_credential_in_any_output_of_any_command(kbmc, bed: TestBed, tmp_path: Path, world: dict[str, Any],
                                                    standins, private_files: list[tuple[str, int]],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    runs, forms = run_all(kbmc, bed, tmp_path, world, monkeypatch)
    problems = []
    for row, mode, result in runs:
        where = f"{row.name} {' '.join(mode)}".strip()
        if "No such option" in result.output or "Usage:" in result.output:
            problems.append(f"{where}: not a valid command line: {result.output[-300:]!r}")
        if "Traceback" in result.output and "--debug" not in mode:
            problems.append(f"{where}: a traceback without --debug")
        if mode == row.modes[0] and not re.search(row.reached, result.output):
            problems.append(f"{where}: did not reach a cluster ({row.reached!r} not in: {result.output[-600:]!r})")
        if mode in (VIEWER_ERROR, LEAKY_ERROR) and result.code == 0:
            problems.append(f"{where}: the forced error did not fail the command: {result.output[-600:]!r}")
        if mode == LEAKY_ERROR and not re.search("Traceback|Invalid header value", result.output):
            problems.append(f"{where}: the forced error was not shown: {result.output[-600:]!r}")
        if found := leaks(result.output, forms):
            problems.append(f"{where}: printed {found}")
    assert problems == [], "\n".join(problems)
    assert private_files, "no file written: the mode check below means nothing"
    assert [(path, oct(mode)) for path, mode in private_files if mode != 0o600] == []


def test_show_secrets_trips_the_check(kbmc, bed: TestBed, tmp_path: Path, world: dict[str, Any]) -> None:
    """The check can fail: `env prepare --show-secrets` prints the credentials, and `leaks` finds every form."""
    kubeconfig = tmp_path / "credentials-kubeconfig"
    forms = credentials_kubeconfig(bed, kubeconfig)
    for mode in ((), ("-o", "json"), ("-o", "yaml")):
        r = kbmc("--context", "cp", "--data-planes", ",".join(PLANES), *mode, "env", "prepare", "-n", world["ns"],
                 "--allow-loopback", "--dry-run", "--show-secrets", kubeconfig=kubeconfig)
        assert r.code == 0, r.output
        shown = leaks(r.output, forms)
        # The Secret carries the data planes' users: k8s-1's and k8s-3's certificates and keys, k8s-2's token.
        for user in ("k8s-1-admin", "k8s-3-admin"):
            assert f"{user} client-key-data (base64)" in shown or f"{user} client-key-data (PEM line 0)" in shown, shown
        assert "k8s-2-token token" in shown, shown
