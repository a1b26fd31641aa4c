"""The mesh step of `contexts add/remove`, behind a small seam.

With `network.eastWest: cilium` in kbmc.yaml a new data plane must join the Cilium cluster mesh and a removed one
leave it. Installing Cilium itself (cluster name, id, pod CIDR) is `kbmc network cilium`'s job; this seam only
enables the mesh on the new cluster and connects it to (or disconnects it from) every member, through the
runner, so tests run it against the cilium stand-in.
"""

from __future__ import annotations

from typing import Protocol

from kbmc.runner import Runner


class Mesh(Protocol):
    def join(self, context: str, members: list[str]) -> list[str]: ...

    def leave(self, context: str, members: list[str]) -> list[str]: ...


class CiliumMesh:
    def __init__(self, runner: Runner, kubeconfig: str | None = None) -> None:
        self.runner = runner
        self.kubeconfig = kubeconfig

    def _run(self, args: list[str], context: str) -> str:
        done = self.runner.run("cilium", args, context=context, kubeconfig=self.kubeconfig, timeout=600)
        return " ".join(done.argv)

    def join(self, context: str, members: list[str]) -> list[str]:
        ran = [self._run(["clustermesh", "enable", "--service-type", "LoadBalancer"], context)]
        for member in members:
            ran.append(self._run(["clustermesh", "connect", "--destination-context", member], context))
        return ran

    def leave(self, context: str, members: list[str]) -> list[str]:
        return [self._run(["clustermesh", "disconnect", "--destination-context", member], context)
                for member in members]
