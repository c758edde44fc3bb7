"""Console entry points ``mmgym-train``, ``mmgym-evaluate`` and ``mmgym-fit`` (also ``train.py`` and
``evaluate.py`` at the repository root).

Both are Hydra applications on the configs shipped in the package (``mmgym/kit/conf``,
``pkg://mmgym.kit.conf``; the repository's ``conf/`` links there): ``mmgym-train
agent=qlearning market=as2008 seed=3 total_timesteps=200000`` on ``config.yaml``,
``mmgym-evaluate market=lob episodes=1000`` on ``evaluate.yaml``; ``-m`` sweeps
(``agent=ppo,qlearning seed=0,1,2``). ``hydra.searchpath=[file://<dir>]`` adds a directory
of the user's own configs (``<dir>/market/<name>.yaml``, ...).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mmgym.kit.config import CONF_MODULE, register
from mmgym.validation import ConfigError

CONF_PATH = f"pkg://{CONF_MODULE}"
"""Hydra's search path of the configs."""


def _train(cfg: DictConfig) -> None:
    from mmgym.kit.training import train as run

    try:
        run(cfg, Path(HydraConfig.get().runtime.output_dir))
    except ConfigError as e:
        sys.exit(f"error: {e}")


def train() -> None:
    """Train an agent (Hydra main; see ``conf/config.yaml``)."""
    register()
    hydra.main(config_path=CONF_PATH, config_name="config", version_base="1.3")(_train)()


def _evaluate(cfg: DictConfig) -> None:
    from mmgym.kit.compare import evaluate as run

    try:
        run(cfg, Path(HydraConfig.get().runtime.output_dir))
    except (ConfigError, ValueError) as e:
        sys.exit(f"error: {e}")


def evaluate() -> None:
    """Compare policies on common seeded episodes (Hydra main; see ``conf/evaluate.yaml``)."""
    register()
    hydra.main(config_path=CONF_PATH, config_name="evaluate", version_base="1.3")(_evaluate)()


def _fit(cfg: DictConfig) -> None:
    from mmgym.kit.fit import fit as run

    try:
        run(cfg, Path(HydraConfig.get().runtime.output_dir))
    except (ConfigError, ValueError) as e:
        sys.exit(f"error: {e}")


def fit() -> None:
    """Fit a supervised model on a policy's fills (Hydra main; see ``conf/fit.yaml``)."""
    register()
    hydra.main(config_path=CONF_PATH, config_name="fit", version_base="1.3")(_fit)()
