"""Pair scheduling for a full mesh: rounds of disjoint pairs (the circle method).

N clusters need N(N-1)/2 connections. Run serially that is quadratic; grouped into
rounds in which no cluster appears twice, each round can run concurrently: N-1
rounds for even N, N rounds for odd N (one cluster sits out each round).
"""

from __future__ import annotations

Pair = tuple[str, str]


def rounds(names: list[str]) -> list[list[Pair]]:
    """Every unordered pair of `names` exactly once, in rounds of disjoint pairs."""
    players: list[str | None] = list(dict.fromkeys(names))
    if len(players) < 2:
        return []
    if len(players) % 2:
        players.append(None)  # a bye: whoever meets it sits the round out
    n = len(players)
    schedule: list[list[Pair]] = []
    for _ in range(n - 1):
        round_: list[Pair] = []
        for i in range(n // 2):
            a, b = players[i], players[n - 1 - i]
            if a is not None and b is not None:
                round_.append(_ordered(a, b, names))
        schedule.append(round_)
        # Keep the first fixed, rotate the rest by one.
        players = [players[0], players[-1], *players[1:-1]]
    return schedule


def all_pairs(names: list[str]) -> list[Pair]:
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def _ordered(a: str, b: str, names: list[str]) -> Pair:
    """A pair in the order the names were given: the earlier cluster is the source."""
    return (a, b) if names.index(a) < names.index(b) else (b, a)
