"""Mesh scheduling benchmark: `kbmc network cilium --step connect` for N = 3, 6, 10 data planes.

Full mesh needs N(N-1)/2 connections; one after another that is N(N-1)/2 x the time of one connection (the
serial pairwise bound). kbmc runs them in rounds of disjoint pairs (an old cilium-cli: one destination per call),
or as one `--connection-mode mesh` call with `--parallel` (cilium-cli v0.16.19 and later). This measures both.

kbmc reads every data plane before it connects anything (GET /version, kube-system/cilium-config, the
clustermesh-apiserver Service, `cilium clustermesh status -o json`), so the planes are real: the test bed with
10 data planes. The cilium stand-in (tests/standins) acts on them (KBMC_STANDIN_CLUSTERS=1) and sleeps a fixed
time per connection (KBMC_STANDIN_CONNECT_SECONDS; `--parallel` at a time). Cilium is installed and the mesh
enabled once; before every timed run each plane's peers are cleared, so every run connects every pair.

Reported per N and cilium-cli: the rounds (sequential batches of connect calls) kbmc planned, the median wall
time, its ratio to the serial bound, and its ratio to rounds x one connection (the schedule's own floor);
kbmc's peak RSS (that of the largest process in its tree, stand-ins included). Medians of alternated runs.

    python tests/bench/mesh.py [--runs 7] [--planes 3,6,10] [--connect-seconds 2] [-o table|json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kbmc import kubeconfig as kc  # noqa: E402
from kbmc.clients import ClientRegistry, resource_path  # noqa: E402
from tests.bed.network_helpers import write_topology  # noqa: E402
from tests.bench.benchargs import installed_kbmc, plane_counts, stop_on_sigterm, timed  # noqa: E402
from tests.bench.benchargs import runs as runs_arg  # noqa: E402
from tests.bench.benchargs import seconds as seconds_arg  # noqa: E402
from tests.standins import write_launchers  # noqa: E402
from tests.testbed.bed import TestBed  # noqa: E402

CLIS = {"old": "v0.16.18", "new": "v0.18.3"}  # rounds of single-destination calls / one mesh call with --parallel


def captured(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"exit {proc.returncode}: {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return proc.stdout


def clear_peers(registry: ClientRegistry, contexts: list[str]) -> None:
    for ctx in contexts:
        registry.for_context(ctx).delete(resource_path("v1", "secrets", "kube-system", "cilium-clustermesh"))


def planned(kbmc: list[str], contexts: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """What kbmc will run for `--step connect`: rounds (old cli) or calls, from its own dry run."""
    plan = json.loads(captured([*kbmc, "--data-planes", ",".join(contexts), "-o", "json", "network", "cilium",
                                "--step", "connect", "--dry-run"], env, cwd))
    calls = [a for a in plan["actions"] if a["step"] == "connect"]
    rounds = len(plan.get("rounds") or []) or len(calls)  # one mesh call after another, when not in rounds
    return {"rounds": rounds, "calls": len(calls), "argv": calls[0]["argv"] if calls else []}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=runs_arg, default=7, help="alternated runs per point (at least 7)")
    parser.add_argument("--planes", type=plane_counts(2), default=[3, 6, 10],
                        help="data-plane counts, comma-separated (a mesh needs 2)")
    parser.add_argument("--connect-seconds", type=seconds_arg, default=2.0,
                        help="the cilium stand-in's time per connection")
    parser.add_argument("-o", "--output", choices=["table", "json"], default="table")
    parser.add_argument("--kbmc", default=installed_kbmc())
    args = parser.parse_args()
    if not args.kbmc:
        print("need kbmc (installed next to this Python or on PATH)", file=sys.stderr)
        return 2
    planes = args.planes
    runs = args.runs
    sleep = args.connect_seconds
    kbmc = [args.kbmc]  # the installed kbmc (nox installs the wheel), as users run it
    work = Path(tempfile.mkdtemp(prefix="kbmc-bench-mesh-"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env.update(HOME=str(work), NO_COLOR="1", KBMC_STANDIN_CLUSTERS="1",
               PATH=f"{write_launchers(work / 'standin-bin')}{os.pathsep}{os.environ['PATH']}")
    stop_on_sigterm()
    bed: TestBed | None = None
    registry = None
    try:
        bed = TestBed.start(work / "bed", data_planes=max(planes))
        env["KUBECONFIG"] = str(bed.kubeconfig_path)
        registry = ClientRegistry(kc.load(str(bed.kubeconfig_path)))
        write_topology(work / "kbmc.yaml", bed.data_planes)  # cilium name, id 1..N, pod CIDR per plane
        every = ",".join(bed.data_planes)
        captured([*kbmc, "--data-planes", every, "network", "cilium", "--step", "install", "--step", "enable",
                  "--timeout", "60"], env, work)
        plans: dict[tuple[str, int], dict[str, Any]] = {}
        samples: dict[tuple[str, int], list[float]] = {}
        rss: dict[tuple[str, int], int] = {}
        failures: dict[tuple[str, int], int] = {}
        for cli, version in CLIS.items():
            env["KBMC_STANDIN_CILIUM_VERSION"] = version
            for n in planes:
                plans[(cli, n)] = planned(kbmc, bed.data_planes[:n], env, work)
        argv = {n: [*kbmc, "--data-planes", ",".join(bed.data_planes[:n]), "network", "cilium", "--step", "connect"]
                for n in planes}
        env["KBMC_STANDIN_CONNECT_SECONDS"] = str(sleep)
        for _ in range(runs):
            for cli, version in CLIS.items():
                env["KBMC_STANDIN_CILIUM_VERSION"] = version
                for n in planes:
                    clear_peers(registry, bed.data_planes[:n])
                    seconds, code, peak = timed(argv[n], env, work)
                    print(f"run {len(samples.get((cli, n), [])) + 1}/{runs}: cilium-cli {version}, {n} planes: "
                          f"{seconds:.2f} s", file=sys.stderr, flush=True)
                    samples.setdefault((cli, n), []).append(seconds)
                    rss[(cli, n)] = max(rss.get((cli, n), 0), peak)
                    if code != 0:
                        failures[(cli, n)] = code
    finally:
        if registry is not None:
            registry.close()
        if bed is not None:
            bed.stop()
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for cli in CLIS:
        for n in planes:
            median = statistics.median(samples[(cli, n)])
            pairs = n * (n - 1) // 2
            plan = plans[(cli, n)]
            parallel = int(plan["argv"][plan["argv"].index("--parallel") + 1]) if "--parallel" in plan["argv"] else 1
            floor = plan["rounds"] * sleep if cli == "old" else -(-pairs // parallel) * sleep
            rows.append({"cilium_cli": CLIS[cli], "data_planes": n, "pairs": pairs, "rounds": plan["rounds"],
                         "connect_calls": plan["calls"], "parallel": parallel, "median_s": round(median, 2),
                         "serial_bound_s": pairs * sleep, "vs_serial": round(median / (pairs * sleep), 2),
                         "schedule_floor_s": floor, "vs_floor": round(median / floor, 2),
                         "peak_rss_mib": round(rss[(cli, n)] / 1024, 1), "nonzero_exit": failures.get((cli, n))})
    result = {"runs": runs, "connect_seconds": sleep, "rows": rows}
    if args.output == "json":
        print(json.dumps(result, indent=2))
        return 0
    print(f"Mesh scheduling, `network cilium --step connect`, medians of {runs} alternated runs, "
          f"{sleep:g} s per connection (serial bound: N(N-1)/2 x {sleep:g} s)\n")
    print("| cilium-cli | data planes | pairs | rounds | connect calls | --parallel | median s | serial bound s "
          "| x serial | schedule floor s | x floor | peak RSS MiB | exit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        exit_text = "0" if r["nonzero_exit"] is None else str(r["nonzero_exit"])
        print(f"| {r['cilium_cli']} | {r['data_planes']} | {r['pairs']} | {r['rounds']} | {r['connect_calls']} | "
              f"{r['parallel']} | {r['median_s']:.2f} | {r['serial_bound_s']:.1f} | {r['vs_serial']:.2f} | "
              f"{r['schedule_floor_s']:.1f} | {r['vs_floor']:.2f} | {r['peak_rss_mib']:.0f} | {exit_text} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
