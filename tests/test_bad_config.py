"""Every bad configuration value fails before the first training step, in one line naming
the field, the value and what is allowed: nothing is trained or written first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from mmgym.kit.config import CONF_MODULE, register
from mmgym.kit.training import train
from mmgym.validation import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def config(*overrides: str):
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return compose("config", overrides=["progress=false", "total_timesteps=100",
                                            "eval_episodes=2", *overrides])


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any agent's learning starts."""
    from stable_baselines3.common.base_class import BaseAlgorithm

    from mmgym.agents import QLearning

    def reached(*args: object, **kwargs: object) -> None:
        raise AssertionError("training started")

    monkeypatch.setattr(BaseAlgorithm, "learn", reached)
    monkeypatch.setattr(QLearning, "learn", reached)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+agent.kwargs.n_step=64"],
         r"^agent.kwargs.n_step=64: not an argument of PPO; allowed: .*\bn_steps\b"),
        (["agent=sac", "+agent.kwargs.n_epochs=5"],
         r"^agent.kwargs.n_epochs=5: not an argument of SAC; allowed: .*\bgradient_steps\b"),
        (["+agent.kwargs.seed=3"], r"^agent.kwargs.seed=3: set by the run \(from seed\)"),
        (["agent=qlearning", "market=as2008", "+agent.kwargs.learnin_rate=0.1"],
         r"^agent.kwargs: unknown argument\(s\) 'learnin_rate'; allowed: .*\blearning_rate\b"),
        (["agent=qlearning", "market=as2008", "agent.kwargs.learning_rate=nan"],
         r"^agent.kwargs.learning_rate=nan: expected a finite number in \(0, 1\]"),
        (["agent.algo=DQN"],
         r"^agent.algo='DQN': supports Discrete action spaces only; this environment's is Box"),
        (["agent=sac", "agent.algo=DQN"], r"^agent.algo='DQN': supports Discrete action"),
        (["agent.policy=FooPolicy"], r"^agent.policy='FooPolicy': "),
        (["agent.kwargs.learning_rate=nan"],
         r"^agent.kwargs.learning_rate=nan: expected a finite number"),
        (["agent.kwargs.gamma=inf"], r"^agent.kwargs.gamma=inf: expected a finite number"),
        (["+agent.policy_kwargs.net_arch=[64,-1]"],
         r"^agent.policy_kwargs.net_arch\[1\]=-1: out of range, allowed \[1, inf\]"),
        (["+agent.policy_kwargs.net_arch={pi:[64],vf:[0.5]}"],
         r"^agent.policy_kwargs.net_arch.vf\[0\]=0.5: expected an integer"),
        (["agent.kwargs.batch_size=1"],
         r"^agent.kwargs, agent.policy_kwargs: PPO rejects them: `batch_size` must be"),
        (["market.baseline.sigma=nan"],
         r"^market.baseline.sigma=nan: expected a finite number in \[0, inf\]"),
        (["market.baseline.k=-1"], r"^market.baseline.k=-1: out of range, allowed \(0, inf\]"),
        (["+market.params.episode_seconds=1e12"],
         r"^episode_seconds=1000000000000.0: out of range, allowed \(0.1, 1e\+06\]"),
        (["+market.params.episode_seconds=inf"],
         r"^episode_seconds=inf: expected a finite number in \(0.1, 1e\+06\]"),
        (["market=lob", "+market.params.episode_seconds=1e12"],
         r"^episode_seconds=1000000000000.0: out of range, allowed \(0.1, 1e\+06\]"),
        (["market=as2008", "+market.params.T=1e12"],
         r"^T=1000000000000.0: T/dt = 2e\+14 steps of dt=0.005; allowed at most 10,000,000"),
        (["+market.params.episode_seconds=1e6", "eval_episodes=200"],
         r"^eval_episodes=200: 200 episodes of 10,000,000 steps keep 22.7 GiB .* allowed 1 GiB, "
         r"at most 5 episodes"),
    ],
)
@pytest.mark.usefixtures("no_training")
def test_bad_value_fails_before_training(tmp_path: Path, overrides: list[str],
                                         message: str) -> None:
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=message) as error:
        train(config(*overrides), out)
    assert "\n" not in str(error.value)
    # no checkpoint, model or log: at most the run's lock and its configuration
    written = {p.relative_to(out).as_posix() for p in out.rglob("*")} if out.exists() else set()
    assert written <= {".lock", ".hydra", ".hydra/config.yaml"}, written


def test_command_line_prints_one_line(tmp_path: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "agent.algo=DQN", "total_timesteps=100",
         "progress=false", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [lines[-1]] and lines[0].startswith("error: agent.algo='DQN': supports "
                                                        "Discrete action spaces only"), done.stderr
    assert "Traceback" not in done.stderr
    assert not list((tmp_path / "run").glob("*.zip"))
