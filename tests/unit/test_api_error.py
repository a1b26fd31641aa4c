"""ApiError.summary: a result row's reason, as the server put it."""

from __future__ import annotations

import pytest

from kbmc.clients import ApiError


@pytest.mark.parametrize("status,reason,message,expected", [
    (404, "Not Found", 'clusterroles.rbac.authorization.k8s.io "x" not found',
     'not found (404): clusterroles.rbac.authorization.k8s.io "x" not found'),
    (409, "Conflict", 'clusterroles.rbac.authorization.k8s.io "x" already exists',
     'conflict (409): clusterroles.rbac.authorization.k8s.io "x" already exists'),
    (422, "Unprocessable Entity", 'ClusterRole.rbac.authorization.k8s.io "x" is invalid: rules[0].verbs: Required value',
     'unprocessable entity (422): ClusterRole.rbac.authorization.k8s.io "x" is invalid: rules[0].verbs: Required value'),
    (500, "", "etcdserver: request timed out", "internal server error (500): etcdserver: request timed out"),
    (503, "Service Unavailable", None, "service unavailable (503)"),
])
def test_summary_is_the_servers_message_once_without_context_or_url(status: int, reason: str,
                                                                     message: str | None, expected: str) -> None:
    body = {"message": message} if message else {}
    exc = ApiError("k8s-1", "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", status, reason, body)
    assert exc.summary == expected
    # The exception's own text (for errors that are not rows) still names the context and the request.
    assert str(exc).startswith("k8s-1: POST /apis/rbac.authorization.k8s.io/v1/clusterroles: ")
