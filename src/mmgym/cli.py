"""Console entry points ``mmgym-train`` and ``mmgym-evaluate`` (also ``train.py`` and
``evaluate.py`` at the repository root).

``mmgym-train`` is a Hydra application on ``conf/`` (the repository's, found from the
installed source tree): ``mmgym-train agent=qlearning market=as2008 seed=3
total_timesteps=200000``; ``-m`` sweeps (``agent=ppo,qlearning seed=0,1,2``).
"""

from __future__ import annotations

import argparse
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


def evaluate(argv: list[str] | None = None) -> None:
    """Policy comparison: not yet available (evaluation-kit issue)."""
    argparse.ArgumentParser(prog="mmgym-evaluate", description=evaluate.__doc__).parse_args(argv)
    print("mmgym-evaluate: not yet available (evaluation-kit issue).")
