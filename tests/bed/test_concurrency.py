"""Two `env prepare` runs at once, with different inputs, against the real API server.

The Secret must end as one of the two complete versions, never a mix, and a run that says it wrote its
version must not have been silently overwritten by a write that started from an older state.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
from typing import Any

import yaml

from kbmc.clients import ClientRegistry, resource_path

ROUNDS = 8
INPUTS = {"a": "k8s-1,k8s-2", "b": "k8s-2,k8s-3"}


def prepare(bed: Any, ns: str, planes: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KUBECONFIG=str(bed.kubeconfig_path), NO_COLOR="1", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "kbmc", "-o", "json", "env", "prepare", "--context", "cp",
                           "--data-planes", planes, "-n", ns, "--secret-name", "race", "--allow-loopback",
                           "--allow-remove"], capture_output=True, text=True, env=env, timeout=300)


def race(run: Any) -> dict[str, Any]:
    """`run(key)` for both inputs at once, in two threads; what each returned (or raised, for OperationError)."""
    from kbmc.errors import OperationError

    results: dict[str, Any] = {}
    start = threading.Barrier(2)

    def one(key: str) -> None:
        start.wait()
        try:
            results[key] = run(key)
        except OperationError as exc:
            results[key] = exc

    threads = [threading.Thread(target=one, args=(key,)) for key in INPUTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_prepares_at_once_leave_one_whole_version(bed, registry: ClientRegistry, make_namespace) -> None:
    cp = registry.for_context("cp")
    outcomes: dict[str, int] = {}
    for round_ in range(ROUNDS):
        ns = make_namespace("cp")
        if round_ % 2:  # half the rounds race on an update, half on the first create
            assert prepare(bed, ns, "k8s-1").returncode == 0
        results = race(lambda key, ns=ns: prepare(bed, ns, INPUTS[key]))

        secret = cp.get(resource_path("v1", "secrets", ns, "race"))
        doc = yaml.safe_load(base64.b64decode(secret["data"]["kubeconfig"]))
        contexts = ",".join(c["name"] for c in doc["contexts"])
        assert contexts in INPUTS.values(), f"round {round_}: a mix of both inputs: {contexts}"
        winner = next(k for k, v in INPUTS.items() if v == contexts)
        succeeded = [k for k, r in results.items() if r.returncode == 0]
        for r in results.values():
            assert r.returncode in (0, 1), r.stderr
            if r.returncode == 1:  # the loser says so, in one line, and that it can be run again
                assert "nothing was overwritten, run the command again" in r.stderr, r.stderr
                assert len([ln for ln in r.stderr.splitlines() if ln.startswith("error:")]) == 1, r.stderr
        assert winner in succeeded, f"round {round_}: the Secret holds {winner}'s version but {winner} failed"
        if len(succeeded) == 2:
            # Both wrote, so one after the other: the winner's update must have started from the other's
            # version (its report is the difference to it), not from a state the other had already changed.
            loser = next(k for k in INPUTS if k != winner)
            gone = sorted(set(INPUTS[loser].split(",")) - set(INPUTS[winner].split(",")))
            new = sorted(set(INPUTS[winner].split(",")) - set(INPUTS[loser].split(",")))
            assert f"updated: added {', '.join(new)}; removed {', '.join(gone)}" in results[winner].stderr, (
                results[winner].stderr)
        outcomes[str(sorted(succeeded))] = outcomes.get(str(sorted(succeeded)), 0) + 1
    print(f"outcomes over {ROUNDS} rounds: {outcomes}")


def test_interleaved_prepares_one_wins_whole_and_the_other_says_so(bed, registry: ClientRegistry, make_namespace,
                                                                   monkeypatch) -> None:
    """Both runs read before either writes (forced with a barrier after the read): the worst interleaving."""
    from kbmc.clients import KubeClient

    cp = registry.for_context("cp")
    real_get_or_none = KubeClient.get_or_none
    for existing in (False, True):  # the race on the first create, then on an update
        ns = make_namespace("cp")
        if existing:
            assert prepare(bed, ns, "k8s-1").returncode == 0
        monkeypatch.setattr(KubeClient, "get_or_none", _pausing_after_read(real_get_or_none, threading.Barrier(2, timeout=60)))
        outcome = race(lambda key, ns=ns: _prepare_in_process(bed, ns, key))
        monkeypatch.setattr(KubeClient, "get_or_none", real_get_or_none)

        won = [k for k, v in outcome.items() if not isinstance(v, Exception)]
        lost = [k for k, v in outcome.items() if isinstance(v, Exception)]
        assert len(won) == 1 and len(lost) == 1, outcome
        assert "nothing was overwritten, run the command again" in str(outcome[lost[0]])
        final = cp.get(resource_path("v1", "secrets", ns, "race"))
        doc = yaml.safe_load(base64.b64decode(final["data"]["kubeconfig"]))
        assert ",".join(c["name"] for c in doc["contexts"]) == INPUTS[won[0]]
        assert final["metadata"]["resourceVersion"] == outcome[won[0]].resource_version


def _pausing_after_read(real: Any, both_read: threading.Barrier) -> Any:
    def get_or_none(self: Any, path: str) -> Any:
        found = real(self, path)
        if path.endswith("/secrets/race"):
            both_read.wait()  # neither writes before both have read
        return found
    return get_or_none


def _prepare_in_process(bed: Any, ns: str, key: str) -> Any:
    from kbmc import kubeconfig as kc
    from kbmc.env import secret

    kubeconfig = kc.load(str(bed.kubeconfig_path))
    own = ClientRegistry(kubeconfig)
    try:
        params = secret.PrepareParams("cp", INPUTS[key].split(","), ns, "race", allow_loopback=True, allow_remove=True)
        return secret.prepare(kubeconfig, own, params)
    finally:
        own.close()
