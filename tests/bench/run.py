"""All benchmarks in one run (`nox -s bench`): start-up, fan-out and mesh scheduling, then one report.

Runs each script under tests/bench/ with `-o json`, one after another (never side by side: each measures the
machine), and writes the report as markdown and JSON into --out (default: bench-results/). The report is also
printed: markdown, or with `-o json` the JSON document. Every figure is a ratio of medians taken in the same
run; the targets table says which are met.

    python tests/bench/run.py [--only startup,fanout,mesh] [--runs 7] [--planes 1,4,8,16]
                              [--mesh-planes 3,6,10] [--connect-seconds 2] [--out bench-results] [-o table|json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PARTS = ("startup", "fanout", "mesh")
STARTUP_TARGET = 1.2  # x `python -c "import typer, jinja2"`
FANOUT_TARGET = 1.5  # time(16) / time(1)
SPEEDUP_TARGET = 5.0  # rbac sync against the sequential kubectl loop at 8 data planes


def machine() -> dict[str, Any]:
    kubectl = shutil.which("kubectl")
    kubectl_version = None
    if kubectl:
        proc = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True)
        if proc.returncode == 0:
            kubectl_version = json.loads(proc.stdout).get("clientVersion", {}).get("gitVersion")
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "kubectl": kubectl_version}


def run_part(part: str, argv: list[str]) -> tuple[dict[str, Any] | None, str | None, float]:
    """One script's JSON result, or the reason it has none; its progress goes to our stderr as it comes."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(HERE / f"{part}.py"), *argv, "-o", "json"], stdout=subprocess.PIPE,
                          text=True)
    took = time.monotonic() - start
    if proc.returncode != 0:
        return None, f"{part}.py exited {proc.returncode}", took
    try:
        return json.loads(proc.stdout), None, took
    except ValueError:
        return None, f"{part}.py printed no JSON", took


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure that has a target, against it."""
    rows: list[dict[str, Any]] = []
    startup = results.get("startup")
    if startup:
        for r in startup["rows"]:
            if r["command"].startswith("kbmc"):
                rows.append({"target": f"start-up `{r['command']}` <= {STARTUP_TARGET}x floor",
                             "measured": f"{r['vs_floor']:.2f}x", "met": r["vs_floor"] <= STARTUP_TARGET})
    fanout = results.get("fanout")
    if fanout:
        by_command: dict[str, dict[int, dict[str, Any]]] = {}
        for r in fanout["rows"]:
            by_command.setdefault(r["command"], {})[r["data_planes"]] = r
        largest = max(n for runs in by_command.values() for n in runs)
        for command, points in by_command.items():
            if not command.startswith("kubectl") and largest in points and 1 in points:
                ratio = points[largest]["vs_1"]
                rows.append({"target": f"fan-out `{command}` time({largest}) <= {FANOUT_TARGET}x time(1)",
                             "measured": f"{ratio:.2f}x", "met": ratio <= FANOUT_TARGET})
        speedup = fanout.get("rbac_speedup_vs_kubectl_at_8")
        if speedup is not None:
            rows.append({"target": f"`rbac sync` at 8 data planes >= {SPEEDUP_TARGET:g}x faster than the kubectl loop",
                         "measured": f"{speedup:.1f}x", "met": speedup >= SPEEDUP_TARGET})
    return rows


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"# kbmc benchmarks, {m['date']}", "",
             f"{m['cpus']} CPUs, Python {m['python']}, kubectl {m['kubectl'] or 'absent'}, {m['platform']}; "
             f"load average {report['load_before']} before, {report['load_after']} after.", ""]
    if report["targets"]:
        lines += ["## Targets", "", "| target | measured | met |", "|---|---:|---|"]
        lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'NO'} |" for t in report["targets"]]
        lines.append("")
    startup = report["results"].get("startup")
    if startup:
        lines += [f"## Start-up (medians of {startup['runs']} alternated runs)", "",
                  "| command | median ms | x floor | x kubectl |", "|---|---:|---:|---:|"]
        for r in startup["rows"]:
            vs_kubectl = "" if r["vs_kubectl"] is None else f"{r['vs_kubectl']:.2f}"
            lines.append(f"| {r['command']} | {r['median_ms']:.0f} | {r['vs_floor']:.2f} | {vs_kubectl} |")
        if startup["profile_us"]:
            lines += ["", f"Import profile of the slowest, `{startup['slowest']}` (cumulative ms):", "",
                      "| module | ms |", "|---|---:|"]
            lines += [f"| {p['module']} | {p['cumulative_us'] / 1000:.1f} |" for p in startup["profile_us"]]
        lines.append("")
    fanout = report["results"].get("fanout")
    if fanout:
        lines += [f"## Fan-out (medians of {fanout['runs']} alternated runs, {fanout['round_trip_ms']:.0f} ms "
                  "added to every round trip)", "",
                  "| command | data planes | median s | x time(1) | peak RSS MiB | exit |", "|---|---:|---:|---:|---:|---|"]
        for r in fanout["rows"]:
            lines.append(f"| {r['command']} | {r['data_planes']} | {r['median_s']:.2f} | {r['vs_1']:.2f} | "
                         f"{r['peak_rss_mib']:.0f} | {r['nonzero_exit'] or 0} |")
        lines.append("")
    mesh = report["results"].get("mesh")
    if mesh:
        lines += [f"## Mesh scheduling (medians of {mesh['runs']} alternated runs, {mesh['connect_seconds']:g} s "
                  "per connection)", "",
                  "| cilium-cli | data planes | pairs | rounds | --parallel | median s | serial bound s | x serial "
                  "| schedule floor s | x floor | peak RSS MiB | exit |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in mesh["rows"]:
            lines.append(f"| {r['cilium_cli']} | {r['data_planes']} | {r['pairs']} | {r['rounds']} | "
                         f"{r['parallel']} | {r['median_s']:.2f} | {r['serial_bound_s']:.1f} | {r['vs_serial']:.2f} | "
                         f"{r['schedule_floor_s']:.1f} | {r['vs_floor']:.2f} | {r['peak_rss_mib']:.0f} | "
                         f"{r['nonzero_exit'] or 0} |")
        lines.append("")
    for part, reason in report["failed"].items():
        lines.append(f"**{part}: no result** ({reason}).")
    lines.append("Seconds per part: " + ", ".join(f"{p} {s:.0f}" for p, s in report["seconds"].items()) + ".")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(PARTS), help="which parts, comma-separated")
    parser.add_argument("--runs", type=int, default=7, help="alternated runs per point (at least 7)")
    parser.add_argument("--planes", default="1,4,8,16", help="data planes for the fan-out part")
    parser.add_argument("--mesh-planes", default="3,6,10", help="data planes for the mesh part")
    parser.add_argument("--connect-seconds", type=float, default=2.0, help="the cilium stand-in's time per connection")
    parser.add_argument("--out", default="bench-results", help="folder for bench.md and bench.json")
    parser.add_argument("-o", "--output", choices=["table", "json"], default="table")
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        parser.error(f"--only takes {', '.join(PARTS)}; got {args.only!r}")
    runs = str(max(7, args.runs))
    argv = {"startup": ["--runs", str(max(15, int(runs))), "--profile"],
            "fanout": ["--runs", runs, "--planes", args.planes],
            "mesh": ["--runs", runs, "--planes", args.mesh_planes, "--connect-seconds", str(args.connect_seconds)]}
    report: dict[str, Any] = {"machine": machine(), "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()),
                              "results": {}, "failed": {}, "seconds": {}}
    for part in parts:
        print(f"--- {part}", file=sys.stderr, flush=True)
        result, reason, took = run_part(part, argv[part])
        report["seconds"][part] = round(took, 1)
        if result is None:
            report["failed"][part] = reason
        else:
            report["results"][part] = result
    report["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    report["targets"] = targets(report["results"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(report)
    (out / "bench.md").write_text(text)
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2) if args.output == "json" else text, end="" if args.output == "table" else "\n")
    print(f"report written to {out / 'bench.md'} and {out / 'bench.json'}", file=sys.stderr)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
