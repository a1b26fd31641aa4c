"""Start-up benchmark: kbmc's own share of its start-up, against the floor of the stack it is built on.

The stack (typer + click + jinja2) costs about 2x `kubectl version --client` just to import, so the
target is kbmc's own part: each command below at most 1.2x `python -c "import typer, jinja2"` run by the
same interpreter. `kubectl version --client` is reported beside it. Every command runs alternately with
the others, with no kubeconfig, in an empty folder (plus one with a kbmc.yaml for `validate`); the
figures are ratios of medians. With `--profile`, the `python -X importtime` profile of the slowest command
(its 15 most expensive imports) follows the table.

    python tests/bench/startup.py [--runs 15] [-o table|json] [--profile]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.benchargs import installed_kbmc, stop_on_sigterm  # noqa: E402
from tests.bench.benchargs import runs as runs_arg  # noqa: E402

TARGET = 1.2
FLOOR = "import typer, jinja2"


def timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def commands(kbmc: str, kubectl: str | None) -> dict[str, list[str]]:
    py = sys.executable
    found = {
        "floor: python -c 'import typer, jinja2'": [py, "-c", FLOOR],
        "kbmc --help": [kbmc, "--help"],
        "kbmc version": [kbmc, "version"],
        "kbmc validate": [kbmc, "validate"],
        "kbmc cluster create etcd": [kbmc, "cluster", "create", "etcd", "--placement", "k8s-1,k8s-2,k8s-3"],
    }
    if kubectl:
        found["kubectl version --client"] = [kubectl, "version", "--client"]
    return found


def importtime(argv: list[str], env: dict[str, str], cwd: str, top: int = 15) -> list[tuple[int, str]]:
    """The most expensive imports (cumulative microseconds) of one command, as `python -X importtime` sees them."""
    script = argv[0]
    with open(script) as f:
        shebang = f.readline()
    python = shebang[2:].strip() if shebang.startswith("#!") else sys.executable
    proc = subprocess.run([python, "-X", "importtime", script, *argv[1:]], env=env, cwd=cwd,
                          capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=runs_arg, default=15, help="runs per command (at least 7)")
    parser.add_argument("--kbmc", default=installed_kbmc())
    parser.add_argument("--kubectl", default=shutil.which("kubectl"))
    parser.add_argument("-o", "--output", choices=["table", "json"], default="table")
    parser.add_argument("--profile", action="store_true", help="add the import-time profile of the slowest command")
    args = parser.parse_args()
    if not args.kbmc:
        print("kbmc is not installed next to this Python nor on PATH (or pass --kbmc)", file=sys.stderr)
        return 2
    runs = args.runs
    stop_on_sigterm()  # the temporary HOME below is removed on the way out
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "PYTHONDONTWRITEBYTECODE")}
        env.update(HOME=home, KUBECACHEDIR=os.path.join(home, "cache"), NO_COLOR="1")
        cmds = commands(args.kbmc, args.kubectl)
        subprocess.run([args.kbmc, "--context", "cp", "--data-planes", "k8s-1,k8s-2,k8s-3", "init"], env=env,
                       cwd=home, check=True, capture_output=True)
        for argv in cmds.values():  # warm-up: page cache, .pyc files, the template cache
            timed(argv, env, home)
        samples: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(runs):
            for name, argv in cmds.items():
                samples[name].append(timed(argv, env, home))
        medians = {name: statistics.median(values) for name, values in samples.items()}
        floor_name = next(iter(cmds))
        floor = medians[floor_name]
        kubectl = medians.get("kubectl version --client")
        rows = []
        for name, median in medians.items():
            rows.append({"command": name, "median_ms": round(median * 1000, 1),
                         "vs_floor": round(median / floor, 2), "vs_floor_exact": median / floor,
                         "vs_kubectl": round(median / kubectl, 2) if kubectl else None,
                         "within_target": (median / floor <= TARGET) if name.startswith("kbmc") else None})
        kbmc_rows = [r for r in rows if r["command"].startswith("kbmc")]
        slowest = max(kbmc_rows, key=lambda r: r["median_ms"])
        profile = importtime(cmds[slowest["command"]], env, home) if args.profile else []
    result = {"runs": runs, "target_vs_floor": TARGET, "python": sys.version.split()[0], "rows": rows,
              "slowest": slowest["command"], "profile_us": [{"cumulative_us": us, "module": m} for us, m in profile]}
    if args.output == "json":
        print(json.dumps(result, indent=2))
        return 0
    print(f"Start-up, medians of {runs} alternated runs (target: kbmc commands <= {TARGET}x the floor)\n")
    print("| command | median ms | x floor | x kubectl | target |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        verdict = "" if r["within_target"] is None else ("ok" if r["within_target"] else "OVER")
        vs_kubectl = "" if r["vs_kubectl"] is None else f"{r['vs_kubectl']:.2f}"
        print(f"| {r['command']} | {r['median_ms']:.0f} | {r['vs_floor']:.2f} | {vs_kubectl} | {verdict} |")
    if profile:
        print(f"\nImport profile of the slowest, `{slowest['command']}` (cumulative):\n")
        print("| module | ms |")
        print("|---|---:|")
        for us, module in profile:
            print(f"| {module} | {us / 1000:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
