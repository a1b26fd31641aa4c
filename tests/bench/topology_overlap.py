"""Topology validation benchmark: how long `kbmc validate` spends parsing a large kbmc.yaml.

Every command that reads kbmc.yaml pays for this. The file has N data planes, each with a
pod CIDR and a MetalLB first-last range, all disjoint (the worst case: nothing short-cuts).
Prints the median of several parses for 511 IPv4 planes and for 20 IPv6 planes with wide
ranges. Target: well under a second for 511 planes.

    python tests/bench/topology_overlap.py [--runs 5] [--planes 511]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from typing import Any

from kbmc import topology


def ipv4_planes(n: int) -> dict[str, Any]:
    return {"apiVersion": topology.API_VERSION, "kind": topology.KIND, "controlPlane": {"context": "cp"},
            "network": {"eastWest": "cilium", "northSouth": "metallb", "cilium": {"maxConnectedClusters": 511}},
            "dataPlanes": [{"context": f"k{i}", "cilium": {"clusterName": f"k{i}", "clusterID": i + 1,
                                                            "podCIDR": f"10.{i // 256}.{i % 256}.0/24"},
                            "metallb": {"addresses": [f"10.{2 + i // 256}.{i % 256}.1-10.{2 + i // 256}.{i % 256}.254"]}}
                           for i in range(n)]}


def ipv6_planes(n: int) -> dict[str, Any]:
    return {"apiVersion": topology.API_VERSION, "kind": topology.KIND, "controlPlane": {"context": "cp"},
            "network": {"eastWest": "cilium", "northSouth": "metallb"},
            "dataPlanes": [{"context": f"k{i}", "cilium": {"clusterName": f"k{i}", "clusterID": i + 1,
                                                            "podCIDR": f"fd00:{i:x}::/64"},
                            "metallb": {"addresses": [f"fd01:{i:x}::1-fd01:{i:x}::ffff:fffe"]}}
                           for i in range(n)]}


def median_parse(doc: dict[str, Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        fresh = copy.deepcopy(doc)
        start = time.perf_counter()
        topology.parse(fresh)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--planes", type=int, default=511)
    args = parser.parse_args()
    print(f"{args.planes} IPv4 planes: {median_parse(ipv4_planes(args.planes), args.runs) * 1000:.1f} ms")
    print(f"20 IPv6 planes (first-last ranges): {median_parse(ipv6_planes(20), args.runs) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
