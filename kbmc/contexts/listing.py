"""`contexts list`: one row per data plane, read live and compared with kbmc.yaml."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from kbmc.clients import ClientRegistry, KubeClient, resource_path
from kbmc.contexts import live as lv
from kbmc.fanout import fan_out
from kbmc.operator import status as st

KB_SELECTOR = "app.kubernetes.io/managed-by=kubeblocks"
INSTANCE_LABEL = "app.kubernetes.io/instance"


@dataclass
class Configured:
    """What the user configured: kbmc.yaml, or only --data-planes (None when neither is given)."""

    contexts: list[str]
    disabled: list[str]
    cilium_ids: dict[str, int]
    source: str = "kbmc.yaml"  # or "--data-planes", which lists contexts and says nothing about enabled/disabled

    @property
    def says_enabled(self) -> bool:
        return self.source == "kbmc.yaml"


def placed_objects(client: KubeClient) -> dict[str, Any]:
    """KubeBlocks pods and PVCs in one data plane: counts, and by Cluster (the instance label)."""
    out: dict[str, Any] = {}
    for kind in ("pods", "persistentvolumeclaims"):
        items = client.get(resource_path("v1", kind), labelSelector=KB_SELECTOR)["items"]
        by = Counter(f"{i['metadata'].get('namespace')}/{(i['metadata'].get('labels') or {}).get(INSTANCE_LABEL, '?')}"
                     for i in items)
        out[kind] = {"count": len(items), "byCluster": dict(sorted(by.items()))}
    return out


def probe(client: KubeClient) -> dict[str, Any]:
    start = time.monotonic()
    version = client.version()
    latency = round((time.monotonic() - start) * 1000)
    return {"version": version.get("gitVersion"), "latencyMs": latency, **placed_objects(client)}


def list_contexts(registry: ClientRegistry, control_plane: str, namespace: str, release: str, secret_name: str,
                  configured: Configured | None) -> dict[str, Any]:
    cp = registry.for_context(control_plane)
    manager = st.manager_deployment(cp, namespace, release)
    contexts: list[str] = []
    disabled: list[str] = []
    secret = secret_name
    if manager is not None:
        state = lv.read(cp, namespace, release)
        contexts, disabled = state.contexts, state.disabled
        args = st.manager_container(manager).get("args") or []
        secret = st.mounted_secret(manager, st.flag_value(args, st.FLAG_KUBECONFIG)) or secret_name
    from kbmc.operator.preflight import secret_contexts

    try:
        in_secret = secret_contexts(cp, namespace, secret)
    except Exception:  # noqa: BLE001 - an unreadable Secret lists no contexts
        in_secret = []
    names = list(dict.fromkeys([*contexts, *disabled, *(configured.contexts if configured else []),
                                *(in_secret or [])]))
    kube = registry.kubeconfig
    reachable = [n for n in names if n in kube.contexts]
    results = {r.context: r for r in fan_out(reachable, lambda n: probe(registry.for_context(n)))}
    rows = []
    for name in names:
        r = results.get(name)
        differences: list[dict[str, str]] = []
        row: dict[str, Any] = {
            "context": name, "inOperator": name in contexts, "disabled": name in disabled,
            "inSecret": name in (in_secret or []), "reachable": bool(r and r.ok),
            "version": r.value["version"] if r and r.ok and r.value else None,
            "latencyMs": r.value["latencyMs"] if r and r.ok and r.value else None,
            "pods": r.value["pods"] if r and r.ok and r.value else None,
            "pvcs": r.value["persistentvolumeclaims"] if r and r.ok and r.value else None,
            "error": (r.error if r else "no such context in the kubeconfig") if not (r and r.ok) else None,
            "ciliumClusterID": configured.cilium_ids.get(name) if configured else None,
        }
        if manager is not None and not row["inSecret"] and row["inOperator"]:
            differences.append({"problem": f"in the operator's contexts but not in Secret {secret}",
                                "fix": "kbmc env prepare"})
        if row["disabled"] and not row["inOperator"]:
            differences.append({"problem": "disabled but not in the operator's contexts (a stray "
                                           "--multi-cluster-contexts-disabled entry)",
                                "fix": f"kbmc contexts enable {name}"})
        if configured is not None:
            src = configured.source
            in_config = name in configured.contexts
            if in_config and manager is not None and not row["inOperator"]:
                differences.append({"problem": f"in {src} but not in the operator's contexts",
                                    "fix": f"kbmc contexts add {name}"})
            if not in_config and row["inOperator"]:
                differences.append({"problem": f"in the operator's contexts but not in {src}",
                                    "fix": f"add it to {src}, or kbmc contexts remove {name}"})
            if configured.says_enabled and in_config and row["inOperator"] and \
                    (name in configured.disabled) != row["disabled"]:
                verb = "disable" if name in configured.disabled else "enable"
                differences.append({"problem": f"{src} says {'disabled' if verb == 'disable' else 'enabled'}, "
                                               f"the operator has it {'enabled' if verb == 'disable' else 'disabled'}",
                                    "fix": f"kbmc contexts {verb} {name}"})
        row["differences"] = differences
        rows.append(row)
    return {"controlPlane": control_plane, "namespace": namespace, "release": release,
            "installed": manager is not None, "secret": secret,
            "configuredBy": configured.source if configured else None, "contexts": rows}
