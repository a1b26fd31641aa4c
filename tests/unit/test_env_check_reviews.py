"""How many access reviews `env check` sends: one for an admin, one per verb and resource for anyone else.

A narrow unit test of the request count (the bed tests check the verdicts against the real RBAC authorizer)."""

from __future__ import annotations

from typing import Any

from kbmc.env import check


class Reviews:
    """A client that answers SelfSubjectAccessReviews from a set of allowed (group, resource, verb)."""

    def __init__(self, allowed: set[tuple[str, str, str]]) -> None:
        self.allowed = allowed
        self.asked: list[tuple[str, str, str]] = []

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        attrs = body["spec"]["resourceAttributes"]
        item = (attrs["group"], attrs["resource"], attrs["verb"])
        self.asked.append(item)
        return {"status": {"allowed": item in self.allowed}}


def every(needs: tuple[tuple[str, str, tuple[str, ...]], ...]) -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for group, resource, verbs in needs for verb in verbs}


def test_an_admin_is_checked_with_one_review() -> None:
    client = Reviews({("*", "*", "*")})
    assert check.missing_permissions(client, list(check.DATA_PLANE_NEEDS)) == []  # type: ignore[arg-type]
    assert client.asked == [("*", "*", "*")]


def test_anyone_else_gets_one_review_per_verb_and_resource() -> None:
    granted = every(check.DATA_PLANE_NEEDS) - {("", "secrets", "delete")}
    client = Reviews(granted)
    assert check.missing_permissions(client, list(check.DATA_PLANE_NEEDS)) == ["delete secrets"]  # type: ignore[arg-type]
    assert client.asked[0] == ("*", "*", "*")
    assert sorted(client.asked[1:]) == sorted(every(check.DATA_PLANE_NEEDS))


def test_nothing_needed_asks_nothing() -> None:
    client = Reviews(set())
    assert check.missing_permissions(client, []) == []  # type: ignore[arg-type]
    assert client.asked == []
