"""What every network command shares: the plan (external calls and objects, per cluster, in order),
and the checks that run on the whole plan before anything does."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

from kbmc.clients import ClientRegistry
from kbmc.errors import InputError, OperationError
from kbmc.fanout import fan_out
from kbmc.runner import command_line

INSTALL_HINTS = {
    "cilium": "install cilium-cli: https://docs.cilium.io/en/stable/gettingstarted/k8s-install-default/"
              "#install-the-cilium-cli",
    "helm": "install helm 3: https://helm.sh/docs/intro/install/",
}


@dataclass
class Action:
    """One thing the plan will do: an external command, or an object applied through the API."""

    step: str
    context: str
    tool: str | None = None
    args: list[str] = field(default_factory=list)
    obj: dict[str, Any] | None = None
    round: int | None = None
    note: str | None = None

    def argv(self, kubeconfig: str | None = None) -> list[str]:
        assert self.tool is not None
        return command_line(self.tool, self.args, context=self.context, kubeconfig=kubeconfig)

    def as_dict(self, kubeconfig: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step, "context": self.context}
        if self.round is not None:
            out["round"] = self.round
        if self.tool:
            out["argv"] = self.argv(kubeconfig)
        if self.obj is not None:
            meta = self.obj.get("metadata", {})
            out["apply"] = {"apiVersion": self.obj.get("apiVersion"), "kind": self.obj.get("kind"),
                            "namespace": meta.get("namespace"), "name": meta.get("name"), "object": self.obj}
        if self.note:
            out["note"] = self.note
        return out


def planes_from(topology: Any, contexts: list[str], *, command: str, needs: str, missing: str, hint: str,
                has_values: Any) -> list[Any]:
    """Each named data plane's kbmc.yaml entry, refusing planes missing from it or lacking the values `command` needs."""
    if topology is None:
        raise InputError(f"{command} needs kbmc.yaml for {needs}", hint="create one with `kbmc init`, or pass -f FILE")
    by_context = {d.context: d for d in topology.data_planes}
    found: list[Any] = []
    lacking: list[Any] = []
    for ctx in contexts:
        d = by_context.get(ctx)
        if d is None:
            raise InputError(f"data plane {ctx!r} is not in {topology.source}", hint="add it under dataPlanes")
        (found if has_values(d) else lacking).append(d)
    if lacking:
        raise InputError(f"{topology.source}: no {missing} for {', '.join(d.context for d in lacking)}", hint=hint)
    return found


def require_tool(tool: str) -> None:
    """Found before anything runs: a missing CLI is bad input, with how to install it."""
    if shutil.which(tool) is None:
        raise InputError(f"{tool} is not installed or not on PATH", hint=INSTALL_HINTS.get(tool, f"install {tool}"))


def require_reachable(registry: ClientRegistry, contexts: list[str]) -> None:
    """Every data plane answers before any is changed; names every one that does not."""
    results = fan_out(contexts, lambda ctx: registry.for_context(ctx).version())
    failed = [r for r in results if not r.ok]
    if failed:
        reasons = "; ".join(r.labelled for r in failed)
        raise OperationError(f"not every data plane is reachable, nothing was run: {reasons}")
