"""The core seams: fan-out, the wait helper, the external-command runner, global-option hoisting."""

from __future__ import annotations

import io
import json
import sys
import threading
import time

import pytest

from kbmc.cli.main import hoist_global_options
from kbmc.errors import CommandError, InputError, OperationError, WaitTimeout
from kbmc.fanout import fan_out
from kbmc.output import Output
from kbmc.runner import ShRunner
from kbmc.wait import Poll, wait_for


def test_fan_out_runs_concurrently_and_keeps_every_result() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def op(ctx: str) -> str:
        barrier.wait()  # deadlocks (and times out) unless all three run at once
        if ctx == "k8s-2":
            raise OperationError("k8s-2 is down")
        return ctx.upper()

    results = fan_out(["k8s-1", "k8s-2", "k8s-3"], op)
    assert [r.context for r in results] == ["k8s-1", "k8s-2", "k8s-3"]
    assert [r.value for r in results] == ["K8S-1", None, "K8S-3"]
    assert results[1].error == "k8s-2 is down" and not results[1].ok


def test_fan_out_reports_unexpected_exceptions_per_context() -> None:
    results = fan_out(["a", "b"], lambda c: 1 / (c == "a"))
    assert results[0].ok and not results[1].ok
    assert "ZeroDivisionError" in (results[1].error or "")


def test_wait_timeout_carries_the_last_reason() -> None:
    now = [0.0]
    reasons = iter(["Creating", "Pending: no nodes", "Pending: no nodes"] + ["Pending: no nodes"] * 50)

    def check() -> Poll:
        return Poll(False, next(reasons))

    with pytest.raises(WaitTimeout, match=r"after 5s waiting for etcd to be Running: last seen: Pending: no nodes"):
        wait_for("etcd to be Running", check, timeout=5, interval=1,
                 clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))


def test_wait_treats_exceptions_as_not_yet_and_returns_when_done() -> None:
    calls = iter([RuntimeError("connection refused"), Poll(True, "Running")])

    def check() -> Poll:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    seen: list[str | None] = []
    assert wait_for("x", check, timeout=5, interval=0, on_progress=seen.append).reason == "Running"
    assert seen == ["connection refused"]


def test_runner_passes_the_context_and_records_the_call(standins) -> None:  # type: ignore[no-untyped-def]
    ShRunner().run("cilium", ["clustermesh", "status", "--wait"], context="k8s-2")
    ShRunner().run("helm", ["status", "kubeblocks", "-n", "kb-system"], context="cp")
    calls = standins()
    assert [(c["tool"], c["command"], c["context"]) for c in calls] == [
        ("cilium", ["clustermesh", "status"], "k8s-2"),
        ("helm", ["status"], "cp"),  # helm names it --kube-context
    ]


def test_runner_failure_carries_command_and_stderr_tail(standins, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KBMC_STANDIN_FAIL", "kbcli:3:line one\nError: release kubeblocks failed")
    with pytest.raises(CommandError) as info:
        ShRunner().run("kbcli", ["kubeblocks", "status"], context="cp")
    assert info.value.returncode == 3
    assert "kbcli kubeblocks status --context cp" in str(info.value)
    assert "Error: release kubeblocks failed" in str(info.value)


def test_standin_rejects_the_runbooks_em_dash_flags(standins) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="em dash"):
        ShRunner().run("cilium", ["clustermesh", "status", "\u2014wait"], context="k8s-1")


def test_runner_missing_tool_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(InputError, match="kbcli is not installed"):
        ShRunner().run("kbcli", ["version"], context=None)


def test_global_options_may_follow_the_subcommand() -> None:
    argv = ["env", "prepare", "--context", "cp", "--data-planes=k8s-1,k8s-2", "-ojson", "--dry-run", "--debug"]
    assert hoist_global_options(argv) == [
        "--context", "cp", "--data-planes=k8s-1,k8s-2", "-ojson", "--debug", "env", "prepare", "--dry-run"]
    assert hoist_global_options(["cluster", "--", "--context"]) == ["cluster", "--", "--context"]


def test_fan_out_is_bounded() -> None:
    running = []
    peak = [0]
    lock = threading.Lock()

    def op(ctx: str) -> None:
        with lock:
            running.append(ctx)
            peak[0] = max(peak[0], len(running))
        time.sleep(0.02)
        with lock:
            running.remove(ctx)

    fan_out([f"c{i}" for i in range(10)], op, workers=3)
    assert peak[0] == 3


def test_wait_stops_at_a_terminal_failure() -> None:
    with pytest.raises(OperationError, match="gave up waiting for etcd: Failed: pod crash"):
        wait_for("etcd", lambda: Poll(False, "Failed: pod crash", failed=True), timeout=60, interval=0)


def test_raise_failures_names_every_failed_context() -> None:
    from kbmc.fanout import raise_failures

    results = fan_out(["a", "b", "c"], lambda c: 1 / (c == "b"))
    with pytest.raises(OperationError, match=r"^probing: a: ZeroDivisionError.*; c: ZeroDivisionError"):
        raise_failures(results, "probing")
    raise_failures(fan_out(["a"], lambda c: c), "probing")  # nothing failed: no error


def test_wait_backs_off_between_tries_up_to_its_cap() -> None:
    now = [0.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    tries = iter([Poll(False, "webhook not ready")] * 5 + [Poll(True)])
    wait_for("pool", lambda: next(tries), timeout=100, interval=0.5, backoff=2.0, max_interval=3.0,
             clock=lambda: now[0], sleep=sleep)
    assert pauses == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_clustermesh_status_json_peers_are_the_connected_remote_clusters() -> None:
    from kbmc.network.cilium import parse_cli_version, parse_status_peers

    status = {"connectivity": {"connected": {"min": 1, "avg": 1, "max": 1}, "total": 2,
                               "clusters": {"k8s-2": {"configured": 2, "connected": 2}, "k8s-3": {"configured": 2}}},
              "kvstoremesh": {"enabled": True, "status": {"clusters": {"k8s-4": {"configured": 1, "connected": 1}}}}}
    assert parse_status_peers(json.dumps(status)) == {"k8s-2", "k8s-4"}
    assert parse_cli_version("cilium-cli: v0.16.19 compiled with go1.23.2 on linux/amd64\n"
                             "cilium image (default): v1.16.2\n") == (0, 16, 19)
    assert parse_cli_version("cilium-cli:  compiled with go1.22.0 on linux/amd64") is None


def test_tables_are_never_cut_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.delenv("COLUMNS", raising=False)  # a log file or a pipe: rich assumes 80 columns
    reason = ("failed: kubeblocks-cluster-pod-role: unreachable: HTTPSConnection(host=127.0.0.1, port=6443): "
              "Failed to establish a new connection: [Errno 111] Connection refused")
    name = "kubeblocks-volume-protection-pod-role-with-a-name-longer-than-any-terminal-column"
    Output(no_color=True).table(None, ["CONTEXT", "RESULT", "ROLES"], [["k8s-3", reason, name]])
    lines = capsys.readouterr().err.splitlines()
    row = next(x for x in lines if x.startswith("k8s-3"))
    assert reason in row and name in row  # whole, on the row's own line
    assert "…" not in "".join(lines)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("env", "tty", "colored"), [
    ({}, True, True), ({}, False, False), ({"NO_COLOR": "1"}, True, False), ({"TERM": "dumb"}, True, False),
    ({"FORCE_COLOR": "1"}, False, True)])
def test_status_lines_colour_only_a_terminal_and_keep_their_text_literal(
        monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tty: bool, colored: bool) -> None:
    for var in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    stream = _Tty() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    out = Output()
    out.error("context [red]k8s-1[/red] :smile: is unknown")
    out.success("done")
    text = stream.getvalue()
    assert ("\x1b[31merror:\x1b[0m" in text) is colored and ("\x1b[32m✓\x1b[0m" in text) is colored
    # Markup-like and emoji-like text in a message is printed as written, not interpreted.
    assert "context [red]k8s-1[/red] :smile: is unknown\n" in text
    assert text.replace("\x1b[31m", "").replace("\x1b[32m", "").replace("\x1b[0m", "") == (
        "error: context [red]k8s-1[/red] :smile: is unknown\n✓ done\n")


def test_quiet_keeps_warnings_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    out = Output(quiet=True)
    out.info("note")
    out.success("ok")
    out.warn("careful")
    out.error("bad")
    assert stream.getvalue() == "warning: careful\nerror: bad\n"


def test_standin_parses_clustermesh_disconnect_as_cilium_cli_does(standins, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # cilium-cli's disconnect: --destination-context (comma-separated) and --connection-mode, no --parallel;
    # before v0.16.19 it knew no --connection-mode.
    ShRunner().run("cilium", ["clustermesh", "disconnect", "--destination-context", "k8s-1,k8s-2",
                              "--connection-mode", "bidirectional"], context="k8s-4")
    assert standins()[-1]["flags"]["--destination-context"] == ["k8s-1,k8s-2"]
    with pytest.raises(CommandError, match="unknown flag: --parallel"):
        ShRunner().run("cilium", ["clustermesh", "disconnect", "--destination-context", "k8s-1", "--parallel", "2"],
                       context="k8s-4")
    monkeypatch.setenv("KBMC_STANDIN_CILIUM_VERSION", "v0.16.18")
    with pytest.raises(CommandError, match="unknown flag: --connection-mode"):
        ShRunner().run("cilium", ["clustermesh", "disconnect", "--destination-context", "k8s-1",
                                  "--connection-mode", "mesh"], context="k8s-4")
