"""Global options and the inputs they resolve to, shared by every command.

Precedence for each input: flag, then `kbmc.yaml`, then the kubeconfig.
Everything is resolved lazily, so an offline command never reads a kubeconfig.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kbmc import defaults
from kbmc.errors import InputError
from kbmc.output import Output

if TYPE_CHECKING:  # imported when first used: offline commands must start fast
    from kbmc import kubeconfig as kc
    from kbmc import topology as topo
    from kbmc.clients import ClientRegistry


@dataclass
class Globals:
    kubeconfig_path: str | None = None
    context: str | None = None
    data_planes: list[str] | None = None
    config_path: str | None = None
    output: str = "table"
    request_timeout: float | None = None
    debug: bool = False
    no_color: bool = False
    out: Output = field(default_factory=Output)
    _topology: topo.Topology | None = None
    _topology_loaded: bool = False
    _kubeconfig: kc.KubeConfig | None = None
    _registry: ClientRegistry | None = None

    def topology(self) -> topo.Topology | None:
        if not self._topology_loaded:
            self._topology_loaded = True
            if self.config_path is None and not os.path.exists(defaults.TOPOLOGY_FILE):
                return None  # no file: skip even importing the parser (offline start-up matters)
            from kbmc import topology as topo

            self._topology = topo.find(self.config_path)
            if self._topology:
                for note in self._topology.notes:
                    self.out.info(f"note: {note}")
        return self._topology

    def kubeconfig(self) -> kc.KubeConfig:
        if self._kubeconfig is None:
            from kbmc import kubeconfig as kc

            self._kubeconfig = kc.load(self.kubeconfig_path)
        return self._kubeconfig

    def has_kubeconfig(self) -> bool:
        """Whether any kubeconfig file kubectl would read exists (reading none is fine offline)."""
        from kbmc.kubeconfig import default_paths

        return any(os.path.exists(p) for p in default_paths(self.kubeconfig_path))

    def require_contexts(self, names: list[str]) -> None:
        """Unknown contexts are bad input: found here, before any cluster is called."""
        kube = self.kubeconfig()
        for name in names:
            kube.context(name)

    def control_plane(self) -> str:
        from kbmc.validation import context_name

        if self.context is not None:
            if err := context_name(self.context):
                raise InputError(f"--context: {err}")
            return self.context
        t = self.topology()
        if t:
            return t.control_plane.context
        current = self.kubeconfig().current_context
        if not current:
            raise InputError("no control-plane context", hint="pass --context, set it in kbmc.yaml, or set a current-context")
        if err := context_name(current):
            raise InputError(f"current-context: {err}", hint="pass --context or set it in kbmc.yaml")
        return current

    def data_plane_contexts(self) -> list[str]:
        """Every data plane, disabled ones included: the operator's contexts must list them all."""
        if self.data_planes:
            return list(self.data_planes)
        t = self.topology()
        if t:
            return t.data_plane_contexts
        raise InputError("no data planes given", hint="pass --data-planes k8s-1,k8s-2 or list them in kbmc.yaml")

    def registry(self) -> ClientRegistry:
        if self._registry is None:
            from kbmc.clients import ClientRegistry
            from kbmc.validation import DURATION_MAX

            # 0 means no timeout, as with kubectl: the longest one kbmc allows.
            timeout = DURATION_MAX if self.request_timeout == 0 else self.request_timeout
            self._registry = ClientRegistry(self.kubeconfig(), request_timeout=timeout)
        return self._registry

    @property
    def secret_name(self) -> str:
        t = self.topology()
        return t.control_plane.kubeconfig_secret if t else defaults.KUBECONFIG_SECRET

    @property
    def namespace(self) -> str:
        t = self.topology()
        return t.control_plane.namespace if t else defaults.NAMESPACE


def state_of(ctx: Any) -> Globals:
    """The Globals the root callback stored on the click context."""
    state = ctx.find_root().obj
    assert isinstance(state, Globals), "root callback did not run"
    return state


def parse_duration(value: str, flag: str) -> float:
    """--request-timeout as kubectl reads it: a Go duration or seconds, `0` for no timeout (see validation)."""
    return parse_timeout(value, flag, zero="no timeout")


def parse_timeout(value: str, flag: str = "--timeout", *, zero: str | None = None) -> float:
    """Every --timeout: a Go duration (`500ms`, `2m`, `1h1m`) or seconds, between 1ms and a year."""
    from kbmc import validation

    try:
        return validation.parse_duration(value, flag, zero=zero)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def split_contexts(value: str | None, flag: str) -> list[str] | None:
    if value is None:
        return None
    names = [p.strip() for p in value.split(",")]
    if not all(names):
        raise InputError(f"{flag} {value!r} has an empty entry", hint="separate context names with single commas")
    from kbmc.validation import context_name

    for name in names:
        if err := context_name(name):
            raise InputError(f"{flag}: {err}")
    if len(set(names)) != len(names):
        raise InputError(f"{flag} {value!r} lists a context twice")
    return names
