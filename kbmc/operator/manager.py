"""The KubeBlocks manager Deployment, found the way the chart labels it (one finder for every command).

The chart names the Deployment `kubeblocks.fullname` (the release name, or `<release>-kubeblocks` when the
release name does not contain the chart's name), so the name alone finds nothing after
`--release kb`. Its labels are stable: `app.kubernetes.io/name` (the chart's name),
`app.kubernetes.io/instance` (the release) and `app.kubernetes.io/component: apps` (the data-protection
Deployment of the same chart says `dataprotection`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kbmc.clients import KubeClient, resource_path

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
CHART_NAME = "kubeblocks"
COMPONENT = "apps"
CONTAINER = "manager"
FLAG_KUBECONFIG = "--multi-cluster-kubeconfig"
FLAG_CONTEXTS = "--multi-cluster-contexts"
FLAG_DISABLED = "--multi-cluster-contexts-disabled"


def selector(release: str | None = None) -> str:
    """The manager of one release, or (None) of any release of the KubeBlocks chart."""
    who = f"{INSTANCE_LABEL}={release}" if release else f"{NAME_LABEL}={CHART_NAME}"
    return f"{who},{COMPONENT_LABEL}={COMPONENT}"


def fullname(release: str, chart: str = CHART_NAME) -> str:
    """The chart's `kubeblocks.fullname` rule (without fullnameOverride)."""
    name = release if chart in release else f"{release}-{chart}"
    return name[:63].rstrip("-")


def deployments(client: KubeClient, namespace: str, release: str | None = None) -> list[dict[str, Any]]:
    """Every manager Deployment in the namespace (of `release`, or of any release), the chart's default name first."""
    items: list[dict[str, Any]] = client.get(resource_path("apps/v1", "deployments", namespace),
                                             labelSelector=selector(release))["items"]
    preferred = fullname(release or CHART_NAME)
    return sorted(items, key=lambda d: (d["metadata"]["name"] != preferred, d["metadata"]["name"]))


def deployment(client: KubeClient, namespace: str, release: str | None = None) -> dict[str, Any] | None:
    found = deployments(client, namespace, release)
    return found[0] if found else None


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"].get("containers") or [{}]
    return next((c for c in containers if c.get("name") == CONTAINER), containers[0])


def flag_value(args: list[str], flag: str) -> str | None:
    """The value the manager runs with, read as Go's flag package reads it: `--flag=value`, `--flag value`,
    `-flag=value` or `-flag value`, the LAST occurrence winning; parsing stops at `--`. None when absent."""
    found: str | None = None
    name = flag.lstrip("-")
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            break
        bare = arg[2:] if arg.startswith("--") else arg[1:] if arg.startswith("-") else None
        if bare is not None and bare.startswith(name + "="):
            found = bare[len(name) + 1:]
        elif bare == name and i + 1 < len(args):
            found = args[i + 1]
            i += 1
        i += 1
    return found


def flag_count(args: list[str], flag: str) -> int:
    """How many times `flag` is given (Go's flag package keeps the last)."""
    name = flag.lstrip("-")
    return sum(1 for a in args if a.startswith("-") and a != "--"
               and (a.lstrip("-") == name or a.lstrip("-").startswith(name + "=")))


def split(value: str | None) -> list[str]:
    return [p for p in (value or "").split(",") if p]


@dataclass
class Live:
    """What one running manager was started with."""

    name: str  # the Deployment's
    contexts: list[str]
    disabled: list[str]


def live(deployment: dict[str, Any]) -> Live:
    c = container(deployment)
    args = list(c.get("command") or []) + list(c.get("args") or [])
    return Live(deployment["metadata"]["name"], split(flag_value(args, FLAG_CONTEXTS)),
                split(flag_value(args, FLAG_DISABLED)))
