"""The chart values kbmc owns (`multiCluster.*`), and the user's `--set`/`--values` merged like helm merges them.

The contexts list must reach the chart whole: helm and kbcli split `--set` values at commas, and the chart
renders `multiCluster.contexts` verbatim into `--multi-cluster-contexts=...`, so it travels in a values file
as one comma-separated string (a YAML list would render as `[k8s-1 k8s-2]`).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kbmc.errors import InputError

OWNED_PREFIX = "multiCluster."
VALUES_FILE = "kbmc-multicluster-values.yaml"


def multi_cluster_values(secret_name: str, contexts: list[str], disabled: list[str]) -> dict[str, Any]:
    """The values file kbmc passes: strings only, empty string meaning "off" (the chart tests truthiness)."""
    return {"multiCluster": {"kubeConfig": secret_name, "contexts": ",".join(contexts),
                             "contextsDisabled": ",".join(disabled)}}


_UNESCAPED_COMMA = re.compile(r"(?<!\\),")
_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")


def parse_set(value: str, *, as_string: bool = False, flag: str = "--set") -> list[tuple[list[str], Any]]:
    """One `--set` value as helm's strvals reads it: pairs split at unescaped commas, keys at dots."""
    pairs: list[tuple[list[str], Any]] = []
    for item in _UNESCAPED_COMMA.split(value):
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise InputError(f"{flag} {value!r}: {item!r} is not KEY=VALUE",
                             hint="escape commas inside a value as \\, or use --values FILE")
        if key.startswith(OWNED_PREFIX) or key == "multiCluster":
            raise InputError(f"{flag} {key}=...: kbmc sets multiCluster.* itself",
                             hint="use --secret-name, --data-planes and --contexts-disabled, or kbmc.yaml")
        parts = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", key)]
        text = raw.replace("\\,", ",")
        pairs.append((parts, text if as_string else _typed(text)))
    return pairs


def _typed(text: str) -> Any:
    """helm's type inference for --set: true/false, null, integers; everything else a string."""
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if _INT.match(text):
        return int(text)
    return text


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Deep merge as helm merges values files: maps merge, everything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_sets(values: dict[str, Any], pairs: list[tuple[list[str], Any]]) -> dict[str, Any]:
    out = copy.deepcopy(values)
    for path, value in pairs:
        node = out
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = value
    return out


def restrict(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`old` limited to the keys `new` has (for comparing with a release an installer added its own values to)."""
    out: dict[str, Any] = {}
    for key, value in new.items():
        if key in old:
            out[key] = restrict(old[key], value) if isinstance(old[key], dict) and isinstance(value, dict) else old[key]
    return out


def changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose value differs: kbmc's own values with old and new value
    ("multiCluster.contexts: k8s-1,k8s-2 -> k8s-1,k8s-2,k8s-3"), the user's by key only (they may hold secrets)."""
    found: list[str] = []
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += changes(a, b, f"{path}.")
        elif a != b:
            shown = f": {_show(a)} -> {_show(b)}" if path.startswith(OWNED_PREFIX) else " changed"
            found.append(f"{path}{shown}")
    return found


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    if value == "":
        return "(empty)"
    if isinstance(value, dict):
        return "{...}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
