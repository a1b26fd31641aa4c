"""The bed itself: it never dials beyond loopback, and `down` stops what is left of a broken bed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from kbmc.clients import ApiError, ClientRegistry, resource_path
from tests.testbed.__main__ import main as bed_main
from tests.testbed.bed import TestBed, _alive


def test_webhook_behind_a_service_fails_locally_without_dialling_its_cluster_ip(
        registry: ClientRegistry, make_namespace, unique_name) -> None:
    """With --enable-aggregator-routing the apiserver resolves a webhook Service through its EndpointSlices.

    Without it, the apiserver would dial the Service's ClusterIP (10.x on the bed). The refusal must
    name the missing endpoints, which proves the apiserver never tried an address.
    """
    client = registry.for_context("k8s-1")
    ns = make_namespace("k8s-1")
    name = unique_name("hook")
    svc = client.create(resource_path("v1", "services", ns), {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"ports": [{"port": 443, "targetPort": 9443}]}})
    assert svc["spec"]["clusterIP"].startswith("10."), "the bed's service CIDRs are private: the point of this test"
    hooks = resource_path("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations")
    client.create(hooks, {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": f"{name}.kbmc.test", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": "Fail", "timeoutSeconds": 5,
            "clientConfig": {"service": {"namespace": ns, "name": name, "path": "/validate"}},
            # Only objects carrying this test's label: other tests on the bed are not affected.
            "objectSelector": {"matchLabels": {"kbmc-test/webhook": name}},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["configmaps"]}],
        }]})
    try:
        # The apiserver picks a new webhook configuration up from its informer, a moment after the create: until
        # then a ConfigMap is admitted without it. Try until the webhook is in force (it then always refuses).
        refusal: ApiError | None = None
        deadline = time.monotonic() + 30
        attempt = 0
        while refusal is None and time.monotonic() < deadline:
            attempt += 1
            cm = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": f"{name}-{attempt}", "labels": {"kbmc-test/webhook": name}}}
            try:
                client.create(resource_path("v1", "configmaps", ns), cm)
            except ApiError as exc:
                refusal = exc
            else:
                time.sleep(0.2)
        assert refusal is not None, "the webhook never came into force"
        message = str(refusal)
        assert "no endpoints available" in message, message
        assert svc["spec"]["clusterIP"] not in message
    finally:
        client.delete(resource_path("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations",
                                    name=name))


def test_down_stops_what_is_left_after_an_apiserver_was_killed(tmp_path: Path, bed: TestBed, capsys) -> None:
    """A second, small bed (one data plane): kill one apiserver, then `down` must stop every other process."""
    root = tmp_path / "bed"
    small = TestBed.start(root, data_planes=1)
    try:
        killed = small.state.clusters["k8s-1"].apiserver_pid
        assert killed
        os.kill(killed, signal.SIGKILL)  # from outside: the recorded state still names it
        _wait_gone(killed)
        assert TestBed.attach(root) is None  # no longer usable as a whole
        survivors = [pid for pid in small.pids() if pid and pid != killed]
        assert survivors and all(_alive(pid) for pid in survivors)
        assert bed_main(["--dir", str(root), "down"]) == 0
        assert "test bed stopped" in capsys.readouterr().err
        assert not any(_alive(pid) for pid in survivors)
        assert bed_main(["--dir", str(root), "down"]) == 0
        assert "no test bed running" in capsys.readouterr().err
    finally:
        small.stop()


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)  # reap it when this process started it
        except ChildProcessError:
            pass
        time.sleep(0.05)
    assert not _alive(pid)
