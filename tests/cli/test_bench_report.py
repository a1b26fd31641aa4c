"""The benchmark report (`nox -s bench`): its targets table and its command line. Timing is never asserted here;
what is tested is that the report says what the figures mean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.bench import run

RUN = Path(run.__file__)


def fanout(ratio16: float, *, doctor_exit: int | None = 1, planes: tuple[int, ...] = (1, 8, 16),
           speedup: float | None = 9.7) -> dict[str, Any]:
    rows = []
    for command in ("env check", "rbac sync", "doctor"):
        for n in planes:
            expected = 1 if command == "doctor" else 0
            code = (doctor_exit or 0) if command == "doctor" else 0
            rows.append({"command": command, "data_planes": n, "median_s": 1.0, "vs_1": round(ratio16, 2),
                         "vs_1_exact": ratio16 if n == 16 else 1.0, "peak_rss_mib": 50, "expected_exit": expected,
                         "exit_codes": [code]})
    return {"runs": 7, "round_trip_ms": 50, "rows": rows, "rbac_speedup_vs_kubectl_at_8": speedup,
            "rbac_speedup_vs_kubectl_at_8_exact": speedup, "rbac_speedup_runs_clean": True if speedup else None}


def verdicts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {r["target"]: r["met"] for r in rows}


def test_fan_out_ratios_are_compared_unrounded() -> None:
    got = verdicts(run.targets({"fanout": fanout(1.5049)}, ["fanout"]))
    assert got["fan-out `env check` time(16) <= 1.5x time(1)"] is False  # 1.50 when rounded


def test_a_speed_up_from_failing_runs_does_not_count() -> None:
    result = fanout(1.3)
    result["rbac_speedup_runs_clean"] = False
    row = next(r for r in run.targets({"fanout": result}, ["fanout"]) if "kubectl loop" in r["target"])
    assert row["met"] is False and "exited non-zero" in row["measured"]


def test_an_exit_code_that_changes_between_runs_is_not_expected() -> None:
    result = fanout(1.3)
    for r in result["rows"]:
        if r["command"] == "doctor" and r["data_planes"] == 8:
            r["exit_codes"] = [1, 2]  # one run failed otherwise
    row = next(r for r in run.targets({"fanout": result}, ["fanout"]) if "doctor" in r["target"])
    assert row["met"] is False


def test_ratios_are_compared_unrounded() -> None:
    startup = {"rows": [{"command": "kbmc version", "vs_floor": 1.2, "vs_floor_exact": 1.2049},
                        {"command": "kbmc --help", "vs_floor": 1.2, "vs_floor_exact": 1.1951}]}
    got = verdicts(run.targets({"startup": startup}, ["startup"]))
    assert got == {"start-up `kbmc version` <= 1.2x floor": False, "start-up `kbmc --help` <= 1.2x floor": True}


def test_doctor_exiting_1_on_a_bed_without_operator_is_expected_but_another_exit_is_not() -> None:
    assert all(verdicts(run.targets({"fanout": fanout(1.3)}, ["fanout"])).values())
    rows = run.targets({"fanout": fanout(1.3, doctor_exit=2)}, ["fanout"])  # e.g. a plane unreachable
    doctor = next(r for r in rows if "doctor" in r["target"])
    assert doctor["met"] is False and "unexpected exit" in doctor["measured"]


def test_a_target_without_its_figures_says_so() -> None:
    rows = run.targets({"fanout": fanout(1.3, planes=(1, 4), speedup=None)}, ["fanout"])
    assert [r["met"] for r in rows] == [None, None, None, None]
    assert all(r["measured"].startswith("not measured") for r in rows)
    failed = run.targets({}, ["startup", "fanout"])
    assert failed and all(r["met"] is None and "failed" in r["measured"] for r in failed)


def test_the_markdown_marks_each_verdict() -> None:
    report = {"machine": {"date": "d", "cpus": 2, "python": "3", "platform": "p", "kubectl": None},
              "load_before": "0", "load_after": "0", "results": {"fanout": fanout(1.6)}, "failed": {"mesh": "boom"},
              "seconds": {"fanout": 1.0}}
    report["targets"] = run.targets(report["results"], ["fanout", "mesh"])
    text = run.markdown(report)
    assert "| fan-out `env check` time(16) <= 1.5x time(1) | 1.600x | NO |" in text
    assert "| 1 (expected) |" in text and "**mesh: no result** (boom)" in text


@pytest.mark.parametrize("args", [["--planes", "1,x"], ["--mesh-planes", "1"], ["--connect-seconds", "0"],
                                  ["--runs", "0"], ["--only", "nope"]])
def test_bad_input_is_refused_before_anything_runs(tmp_path: Path, args: list[str]) -> None:
    proc = subprocess.run([sys.executable, str(RUN), *args, "--out", str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines()[-1].startswith("run.py: error:")
    assert not (tmp_path / "out").exists()  # refused before the report's folder is made


def test_an_out_that_cannot_hold_the_report_is_refused_before_measuring(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = subprocess.run([sys.executable, str(RUN), "--only", "startup", "--out", str(blocker / "sub")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "cannot hold the report" in proc.stderr and "--- startup" not in proc.stderr


def canned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, results: dict[str, Any], *args: str) -> int:
    """run.py's main over canned part results (no benchmark runs)."""
    monkeypatch.setattr(run, "run_part", lambda part, argv: (results.get(part), None if part in results else "boom", 1.0))
    monkeypatch.setattr(sys, "argv", ["run.py", "--out", str(tmp_path), *args])
    return run.main()


def test_strict_fails_on_a_target_not_met_or_not_measured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert canned(monkeypatch, tmp_path, {"fanout": fanout(1.3)}, "--only", "fanout") == 0
    assert canned(monkeypatch, tmp_path, {"fanout": fanout(1.3)}, "--only", "fanout", "--strict") == 0
    assert canned(monkeypatch, tmp_path, {"fanout": fanout(1.7)}, "--only", "fanout") == 0
    assert canned(monkeypatch, tmp_path, {"fanout": fanout(1.7)}, "--only", "fanout", "--strict") == 1
    no16 = fanout(1.3, planes=(1, 8))
    assert canned(monkeypatch, tmp_path, {"fanout": no16}, "--only", "fanout", "--strict") == 1


def test_a_failed_mesh_connect_fails_the_part(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mesh = {"runs": 7, "connect_seconds": 2, "rows": [{"cilium_cli": "v0.18.3", "data_planes": 3, "pairs": 3,
            "rounds": 1, "parallel": 2, "median_s": 1.0, "serial_bound_s": 6.0, "vs_serial": 0.2,
            "schedule_floor_s": 4.0, "vs_floor": 0.25, "peak_rss_mib": 60, "nonzero_exit": 1}]}
    assert canned(monkeypatch, tmp_path, {"mesh": mesh}, "--only", "mesh") == 1
    assert "**mesh: no result** (a timed `network cilium --step connect` exited non-zero" in (
        tmp_path / "bench.md").read_text()


STOPPER = """
import os, signal, sys, time
sys.path.insert(0, {root!r})
from tests.bench.benchargs import stop_on_sigterm
stop_on_sigterm()
try:
    print("ready", flush=True)
    time.sleep(30)
finally:  # the clean-up (stopping a bed), interrupted by the signals an impatient user or `timeout` sends next
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGHUP)
    time.sleep(0.2)
    print("cleaned up", flush=True)
"""


@pytest.mark.parametrize("first", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_the_first_stop_signal_runs_the_clean_up_and_later_ones_cannot_cut_it_short(first: str) -> None:
    import signal

    root = str(Path(run.__file__).resolve().parents[2])
    proc = subprocess.Popen([sys.executable, "-c", STOPPER.format(root=root)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(getattr(signal, first))
    out, err = proc.communicate(timeout=30)
    assert out == "cleaned up\n", err
    assert proc.returncode == 128 + getattr(signal, first)


def test_the_start_up_part_writes_both_reports(tmp_path: Path) -> None:
    """The real start-up benchmark, end to end (its figures are not judged here): JSON on stdout alone, the report
    files written, every start-up target in the table."""
    proc = subprocess.run([sys.executable, str(RUN), "--only", "startup", "--runs", "7", "--out", str(tmp_path),
                           "-o", "json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report == json.loads((tmp_path / "bench.json").read_text())
    commands = {r["command"] for r in report["results"]["startup"]["rows"]}
    assert {"kbmc --help", "kbmc version", "kbmc validate", "kbmc cluster create etcd"} <= commands
    assert len([t for t in report["targets"] if t["target"].startswith("start-up")]) == 4
    assert "## Start-up" in (tmp_path / "bench.md").read_text()
