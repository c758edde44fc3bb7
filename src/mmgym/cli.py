"""Console entry points ``mmgym-train`` and ``mmgym-evaluate`` (also ``train.py`` and
``evaluate.py`` at the repository root).

Both are Hydra applications on ``conf/`` (the repository's, found from the installed source
tree): ``mmgym-train agent=qlearning market=as2008 seed=3 total_timesteps=200000`` on
``config.yaml``, ``mmgym-evaluate market=lob episodes=1000`` on ``evaluate.yaml``; ``-m``
sweeps (``agent=ppo,qlearning seed=0,1,2``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mmgym.config import register
from mmgym.validation import ConfigError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def _train(cfg: DictConfig) -> None:
    from mmgym.training import train as run

    try:
        run(cfg, Path(HydraConfig.get().runtime.output_dir))
    except ConfigError as e:
        sys.exit(f"error: {e}")


def train() -> None:
    """Train an agent (Hydra main; see ``conf/config.yaml``)."""
    register()
    hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(_train)()


def _evaluate(cfg: DictConfig) -> None:
    from mmgym.evaluation.compare import evaluate as run

    try:
        run(cfg, Path(HydraConfig.get().runtime.output_dir))
    except (ConfigError, ValueError) as e:
        sys.exit(f"error: {e}")


def evaluate() -> None:
    """Compare policies on common seeded episodes (Hydra main; see ``conf/evaluate.yaml``)."""
    register()
    hydra.main(config_path=str(CONF_DIR), config_name="evaluate", version_base="1.3")(_evaluate)()
