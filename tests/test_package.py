"""mmgym as a library: a light import, an import graph without cycles in which the library never
imports the training kit, and a wheel that trains and evaluates outside the checkout."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HEAVY = ("torch", "stable_baselines3", "numba", "pandas", "scipy", "matplotlib", "hydra",
         "mmgym.core", "mmgym.markets", "mmgym.kit")


def python(*code: str, cwd: Path | None = None,
           executable: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run([executable, "-c", "\n".join(code)], capture_output=True, text=True,
                          cwd=cwd, timeout=300, check=True)


def test_import_mmgym_registers_the_ids_and_loads_nothing_heavy() -> None:
    out = python("import sys, mmgym, gymnasium as gym",
                 f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))",
                 "print(sorted(i for i in gym.registry if i.startswith('mmgym/')))")
    loaded, ids = out.stdout.splitlines()
    assert loaded == "[]"
    assert ids == str(sorted(["mmgym/AvellanedaStoikov-v0", "mmgym/LOBReplay-v0",
                              "mmgym/MarketMaking-v0", "mmgym/MultiAsset-v0",
                              "mmgym/WideSpread-v0"]))


def test_the_env_classes_load_on_first_use() -> None:
    out = python("import sys, mmgym", "env = mmgym.MarketMakingVectorEnv(2, market='as2008')",
                 "print('torch' in sys.modules, 'numba' in sys.modules)",
                 "mmgym.MarketMakingSB3VecEnv", "print('stable_baselines3' in sys.modules)")
    assert out.stdout.split() == ["False", "True", "True"]


def test_the_import_graph_keeps_its_contracts() -> None:
    """``lint-imports`` (import-linter, contracts in pyproject.toml): the library never
    imports ``mmgym.kit``; no cycle among the modules and packages of any package."""
    result = subprocess.run([str(BIN / "lint-imports")], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.slow
def test_the_wheel_trains_and_evaluates_outside_the_checkout(tmp_path: Path) -> None:
    """The built wheel in a new virtual environment, run from a directory outside the
    checkout: ``mmgym-train experiment=quick`` then ``mmgym-evaluate`` of its model, on the
    configs shipped in the wheel. The new environment takes the test's own third-party
    packages through a ``.pth`` line (installing torch and the rest again would cost minutes
    and the network); a path given in a ``.pth`` file does not run the ``.pth`` files found
    there, so the checkout's editable install of mmgym stays out, which the test checks."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    wheel = next((tmp_path / "dist").glob("mmgym-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    new_python = str(venv / "bin" / "python")
    site = python("import sysconfig; print(sysconfig.get_paths()['purelib'])",
                  executable=new_python).stdout.strip()
    Path(site, "third_party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([new_python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, timeout=600)
    work = tmp_path / "work"
    work.mkdir()
    where = python("import mmgym; print(mmgym.__file__)", cwd=work, executable=new_python)
    assert where.stdout.strip().startswith(site)

    def run(command: str, *args: str) -> None:
        result = subprocess.run([str(venv / "bin" / command), *args, "progress=false"],
                                cwd=work, capture_output=True, text=True, timeout=1800)
        assert result.returncode == 0, result.stderr[-3000:]

    run("mmgym-train", "experiment=quick")
    model = work / "runs" / "quick" / "wide" / "ppo-seed0" / "model.zip"
    assert model.exists()
    run("mmgym-evaluate", f"checkpoints=[{model}]", "policies=[as_inventory]", "episodes=50",
        "name=wheel")
    summary = (work / "runs" / "eval" / "wheel" / "wide" / "summary.md").read_text()
    assert "ppo-seed0" in summary and "as_inventory" in summary
