"""The pure parts of `contexts disable/enable`: the flag set in place, the merge and the refusals, the lease expiry."""

from __future__ import annotations

from typing import Any

import pytest

from kbmc.contexts import lease
from kbmc.contexts import live as lv
from kbmc.contexts.toggle import ToggleParams, check_params, desired
from kbmc.errors import InputError

ARGS = ["--leader-elect", "--multi-cluster-kubeconfig=/k/kubeconfig", "--multi-cluster-contexts=a,b,c", "--zap"]


def test_flag_is_inserted_after_the_contexts_and_everything_else_kept() -> None:
    assert lv.with_disabled(ARGS, ["b"]) == [*ARGS[:3], "--multi-cluster-contexts-disabled=b", "--zap"]


def test_flag_is_replaced_in_place_and_dropped_when_empty() -> None:
    args = [*ARGS[:3], "--multi-cluster-contexts-disabled=b", "--zap"]
    assert lv.with_disabled(args, ["a", "b"]) == [*ARGS[:3], "--multi-cluster-contexts-disabled=a,b", "--zap"]
    assert lv.with_disabled(args, []) == ARGS
    spaced = [*ARGS[:3], "--multi-cluster-contexts-disabled", "b", "--zap"]
    assert lv.with_disabled(spaced, ["c"]) == [*ARGS[:3], "--multi-cluster-contexts-disabled=c", "--zap"]


def live(disabled: list[str], release_disabled: list[str] | None = None) -> lv.Live:
    d: dict[str, Any] = {}
    return lv.Live("kb-system", "kubeblocks", d, [d], ["a", "b", "c"], disabled, None,
                   release_disabled is not None, release_disabled or [])


def params(*targets: str, disable: bool = True, force: bool = False) -> ToggleParams:
    return ToggleParams("cp", list(targets), disable, "kb-system", "kubeblocks", force=force)


def test_merge_keeps_both_sources_in_the_contexts_order() -> None:
    assert desired(live(["c"], ["b"]), params("a", force=True)) == ["a", "b", "c"]
    assert desired(live(["c"], ["b"]), params("b")) == ["b", "c"]  # already disabled in the release: kept
    assert desired(live(["c", "a"]), params("a", disable=False)) == ["c"]


@pytest.mark.parametrize(("state", "p", "message"), [
    (live([]), params("z"), "context(s) z not in the operator's contexts (a,b,c)"),
    (live(["a", "b"]), params("c"), "would leave no enabled data plane"),
])
def test_refusals(state: lv.Live, p: ToggleParams, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        desired(state, p)


def test_forced_last_and_stray_enable() -> None:
    assert desired(live(["a", "b"]), params("c", force=True)) == ["a", "b", "c"]
    assert desired(live(["z", "a"]), params("z", disable=False)) == ["a"]  # a stray disabled context is dropped


def test_control_plane_refused_before_any_cluster_is_read() -> None:
    with pytest.raises(InputError, match="the control plane's own context 'cp' cannot be disabled"):
        check_params(params("cp"))


def test_lease_expiry() -> None:
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    held = {"spec": {"holderIdentity": "x", "leaseDurationSeconds": 10,
                     "renewTime": (now - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}
    assert not lease.expired(held, now)
    assert lease.expired(held, now + timedelta(seconds=6))
    assert lease.expired({"spec": {"holderIdentity": ""}}, now)


def test_enable_of_a_context_already_enabled_is_a_no_op_unless_the_name_is_unknown_everywhere() -> None:
    # z was a stray disabled entry, dropped by a first `enable z`: a second one changes nothing (z is in the
    # kubeconfig), and a name neither the operator nor the kubeconfig has stays a mistake.
    assert desired(live(["a"]), params("z", disable=False), {"a", "b", "c", "z"}) == ["a"]
    assert desired(live([]), params("b", disable=False), set()) == []
    with pytest.raises(InputError, match=r"context\(s\) z not in the operator's contexts \(a,b,c\) nor in your"):
        desired(live(["a"]), params("z", disable=False), {"a", "b", "c"})


def test_disable_of_a_stray_already_disabled_is_a_no_op_and_strays_are_never_dropped() -> None:
    assert desired(live(["z"]), params("z"), set()) == ["z"]
    assert desired(live(["z"]), params("a")) == ["a", "z"]  # disabling another keeps the stray
    with pytest.raises(InputError, match="not in the operator's contexts"):
        desired(live([]), params("z"), {"z"})  # in the kubeconfig, but the operator does not use it


def lease_doc(holder: str, renewed: str, duration: int) -> dict[str, Any]:
    return {"spec": {"holderIdentity": holder, "leaseDurationSeconds": duration, "renewTime": renewed}}


def test_busy_message_gives_the_holder_the_real_expiry_and_the_fix() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    doc = lease_doc("kbmc@host/42-abc123", "2026-01-01T11:59:00.000000Z", 360)
    message = lease.busy_message(doc, "kb-system", now)
    assert "another kbmc run (kbmc@host/42-abc123) holds the lease kb-system/kbmc-contexts" in message
    assert "expires at 2026-01-01T12:05:00Z" in message and "leaseDurationSeconds 360, in 300s" in message
    assert "kubectl -n kb-system delete lease kbmc-contexts" in message
    assert lease.expires_at(doc) == datetime(2026, 1, 1, 12, 5, 0, tzinfo=timezone.utc)


def test_a_dead_holder_on_this_machine_is_recognised() -> None:
    import os
    import socket
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = int(proc.stdout)
    host = socket.gethostname()
    assert lease.dead_local_holder(f"kbmc@{host}/{gone}-abc123")
    assert not lease.dead_local_holder(f"kbmc@{host}/{os.getpid()}-abc123")  # this very process
    assert not lease.dead_local_holder(f"kbmc@{host}/1-abc123")  # alive (init)
    assert not lease.dead_local_holder(f"kbmc@another-{host}/{gone}-abc123")  # cannot be told from here
    assert not lease.dead_local_holder("someone-else")


class LeaseStore:
    """An in-memory stand-in for the API server's lease endpoints, resourceVersion checked as the server does."""

    def __init__(self) -> None:
        self.doc: dict[str, Any] | None = None
        self.version = 0

    def get_or_none(self, path: str) -> Any:
        import copy

        return copy.deepcopy(self.doc)

    def create(self, path: str, body: dict[str, Any]) -> Any:
        from kbmc.clients import ApiError

        if self.doc is not None:
            raise ApiError("cp", "POST", path, 409, "AlreadyExists", {})
        return self._store(body)

    def replace(self, path: str, body: dict[str, Any]) -> Any:
        from kbmc.clients import ApiError

        if self.doc is None or body["metadata"].get("resourceVersion") != self.doc["metadata"]["resourceVersion"]:
            raise ApiError("cp", "PUT", path, 409, "Conflict", {})
        return self._store(body)

    def _store(self, body: dict[str, Any]) -> Any:
        import copy

        self.version += 1
        self.doc = copy.deepcopy(body)
        self.doc["metadata"]["resourceVersion"] = str(self.version)
        return self.doc


def test_a_held_lease_is_renewed_while_held_and_released_after() -> None:
    import time

    store = LeaseStore()
    with lease.held(store, "kb-system", timeout=1, duration=1, identity="kbmc@h/1-aaaaaa") as me:  # type: ignore[arg-type]
        assert me == "kbmc@h/1-aaaaaa"
        assert store.doc is not None
        first = store.doc["spec"]["renewTime"]
        for _ in range(100):  # renewed every max(0.5 s, duration / 3) while the block runs
            if store.doc["spec"]["renewTime"] != first:
                break
            time.sleep(0.1)
        assert store.doc["spec"]["renewTime"] != first and store.doc["spec"]["holderIdentity"] == me
    assert store.doc["spec"]["holderIdentity"] == ""


def test_a_fresh_foreign_lease_makes_the_wait_end_with_the_timeout_naming_it() -> None:
    from datetime import datetime, timezone

    from kbmc.errors import OperationError

    store = LeaseStore()
    renewed = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    store._store({"metadata": {"name": lease.LEASE_NAME}, **lease_doc("kbmc@other/7-bbbbbb", renewed, 360)})
    with pytest.raises(OperationError, match=r"another kbmc run \(kbmc@other/7-bbbbbb\) holds the lease .*"
                                             r"leaseDurationSeconds 360"):
        with lease.held(store, "kb-system", timeout=0.3):  # type: ignore[arg-type]
            pass
    assert store.doc is not None and store.doc["spec"]["holderIdentity"] == "kbmc@other/7-bbbbbb"


def test_repeated_flag_is_read_as_go_reads_it_the_last_wins() -> None:
    from kbmc.operator import manager as mgr

    args = ["--multi-cluster-contexts=a,b,c", "--multi-cluster-contexts-disabled=b",
            "--multi-cluster-contexts-disabled=c"]
    assert mgr.flag_value(args, mgr.FLAG_DISABLED) == "c"
    assert mgr.live({"metadata": {"name": "m"}, "spec": {"template": {"spec": {"containers": [
        {"name": "manager", "args": args}]}}}}).disabled == ["c"]
    # `--flag value`, Go's single-dash spelling, and `--` ending the flags.
    assert mgr.flag_value(["--multi-cluster-contexts-disabled", "a", "-multi-cluster-contexts-disabled=b"],
                          mgr.FLAG_DISABLED) == "b"
    assert mgr.flag_value(["-multi-cluster-contexts-disabled=a", "--", "--multi-cluster-contexts-disabled=b"],
                          mgr.FLAG_DISABLED) == "a"
    assert mgr.flag_count(args, mgr.FLAG_DISABLED) == 2


def test_repeats_are_written_as_one_flag_and_the_dropped_values_said() -> None:
    args = ["--multi-cluster-contexts=a,b,c", "--multi-cluster-contexts-disabled=b", "--zap",
            "-multi-cluster-contexts-disabled", "c"]
    assert lv.with_disabled(args, ["c", "a"]) == ["--multi-cluster-contexts=a,b,c",
                                                  "--multi-cluster-contexts-disabled=c,a", "--zap"]
    assert lv.with_disabled(args, []) == ["--multi-cluster-contexts=a,b,c", "--zap"]
    live = lv.Live("ns", "kb", {}, [{"metadata": {"name": "kb"}, "spec": {"template": {"spec": {"containers": [
        {"name": "manager", "args": args}]}}}}], ["a", "b", "c"], ["c"])
    from kbmc.contexts.toggle import repeated_flags

    notes = repeated_flags(live, ["c", "a"])
    assert notes == ["Deployment kb gave --multi-cluster-contexts-disabled 2 times (in effect: the last, c); "
                     "written once as c,a; dropped from the earlier, ignored ones: b (they were enabled and stay "
                     "enabled)"]
