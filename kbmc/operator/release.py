"""The installed release as helm records it in the control plane (Secrets `sh.helm.release.v1.<name>.v<N>`).

Read through the API rather than the helm binary, so the same answer serves both installers (kbcli
installs with helm's library), a dry run, and `operator status`: revision, chart, and the user-supplied
values (what `helm get values` prints).
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass, field
from typing import Any

from kbmc.clients import KubeClient, resource_path


@dataclass
class Release:
    name: str
    revision: int
    status: str
    chart: str  # name
    chart_version: str
    app_version: str
    config: dict[str, Any]  # user-supplied values
    chart_values: dict[str, Any] = field(default_factory=dict)  # the chart's own defaults (values.yaml)


def current(client: KubeClient, namespace: str, name: str, *, deployed: bool = False) -> Release | None:
    """The release's latest revision (with `deployed`, the latest deployed one), or None when there is none."""
    doc = record(client, namespace, name, deployed=deployed)
    if doc is None:
        return None
    meta = (doc.get("chart") or {}).get("metadata") or {}
    return Release(name=name, revision=int(doc.get("version", 0)), status=(doc.get("info") or {}).get("status", ""),
                   chart=meta.get("name", ""), chart_version=meta.get("version", ""),
                   app_version=meta.get("appVersion", ""), config=doc.get("config") or {},
                   chart_values=(doc.get("chart") or {}).get("values") or {})


def record(client: KubeClient, namespace: str, name: str, *, deployed: bool = False) -> dict[str, Any] | None:
    """The latest revision's whole record (values, manifest, and the chart itself), or None."""
    selector = f"owner=helm,name={name}" + (",status=deployed" if deployed else "")
    items = client.get(resource_path("v1", "secrets", namespace), labelSelector=selector)["items"]
    if not items:
        return None
    latest = max(items, key=lambda s: int((s["metadata"].get("labels") or {}).get("version", "0")))
    return decode(latest["data"]["release"])


def decode(data: str) -> dict[str, Any]:
    """helm's storage: base64 (the Secret) of base64 of gzipped JSON."""
    raw = base64.b64decode(base64.b64decode(data))
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    doc = json.loads(raw)
    return doc if isinstance(doc, dict) else {}
