"""The built wheel, installed in a fresh virtualenv, works offline and carries its templates."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next((work / "dist").glob("kbmc-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "kbmc/templates/topology/kbmc.yaml.j2" in names
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], check=True)
    return venv


def run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "PYTHONPATH")}
    env.update(HOME=str(cwd), NO_COLOR="1")
    return subprocess.run([str(venv / "bin" / "kbmc"), *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_wheel_runs_offline_from_anywhere(installed: Path, tmp_path: Path) -> None:
    r = run(installed, tmp_path, "--help")
    assert r.returncode == 0 and "validate" in r.stdout
    r = run(installed, tmp_path, "--context", "cp", "--data-planes", "k8s-1,k8s-2,k8s-3", "init")
    assert r.returncode == 0, r.stderr
    r = run(installed, tmp_path, "validate")
    assert r.returncode == 0, r.stderr
    r = run(installed, tmp_path, "cluster", "create", "etcd", "-o", "json")  # renders from the wheel's templates
    assert r.returncode == 0, r.stderr
    assert '"apps.kubeblocks.io/multi-cluster-placement": "k8s-1,k8s-2,k8s-3"' in r.stdout
    # The templates came from the installed package, not from this checkout.
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import kbmc.templating as t; print(t.templates_dir())"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(installed)) and where.endswith("kbmc/templates")
