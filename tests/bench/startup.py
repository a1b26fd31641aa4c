"""Start-up benchmark: an offline `kbmc cluster create etcd` against `kubectl version --client`.

Both commands run alternately, side by side, N times each with no kubeconfig and
no kbmc.yaml; the figure is the ratio of the median wall times. Target: <= 2.0.

    python tests/bench/startup.py [--runs 30] [--kbmc PATH] [--kubectl PATH]
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
import time
from pathlib import Path


def timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    default_kbmc = Path(sys.executable).with_name("kbmc")
    parser.add_argument("--kbmc", default=str(default_kbmc) if default_kbmc.exists() else shutil.which("kbmc"))
    parser.add_argument("--kubectl", default=shutil.which("kubectl"))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not args.kbmc or not args.kubectl:
        print("need both kbmc and kubectl on PATH (or --kbmc/--kubectl)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
        env.update(HOME=home, KUBECACHEDIR=os.path.join(home, "cache"))
        commands = {
            "kbmc": [args.kbmc, "cluster", "create", "etcd", "--placement", "k8s-1,k8s-2,k8s-3"],
            "kubectl": [args.kubectl, "version", "--client"],
        }
        for argv in commands.values():  # warm-up: page cache, .pyc files, template cache
            timed(argv, env, home)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                samples[name].append(timed(argv, env, home))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["kbmc"] / medians["kubectl"]
    result = {"runs": args.runs, "median_s": {k: round(v, 4) for k, v in medians.items()},
              "ratio": round(ratio, 2), "target": 2.0, "within_target": ratio <= 2.0}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"kbmc cluster create etcd: median {medians['kbmc'] * 1000:.0f} ms over {args.runs} runs")
        print(f"kubectl version --client:  median {medians['kubectl'] * 1000:.0f} ms")
        print(f"ratio {ratio:.2f} (target <= 2.0): {'ok' if ratio <= 2.0 else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
