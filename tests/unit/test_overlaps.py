"""The sort-and-sweep overlap check against the obvious all-pairs one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kbmc import validation as v

intervals = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 20)).map(lambda t: (t[0], t[0] + t[1])), max_size=25)


@settings(derandomize=True, database=None, max_examples=300)
@given(intervals)
def test_sweep_flags_every_overlapping_interval_and_only_real_pairs(items: list[tuple[int, int]]) -> None:
    pairs = v.overlapping(items)
    for a, b in pairs:
        assert a < b
        assert items[a][0] <= items[b][1] and items[b][0] <= items[a][1], (a, b)
    flagged = {i for pair in pairs for i in pair}
    expected = {i for i in range(len(items)) for j in range(len(items))
                if i != j and items[i][0] <= items[j][1] and items[j][0] <= items[i][1]}
    assert flagged == expected


def test_ipv4_and_ipv4_mapped_ipv6_share_one_space() -> None:
    assert v.cidr_interval("10.1.0.0/16") == v.cidr_interval("::ffff:10.1.0.0/112")
    found, _ = v.parse_address_range("10.1.2.3-10.1.2.9")
    assert v.overlapping([v.cidr_interval("::ffff:10.1.0.0/112"), found]) == [(0, 1)]  # type: ignore[list-item]
    assert v.overlapping([v.cidr_interval("10.1.0.0/16"), v.cidr_interval("fd00::/8")]) == []  # type: ignore[list-item]
