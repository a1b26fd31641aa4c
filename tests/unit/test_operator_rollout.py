"""When `--wait` (operator install, contexts disable/enable) counts the manager's rollout as done."""

from __future__ import annotations

from typing import Any

import pytest

from kbmc.operator.status import ready, rolled_out


def deployment(generation: int, **status: int) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "spec": {"replicas": 1}, "status": status}


# Status snapshots of a 1-replica Deployment rolling out with maxSurge 1 / maxUnavailable 0 (the chart's strategy).
ROLLOUT = {
    "template changed, not yet observed": (deployment(2, observedGeneration=1, replicas=1, updatedReplicas=0,
                                                      availableReplicas=1), False, False),
    "new pod created, old one still serving": (deployment(2, observedGeneration=2, replicas=2, updatedReplicas=1,
                                                          availableReplicas=1), True, False),
    "new pod available, old one terminating": (deployment(2, observedGeneration=2, replicas=2, updatedReplicas=1,
                                                          availableReplicas=2), True, False),
    "done": (deployment(2, observedGeneration=2, replicas=1, updatedReplicas=1, availableReplicas=1), True, True),
    "old pod gone, new one not ready": (deployment(2, observedGeneration=2, replicas=1, updatedReplicas=1,
                                                   availableReplicas=0), False, False),
}


@pytest.mark.parametrize("case", list(ROLLOUT))
def test_rolled_out_only_when_no_pod_of_the_previous_template_is_left(case: str) -> None:
    d, is_ready, is_rolled_out = ROLLOUT[case]
    # `ready` (operator status, doctor: is a manager available?) is not enough for --wait after a change.
    assert ready(d) is is_ready
    assert rolled_out(d) is is_rolled_out
