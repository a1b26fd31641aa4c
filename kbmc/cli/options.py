"""The options several command groups share, defined once (same flag, same help everywhere), and their checks.

Each value is checked here, before any cluster is called: bad input is one line and exit 2 (InputError), never
a request the API server refuses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kbmc.errors import InputError

if TYPE_CHECKING:
    from kbmc.cli.state import Globals

KbNamespaceOpt = Annotated[Optional[str], typer.Option(
    "--namespace", "-n", show_default=False, help="KubeBlocks namespace (default: kbmc.yaml's, else kb-system).")]
ReleaseOpt = Annotated[Optional[str], typer.Option(
    "--release", show_default=False, help="Release name (default: kbmc.yaml's, else kubeblocks).")]
ClusterNamespaceOpt = Annotated[str, typer.Option("--namespace", "-n", help="Namespace of the Cluster.")]
ClusterNamespaceFilterOpt = Annotated[Optional[str], typer.Option(
    "--namespace", "-n", show_default=False, help="Only the Clusters of this namespace (default: all).")]


def checked_namespace(value: str, flag: str = "--namespace") -> str:
    """A namespace name (a DNS-1123 label), else InputError."""
    from kbmc.validation import dns1123_label

    if err := dns1123_label(value):
        raise InputError(f"{flag}: {err}")
    return value


def checked_release(value: str, flag: str = "--release") -> str:
    """A helm release name, else InputError."""
    from kbmc.validation import helm_release

    if err := helm_release(value):
        raise InputError(f"{flag}: {err}", hint="a lowercase DNS label of at most 53 characters, like kubeblocks")
    return value


def kb_namespace(state: Globals, flag: Optional[str]) -> str:
    """--namespace, else kbmc.yaml's, else the default; an empty --namespace is bad input, not the default."""
    return checked_namespace(flag if flag is not None else state.namespace)


def release(state: Globals, flag: Optional[str]) -> str:
    """--release, else kbmc.yaml's, else the default; an empty --release is bad input, not the default."""
    from kbmc import defaults

    if flag is not None:
        return checked_release(flag)
    t = state.topology()
    return checked_release((t.control_plane.release if t else None) or defaults.RELEASE)
