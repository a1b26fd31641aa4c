"""Run the test bed by hand: `python -m tests.testbed up|down|status|build`.

    python -m tests.testbed up --data-planes 3   # prints the kubeconfig path
    python -m tests.testbed up --operator        # ... and run the KubeBlocks manager Deployment's pods
    export KUBECONFIG=$(python -m tests.testbed status --kubeconfig)
    python -m tests.testbed down
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from tests.testbed.bed import TestBed
from tests.testbed.build import ALL_BINARIES, ensure_binaries


def default_root() -> Path:
    return Path(os.environ.get("KBMC_TESTBED_DIR", Path(tempfile.gettempdir()) / f"kbmc-testbed-{os.getuid()}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=default_root(), help="where the bed keeps its state")
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start the bed (control plane cp + data planes k8s-1..N)")
    up.add_argument("--data-planes", type=int, default=3)
    up.add_argument("--operator", action="store_true",
                    help="also run the operator runner: it runs the real KubeBlocks manager for the manager "
                         "Deployment in cp's kb-system and reports operator-created pods Running/Ready")
    sub.add_parser("down", help="stop the bed")
    st = sub.add_parser("status", help="show the bed")
    st.add_argument("--kubeconfig", action="store_true", help="print only the kubeconfig path")
    sub.add_parser("build", help="build the binaries, the KubeBlocks manager included (cached)")
    args = parser.parse_args(argv)

    if args.cmd == "build":
        print(ensure_binaries(names=ALL_BINARIES))
        return 0
    running = TestBed.attach(args.dir)
    if args.cmd == "up":
        if running:
            print(f"already running; kubeconfig: {running.kubeconfig_path}", file=sys.stderr)
            if args.operator:
                running.start_operator()
                print(f"operator runner up; logs in {running.root / 'logs'}", file=sys.stderr)
            print(running.kubeconfig_path)
            return 0
        bed = TestBed.start(args.dir, data_planes=args.data_planes)
        print(f"test bed up: {', '.join(bed.names)}", file=sys.stderr)
        if args.operator:
            bed.start_operator()
            print(f"operator runner up (runs the KubeBlocks manager Deployment of cp's kb-system); "
                  f"logs in {bed.root / 'logs'}", file=sys.stderr)
        print(bed.kubeconfig_path)
        return 0
    if args.cmd == "down":
        # Stop whatever is still alive, also when a fault (or a test) killed part of the bed.
        recorded = TestBed.load(args.dir)
        if recorded is None or not recorded.any_alive():
            print("no test bed running", file=sys.stderr)
            if recorded is not None:
                recorded.stop()  # forget the stale state
            return 0
        recorded.stop()
        print("test bed stopped", file=sys.stderr)
        return 0
    if running is None:
        print("no test bed running", file=sys.stderr)
        return 1
    if args.kubeconfig:
        print(running.kubeconfig_path)
    else:
        print(json.dumps(running.status(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
