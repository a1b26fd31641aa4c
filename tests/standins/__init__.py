"""Recording stand-ins for the external CLIs kbmc runs (cilium, kbcli, helm): see standin.py."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOOLS = ("cilium", "kbcli", "helm")


def write_launchers(bindir: Path, tools: tuple[str, ...] = TOOLS) -> Path:
    """Executables named after each tool in `bindir` (made if missing) that run its stand-in with this Python;
    put `bindir` first on PATH."""
    bindir.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        exe = bindir / tool
        exe.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(HERE)!r})\n"
                       f"import standin\nsys.exit(standin.main({tool!r}, sys.argv[1:]))\n")
        exe.chmod(0o755)
    return bindir
