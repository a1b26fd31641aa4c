"""Fan-out benchmark: multi-cluster commands over 1, 4, 8 and 16 data planes, with 50 ms on every round trip.

Starts its own test bed (1 control plane + the largest N data planes), puts a loopback delay proxy
(25 ms each way) in front of every data plane's apiserver, and times, alternately and as medians:
- each kbmc fan-out command the installed kbmc has (`env check`, `rbac sync`, `doctor`) at every N;
- the runbook's manual path for the RBAC copy at every N: a sequential shell loop of
  `kubectl get clusterrole … -o yaml | kubectl apply --context …` for the same objects.
Reported: time(N)/time(1) per command (target time(16) <= 1.5 x time(1)), the speed-up over the kubectl loop
at 8 data planes (target >= 5x), and kbmc's peak RSS at the largest N.

    python tests/bench/fanout.py [--runs 7] [--planes 1,4,8,16] [-o table|json]
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

import yaml  # noqa: E402

from tests.bench.benchargs import installed_kbmc, plane_counts, runs, stop_on_sigterm, timed  # noqa: E402
from tests.testbed.bed import TestBed  # noqa: E402
from tests.testbed.proxy import DelayProxy  # noqa: E402

ONE_WAY_DELAY = 0.025  # 50 ms per round trip
POD_ROLE = "kubeblocks-cluster-pod-role"
VOLUME_ROLE = "kubeblocks-volume-protection-pod-role"


def delayed_kubeconfig(bed: TestBed, proxies: dict[str, DelayProxy], path: Path) -> Path:
    doc = yaml.safe_load(bed.kubeconfig_path.read_text())
    for entry in doc["clusters"]:
        if entry["name"] in proxies:
            entry["cluster"]["server"] = proxies[entry["name"]].url
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def seed_roles(kubeconfig: Path, env: dict[str, str]) -> None:
    """The control plane's pod roles, as the chart creates them (flattened rules suffice for a copy)."""
    roles = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
              "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "kubeblocks"}},
              "rules": [{"apiGroups": [""], "resources": ["pods", "configmaps", "secrets"],
                         "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]}
             for name in (POD_ROLE, VOLUME_ROLE)]
    doc = yaml.safe_dump_all(roles)
    subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "--context", "cp", "apply", "-f", "-"],
                   input=doc.encode(), env=env, check=True, capture_output=True)


COMMANDS = {"env check": ["env", "check"], "rbac sync": ["rbac", "sync"], "doctor": ["doctor"]}
# The bench's bed has the data planes' kubeconfig Secret (`env prepare`) and the pod roles, but no KubeBlocks
# operator, and its API servers are on loopback, which a pod could not reach: doctor reports exactly those two
# checks failed (exit 1) after running every check on every plane. The bench verifies they are these and no
# other at every N, so any other failure still fails the target.
DOCTOR_EXPECTED_FAILURES = ["Secret usable in a pod", "operator available"]


def doctor_failures(argv: list[str], env: dict[str, str], cwd: str) -> list[str]:
    proc = subprocess.run([*argv, "-o", "json"], env=env, cwd=cwd, capture_output=True, text=True)
    try:
        checks = json.loads(proc.stdout)["checks"]
    except (ValueError, KeyError, TypeError):
        return [f"no doctor report (exit {proc.returncode})"]
    return sorted({c["check"] for c in checks if c.get("status") == "fail"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=runs, default=7, help="alternated runs per point (at least 7)")
    parser.add_argument("--planes", type=plane_counts(1), default=[1, 4, 8, 16],
                        help="data-plane counts, comma-separated (1 is always measured: it is the baseline)")
    parser.add_argument("-o", "--output", choices=["table", "json"], default="table")
    parser.add_argument("--kbmc", default=installed_kbmc())
    args = parser.parse_args()
    planes = sorted({1, *args.planes})
    runs_per_point = args.runs
    if not args.kbmc or not shutil.which("kubectl"):
        print("need kbmc (installed next to this Python or on PATH) and kubectl", file=sys.stderr)
        return 2
    stop_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="kbmc-bench-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(HOME=str(work), KUBECACHEDIR=str(work / "kubecache"), NO_COLOR="1")
    bed: TestBed | None = None
    proxies: dict[str, DelayProxy] = {}
    samples: dict[tuple[str, int], list[float]] = {}
    rss: dict[tuple[str, int], int] = {}
    exits: dict[tuple[str, int], set[int]] = {}
    doctor_failed: dict[int, list[str]] = {}
    try:
        bed = TestBed.start(work / "bed", data_planes=max(planes))
        for name in bed.data_planes:
            proxies[name] = DelayProxy(int(bed.server(name).rsplit(":", 1)[1]), ONE_WAY_DELAY).__enter__()
        kubeconfig = delayed_kubeconfig(bed, proxies, work / "kubeconfig")
        env["KUBECONFIG"] = str(kubeconfig)
        seed_roles(kubeconfig, env)
        everyone = ",".join(bed.data_planes)
        subprocess.run([args.kbmc, "--context", "cp", "--data-planes", everyone, "env", "prepare", "--allow-loopback"],
                       env=env, cwd=work, check=True, capture_output=True)  # the Secret doctor checks
        subprocess.run([args.kbmc, "--context", "cp", "--data-planes", everyone, "rbac", "sync"],
                       env=env, cwd=work, check=True, capture_output=True)  # the roles doctor checks
        for n in planes:
            contexts = ",".join(bed.data_planes[:n])
            argvs = {name: [args.kbmc, "--context", "cp", "--data-planes", contexts, *cmd]
                     for name, cmd in COMMANDS.items()}
            # The runbook's recipe: get, strip the server-owned fields, apply to each data plane in turn.
            strip = "grep -v -E '^  (uid|resourceVersion|creationTimestamp|generation):'"
            loop = " && ".join(
                f"kubectl --context cp get clusterrole {role} -o yaml | {strip} | "
                f"kubectl --context {ctx} apply -f - >/dev/null"
                for ctx in bed.data_planes[:n] for role in (POD_ROLE, VOLUME_ROLE))
            argvs["kubectl loop (rbac copy)"] = ["bash", "-c", f"set -o pipefail; {loop}"]
            for argv in argvs.values():  # warm-up
                timed(argv, env, work)
            for _ in range(runs_per_point):
                for name, argv in argvs.items():
                    seconds, code, peak = timed(argv, env, work)
                    samples.setdefault((name, n), []).append(seconds)
                    rss[(name, n)] = max(rss.get((name, n), 0), peak)
                    exits.setdefault((name, n), set()).add(code)
            doctor_failed[n] = doctor_failures(argvs["doctor"], env, str(work))
    finally:
        for proxy in proxies.values():
            proxy.close()
        if bed is not None:
            bed.stop()
        shutil.rmtree(work, ignore_errors=True)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    names = list(dict.fromkeys(name for name, _ in medians))
    rows: list[dict[str, Any]] = []
    for name in names:
        base = medians[(name, planes[0])]
        for n in planes:
            codes = sorted(exits[(name, n)])
            expected = 0
            if name == "doctor" and doctor_failed.get(n) == DOCTOR_EXPECTED_FAILURES:
                expected = 1
            rows.append({"command": name, "data_planes": n, "median_s": round(medians[(name, n)], 3),
                         "vs_1": round(medians[(name, n)] / base, 2), "vs_1_exact": medians[(name, n)] / base,
                         "peak_rss_mib": round(rss[(name, n)] / 1024, 1), "exit_codes": codes,
                         "expected_exit": expected,
                         **({"failed_checks": doctor_failed.get(n)} if name == "doctor" else {})})
    speedup = None
    clean = all(exits.get((name, 8)) == {0} for name in ("rbac sync", "kubectl loop (rbac copy)"))
    if ("rbac sync", 8) in medians and ("kubectl loop (rbac copy)", 8) in medians and clean:
        speedup = medians[("kubectl loop (rbac copy)", 8)] / medians[("rbac sync", 8)]
    result = {"runs": runs_per_point, "round_trip_ms": ONE_WAY_DELAY * 2000, "rows": rows,
              "rbac_speedup_vs_kubectl_at_8": None if speedup is None else round(speedup, 1),
              "rbac_speedup_vs_kubectl_at_8_exact": speedup,
              "rbac_speedup_runs_clean": clean if ("rbac sync", 8) in medians else None}
    if args.output == "json":
        print(json.dumps(result, indent=2))
        return 0
    print(f"Fan-out, medians of {runs_per_point} alternated runs, {ONE_WAY_DELAY * 2000:.0f} ms per round trip "
          f"(targets: time(16) <= 1.5 x time(1); rbac sync >= 5x the kubectl loop at 8)\n")
    print("| command | data planes | median s | x time(1) | peak RSS MiB | exit |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        exit_text = ",".join(map(str, r["exit_codes"]))
        print(f"| {r['command']} | {r['data_planes']} | {r['median_s']:.3f} | {r['vs_1']:.2f} | "
              f"{r['peak_rss_mib']:.0f} | {exit_text} |")
    if speedup is not None:
        print(f"\nrbac sync vs the sequential kubectl loop at 8 data planes: {speedup:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
