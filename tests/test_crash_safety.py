"""Crash safety of training: checkpoints written atomically (a failed write leaves the old
one), a run directory locked against a second run, and runs killed with SIGKILL at random
moments that resume from their newest checkpoint (``benchmarks/kill_resume.py``)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from omegaconf import OmegaConf
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

from mmgym.agents import QLearning
from mmgym.agents import sb3 as sb3_agents
from mmgym.kit.training import latest_checkpoint, run_lock, train
from mmgym.sb3_vec_env import MarketMakingSB3VecEnv
from mmgym.validation import ConfigError
from mmgym.vector import MarketMakingVectorEnv
from mmgym.wrappers import Bins, QuoteGrid

ROOT = Path(__file__).resolve().parents[1]


def _kill_resume() -> Any:
    spec = importlib.util.spec_from_file_location("kill_resume",
                                                  ROOT / "benchmarks" / "kill_resume.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def _half_then_fail(write_to: Any) -> None:
    """Write part of a file to ``write_to`` (a path or an open file), then fail."""
    if isinstance(write_to, (str, Path)):
        Path(write_to).write_bytes(b"PK\x03\x04 half a checkpoint")
    else:
        write_to.write(b"PK\x03\x04 half a checkpoint")
    raise OSError("disk full")


def _no_temporary_files(directory: Path) -> bool:
    return not list(directory.glob(".*.tmp"))


def test_a_failed_qtable_write_leaves_the_old_one(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    env = MarketMakingVectorEnv(2, market="as2008")
    agent = QLearning(Bins(env.feature_names, {"inventory": [0.0]}), QuoteGrid([0.5], [0.5]))
    agent.steps = 100
    path = agent.save(tmp_path / "qtable.npz")
    agent.steps = 200
    monkeypatch.setattr(np, "savez", lambda f, **_: _half_then_fail(f))
    with pytest.raises(OSError, match="disk full"):
        agent.save(path)
    assert QLearning.load(path).steps == 100
    assert _no_temporary_files(tmp_path)


@pytest.mark.parametrize("failing", ["model", "stats"])
def test_a_failed_sb3_checkpoint_write_leaves_the_old_pair(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    venv = VecNormalize(MarketMakingSB3VecEnv(2, market="as2008", normalize_actions=True))
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, seed=0, device="cpu")
    path = tmp_path / "model_64.zip"
    sb3_agents.save(model, path)
    stats = path.read_bytes(), path.with_suffix(".vecnormalize.pkl").read_bytes()
    model.num_timesteps = 128
    venv.obs_rms.mean += 1.0
    if failing == "model":
        monkeypatch.setattr(PPO, "save", lambda self, f, **_: _half_then_fail(f))
    else:
        monkeypatch.setattr(VecNormalize, "save", lambda self, f: _half_then_fail(f))
    with pytest.raises(OSError, match="disk full"):
        sb3_agents.save(model, path)
    assert (path.read_bytes(), path.with_suffix(".vecnormalize.pkl").read_bytes()) == stats
    fresh = MarketMakingSB3VecEnv(2, market="as2008", normalize_actions=True)
    assert sb3_agents.load("PPO", path, fresh).num_timesteps == 0
    assert _no_temporary_files(tmp_path)


def test_latest_checkpoint_is_the_last_written(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path) is None
    (tmp_path / "checkpoints").mkdir()
    for i, name in enumerate(["checkpoints/model_1024.zip", "checkpoints/model_512.zip",
                              "checkpoints/.model_2048.zip.7.tmp", "checkpoints/x.zip"]):
        (tmp_path / name).write_bytes(b"")
        os.utime(tmp_path / name, ns=(i * 10**9, i * 10**9))
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoints/model_512.zip"


def test_a_second_run_in_a_locked_directory_is_refused(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_module

    from mmgym.kit.config import CONF_MODULE, register

    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        cfg = compose("config", overrides=["progress=false", "agent=qlearning",
                                           "market=as2008", "total_timesteps=100",
                                           "eval_episodes=0"])
    message = rf"run directory '{tmp_path}' is in use by another training run \(pid {os.getpid()}\)"
    first = tmp_path / ".hydra" / "config.yaml"  # the first run's, which evaluation reads
    first.parent.mkdir()
    first.write_text("the first run's configuration\n")
    with run_lock(tmp_path):
        with pytest.raises(ConfigError, match=message):
            train(cfg, tmp_path)
        cli = subprocess.run(
            [sys.executable, "train.py", "agent=qlearning", "market=as2008",
             "total_timesteps=100", "progress=false", f"hydra.run.dir={tmp_path}"],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
            env=os.environ | {"PYTHONPATH": str(ROOT / "src")})
    assert cli.returncode == 1
    refusal = cli.stderr.strip().splitlines()[-1]
    assert refusal.startswith(f"error: {message}".replace("\\", "")), refusal
    assert not (tmp_path / "qtable.npz").exists()
    assert first.read_text() == "the first run's configuration\n"  # nothing overwritten
    assert not (tmp_path / ".hydra" / "overrides.yaml").exists()
    train(cfg, tmp_path)  # released
    assert OmegaConf.load(first).agent.algo == "qlearning"
    assert (tmp_path / "qtable.npz").is_file()


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_a_resumable_checkpoint(tmp_path: Path) -> None:
    """20 SIGKILLs (10 of Q-learning, 10 of PPO, on as2008): after each, the newest
    checkpoint loads and a run resumed from it completes (``benchmarks/kill_resume.py``)."""
    rounds = _kill_resume().kill_and_resume(["qlearning", "ppo"], 10, seed=0, root=tmp_path)
    assert len(rounds) == 20
    assert all(r.resumed_to > r.steps > 0 for r in rounds)
