"""The chart values kbmc owns (`multiCluster.*`), and the user's `--set`/`--values` merged like helm merges them.

The contexts list must reach the chart whole: helm and kbcli split `--set` values at commas, and the chart
renders `multiCluster.contexts` verbatim into `--multi-cluster-contexts=...`, so it travels in a values file
as one comma-separated string (a YAML list would render as `[k8s-1 k8s-2]`).
"""

from __future__ import annotations

import copy
from typing import Any

from kbmc.errors import InputError
from kbmc.operator.helmvalues import same

OWNED_PREFIX = "multiCluster."
VALUES_FILE = "kbmc-multicluster-values.yaml"


def multi_cluster_values(secret_name: str, contexts: list[str], disabled: list[str]) -> dict[str, Any]:
    """The values file kbmc passes: strings only, empty string meaning "off" (the chart tests truthiness)."""
    return {"multiCluster": {"kubeConfig": secret_name, "contexts": ",".join(contexts),
                             "contextsDisabled": ",".join(disabled)}}


OWNED_KEY = "multiCluster"
_OWNED_HINT = "use --secret-name, --data-planes and --contexts-disabled, or kbmc.yaml"


def parse_set(value: str, *, as_string: bool = False, flag: str = "--set") -> dict[str, Any]:
    """One `--set`/`--set-string` value, read exactly as helm's strvals reads it (index syntax `a[0].b`, `{a,b}`
    lists, backslash escapes, int64 typing), alone: refused when it addresses multiCluster in any spelling."""
    from kbmc.operator.helmvalues import ValuesError, parse_into

    alone: dict[str, Any] = {}
    try:
        parse_into(value, alone, as_string=as_string)
    except ValuesError as exc:
        raise _set_error(flag, value, exc) from None
    if OWNED_KEY in alone:
        raise InputError(f"{flag} {value!r}: kbmc sets multiCluster.* itself", hint=_OWNED_HINT)
    if not alone:
        raise InputError(f"{flag} {value!r} sets no value (helm would ignore it)", hint="give KEY=VALUE")
    return alone


def _set_error(flag: str, value: str, exc: Exception) -> InputError:
    if "has no value" in str(exc):
        return InputError(f"{flag} {value!r} is not KEY=VALUE ({exc})",
                          hint="escape commas inside a value as \\, or use --values FILE")
    return InputError(f"{flag} {value!r}: {exc}", hint="fix the value (helm would refuse it), or use --values FILE")


def read_values_file(path: str, text: str) -> dict[str, Any]:
    """A `--values` file as helm reads it (go-yaml v2 typing, keys as strings, numbers as float64)."""
    from kbmc.operator.helmvalues import ValuesError
    from kbmc.operator.helmvalues import read_values_file as read

    try:
        doc = read(text)
    except ValuesError as exc:
        raise InputError(f"--values {path}: {exc}") from None
    if OWNED_KEY in doc:
        raise InputError(f"--values {path}: sets multiCluster, which kbmc sets itself", hint=_OWNED_HINT)
    return doc


def user_values(files: list[dict[str, Any]], sets: list[str], set_strings: list[str]) -> dict[str, Any]:
    """helm's MergeValues: the files merged in order, then each --set, then each --set-string, into one map."""
    from kbmc.operator.helmvalues import ValuesError, parse_into

    user: dict[str, Any] = {}
    for doc in files:
        user = merge(user, doc)
    for flag, values, as_string in (("--set", sets, False), ("--set-string", set_strings, True)):
        for value in values:
            parse_set(value, as_string=as_string, flag=flag)
            try:
                parse_into(value, user, as_string=as_string)
            except ValuesError as exc:
                raise _set_error(flag, value, exc) from None
    return user


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Deep merge as helm merges values files: maps merge, everything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# Values kbcli adds on its own (`crd.enabled=false` on upgrade, the conversion webhook from 0.9, the monitor
# switches of older kbcli): not the user's.
KBCLI_OWN = ("crd.enabled", "webhooks.conversionEnabled", "prometheus.enabled", "grafana.enabled")


def restrict(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`old` limited to the keys `new` has (for comparing with a release an installer added its own values to)."""
    out: dict[str, Any] = {}
    for key, value in new.items():
        if key in old:
            out[key] = restrict(old[key], value) if isinstance(old[key], dict) and isinstance(value, dict) else old[key]
    return out


def left_over(old: dict[str, Any], new: dict[str, Any], defaults: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys the release has that `new` does not pass, other than the chart's own defaults (kbcli's upgrade
    writes them into the release) and what kbcli adds itself: user values of an earlier run."""
    found: list[str] = []
    for key in sorted(old, key=str):
        path = f"{prefix}{key}"
        value = old[key]
        default = defaults.get(key, _ABSENT) if isinstance(defaults, dict) else _ABSENT
        if path in KBCLI_OWN:
            continue
        if key not in new:
            if isinstance(value, dict) and isinstance(default, dict):
                found += left_over(value, {}, default, f"{path}.")
            elif default is _ABSENT or not same(value, default):
                found.append(path)
        elif isinstance(value, dict) and isinstance(new[key], dict):
            found += left_over(value, new[key], default if isinstance(default, dict) else {}, f"{path}.")
    return found


_ABSENT = object()


def changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose value differs: kbmc's own values with old and new value
    ("multiCluster.contexts: k8s-1,k8s-2 -> k8s-1,k8s-2,k8s-3"), the user's by key only (they may hold secrets)."""
    found: list[str] = []
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += changes(a, b, f"{path}.")
        elif not same(a, b):
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
