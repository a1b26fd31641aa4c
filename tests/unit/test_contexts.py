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
