"""Learners that win, measured (slow): the presets train agents that beat the baselines on
common evaluation episodes disjoint from their training, by paired 95% intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from test_training import config

from mmgym.config import env_kwargs
from mmgym.evaluation import run_episodes
from mmgym.evaluation.lineup import baseline, checkpoint
from mmgym.evaluation.metrics import Bootstrap, mean
from mmgym.training import train

EPISODES = 500


def _pnl(contender, kwargs: dict) -> np.ndarray:
    played = run_episodes(contender.policy, EPISODES, seed=0, **(kwargs | contender.observation))
    return played["pnl"].to_numpy()


@pytest.mark.slow
def test_ppo_on_wide_beats_avellaneda_stoikov_and_the_book_reading_baselines(
        tmp_path: Path) -> None:
    # wide_ppo's recipe on a quarter of its steps (about 1.5 minutes on one idle core)
    cfg = config("experiment=wide_ppo", "total_timesteps=5000000", "checkpoint_every=0",
                 "eval_episodes=0")
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(cfg, tmp_path / ".hydra" / "config.yaml")  # as train.py's Hydra run does
    train(cfg, tmp_path)
    evaluation = config("market=wide")  # evaluated on PnL, the market's own observation
    kwargs = env_kwargs(evaluation)
    ppo = _pnl(checkpoint(str(tmp_path / "model.zip"), 0, evaluation.market, kwargs), kwargs)
    boot = Bootstrap()
    for name in ("as_inventory", "as_signals", "glft"):
        low = boot.estimate(mean, ppo, _pnl(baseline(name, evaluation.market), kwargs))[1]
        assert low > 0, f"PPO − {name}: paired interval's low end {low:.2f} ≤ 0"
