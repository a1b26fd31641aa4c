"""All benchmarks in one run (`nox -s bench`): start-up, fan-out and mesh scheduling, then one report.

Runs each script under tests/bench/ with `-o json`, one after another (never side by side: each measures the
machine), and writes the report as markdown and JSON into --out (default: bench-results/). The report is also
printed: markdown, or with `-o json` the JSON document. Every figure is a ratio of medians taken in the same
run; the targets table says which are met.

    python tests/bench/run.py [--only startup,fanout,mesh] [--runs 7] [--planes 1,4,8,16]
                              [--mesh-planes 3,6,10] [--connect-seconds 2] [--out bench-results] [-o table|json]
                              [--strict]

Exit 0 when every part produced its figures (1 if one did not; with --strict also 1 if a target is not met or
not measured);
2 for bad input, refused before anything runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.benchargs import STOP_SIGNALS, plane_counts, runs, seconds  # noqa: E402

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


_current: subprocess.Popen[str] | None = None


def _terminate(signum: int, _frame: Any) -> None:
    """Stop the running part first (it stops its bed; a Ctrl-C reached it too), then ourselves. Once."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if _current is not None and _current.poll() is None:
        _current.terminate()
        try:
            _current.wait(timeout=180)  # a bed of 17 clusters takes a while to stop
        except subprocess.TimeoutExpired:
            _current.kill()
    sys.exit(128 + signum)


def run_part(part: str, argv: list[str]) -> tuple[dict[str, Any] | None, str | None, float]:
    """One script's JSON result, or the reason it has none; its progress goes to our stderr as it comes."""
    global _current
    start = time.monotonic()
    _current = subprocess.Popen([sys.executable, str(HERE / f"{part}.py"), *argv, "-o", "json"],
                                stdout=subprocess.PIPE, text=True)
    stdout, _ = _current.communicate()
    code, _current = _current.returncode, None
    took = time.monotonic() - start
    if code != 0:
        return None, f"{part}.py exited {code}", took
    try:
        return json.loads(stdout), None, took
    except ValueError:
        return None, f"{part}.py printed no JSON", took


def targets(results: dict[str, Any], parts: list[str]) -> list[dict[str, Any]]:
    """Every figure that has a target, against it; a target whose figures are missing says so. Compared unrounded;
    a run that exited other than expected does not meet its target."""
    rows: list[dict[str, Any]] = []

    def row(target: str, measured: str, met: bool | None) -> None:
        rows.append({"target": target, "measured": measured, "met": met})

    startup = results.get("startup")
    if startup:
        for r in startup["rows"]:
            if r["command"].startswith("kbmc"):
                ratio = r["vs_floor_exact"]
                row(f"start-up `{r['command']}` <= {STARTUP_TARGET}x floor", f"{ratio:.3f}x", ratio <= STARTUP_TARGET)
    elif "startup" in parts:
        row(f"start-up <= {STARTUP_TARGET}x floor", "not measured (the part failed)", None)
    fanout = results.get("fanout") or {}
    if "fanout" in parts:
        points: dict[str, dict[int, dict[str, Any]]] = {}
        for r in fanout.get("rows", []):
            points.setdefault(r["command"], {})[r["data_planes"]] = r
        for command in ("env check", "rbac sync", "doctor"):
            target = f"fan-out `{command}` time(16) <= {FANOUT_TARGET}x time(1)"
            at16 = points.get(command, {}).get(16)
            if at16 is None:
                row(target, "not measured (needs 16 in --planes)" if fanout else "not measured (the part failed)", None)
                continue
            ratio = at16["vs_1_exact"]
            exits_ok = all(p["exit_codes"] == [p["expected_exit"]] for p in points[command].values())
            note = "" if exits_ok else " (an unexpected exit code)"
            row(target, f"{ratio:.3f}x{note}", ratio <= FANOUT_TARGET and exits_ok)
        speedup = fanout.get("rbac_speedup_vs_kubectl_at_8_exact")
        target = f"`rbac sync` at 8 data planes >= {SPEEDUP_TARGET:g}x faster than the kubectl loop"
        if fanout.get("rbac_speedup_runs_clean") is False:
            row(target, "a run at 8 data planes exited non-zero", False)
        elif speedup is None:
            row(target, "not measured (needs 8 in --planes)" if fanout else "not measured (the part failed)", None)
        else:
            row(target, f"{speedup:.1f}x", speedup >= SPEEDUP_TARGET)
    return rows


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"# kbmc benchmarks, {m['date']}", "",
             f"{m['cpus']} CPUs, Python {m['python']}, kubectl {m['kubectl'] or 'absent'}, {m['platform']}; "
             f"load average {report['load_before']} before, {report['load_after']} after.", ""]
    if report["targets"]:
        lines += ["## Targets", "", "| target | measured | met |", "|---|---:|---|"]
        verdict = {True: "yes", False: "NO", None: "-"}
        lines += [f"| {t['target']} | {t['measured']} | {verdict[t['met']]} |" for t in report["targets"]]
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
            codes, expected = r["exit_codes"], r["expected_exit"]
            exit_text = ",".join(map(str, codes)) + (" (expected)" if expected and codes == [expected] else "")
            lines.append(f"| {r['command']} | {r['data_planes']} | {r['median_s']:.2f} | {r['vs_1']:.2f} | "
                         f"{r['peak_rss_mib']:.0f} | {exit_text} |")
        lines.append("")
        if any(r.get("expected_exit") for r in fanout["rows"]):
            lines += ["`doctor` exits 1 by design here: the bench's bed has no KubeBlocks operator and its API servers "
                      "are on loopback, and the bench checked at every N that `operator available` and `Secret usable "
                      "in a pod` are the only checks doctor failed.", ""]
    mesh = report["results"].get("mesh")
    if mesh:
        lines += [f"## Mesh scheduling (medians of {mesh['runs']} alternated runs, {mesh['connect_seconds']:g} s "
                  "per connection; no target: the rounds and the ratio to the serial bound are reported)", "",
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
    parser.add_argument("--runs", type=runs, default=7, help="alternated runs per point (at least 7)")
    parser.add_argument("--planes", type=plane_counts(1), default=[1, 4, 8, 16],
                        help="data planes for the fan-out part (1 is always measured)")
    parser.add_argument("--mesh-planes", type=plane_counts(2), default=[3, 6, 10], help="data planes for the mesh part")
    parser.add_argument("--connect-seconds", type=seconds, default=2.0, help="the cilium stand-in's time per connection")
    parser.add_argument("--out", default="bench-results", help="folder for bench.md and bench.json")
    parser.add_argument("-o", "--output", choices=["table", "json"], default="table")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met or not measured")
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        parser.error(f"--only takes {', '.join(PARTS)}; got {args.only!r}")
    out = Path(args.out)
    try:  # the report's folder, made and proved writable before minutes of measuring
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        parser.error(f"--out {args.out!r} cannot hold the report: {exc.strerror or exc}")
    for sig in STOP_SIGNALS:
        signal.signal(sig, _terminate)
    counts = ",".join
    argv = {"startup": ["--runs", str(max(15, args.runs)), "--profile"],
            "fanout": ["--runs", str(args.runs), "--planes", counts(map(str, args.planes))],
            "mesh": ["--runs", str(args.runs), "--planes", counts(map(str, args.mesh_planes)),
                     "--connect-seconds", str(args.connect_seconds)]}
    report: dict[str, Any] = {"machine": machine(), "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()),
                              "results": {}, "failed": {}, "seconds": {}}
    for part in parts:
        print(f"--- {part}", file=sys.stderr, flush=True)
        result, reason, took = run_part(part, argv[part])
        report["seconds"][part] = round(took, 1)
        if result is None:
            report["failed"][part] = reason
            continue
        report["results"][part] = result
        if part == "mesh" and any(r.get("nonzero_exit") for r in result["rows"]):
            report["failed"][part] = "a timed `network cilium --step connect` exited non-zero; its times mean nothing"
    report["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    report["targets"] = targets(report["results"], parts)
    text = markdown(report)
    (out / "bench.md").write_text(text)
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2) if args.output == "json" else text, end="" if args.output == "table" else "\n")
    unmet = [t["target"] for t in report["targets"] if t["met"] is False]
    print(f"report written to {out / 'bench.md'} and {out / 'bench.json'}; targets: "
          f"{sum(t['met'] is True for t in report['targets'])} met, {len(unmet)} not met"
          + (f", {sum(t['met'] is None for t in report['targets'])} not measured"
             if any(t["met"] is None for t in report["targets"]) else ""), file=sys.stderr)
    if report["failed"]:
        return 1
    unmeasured = [t["target"] for t in report["targets"] if t["met"] is None]
    return 1 if args.strict and (unmet or unmeasured) else 0


if __name__ == "__main__":
    sys.exit(main())
