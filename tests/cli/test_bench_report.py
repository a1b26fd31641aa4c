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
            rows.append({"command": command, "data_planes": n, "median_s": 1.0, "vs_1": round(ratio16, 2),
                         "vs_1_exact": ratio16 if n == 16 else 1.0, "peak_rss_mib": 50, "expected_exit": expected,
                         "nonzero_exit": doctor_exit if command == "doctor" else None})
    return {"runs": 7, "round_trip_ms": 50, "rows": rows, "rbac_speedup_vs_kubectl_at_8": speedup,
            "rbac_speedup_vs_kubectl_at_8_exact": speedup}


def verdicts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {r["target"]: r["met"] for r in rows}


def test_ratios_are_compared_unrounded() -> None:
    startup = {"rows": [{"command": "kbmc version", "vs_floor": 1.2, "vs_floor_exact": 1.2049},
                        {"command": "kbmc --help", "vs_floor": 1.2, "vs_floor_exact": 1.1951}]}
    got = verdicts(run.targets({"startup": startup}, ["startup"]))
    assert got == {"start-up `kbmc version` <= 1.2x floor": False, "start-up `kbmc --help` <= 1.2x floor": True}


def test_doctor_exiting_1_on_a_bed_without_operator_is_expected_but_another_exit_is_not() -> None:
    assert all(verdicts(run.targets({"fanout": fanout(1.3)}, ["fanout"])).values())
    rows = run.targets({"fanout": fanout(1.3, doctor_exit=2)}, ["fanout"])
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
    assert not (tmp_path / "out").exists()


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
