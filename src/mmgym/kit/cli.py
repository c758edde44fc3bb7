"""Console entry points ``mmgym-train``, ``mmgym-evaluate``, ``mmgym-fit`` and ``mmgym-paper``
(also ``train.py`` and ``evaluate.py`` at the repository root).

They are Hydra applications on the configs shipped in the package (``mmgym/kit/conf``,
``pkg://mmgym.kit.conf``; the repository's ``conf/`` links there): ``mmgym-train
agent=qlearning market=as2008 seed=3 total_timesteps=200000`` on ``config.yaml``,
``mmgym-evaluate market=lob episodes=1000`` on ``evaluate.yaml``, ``mmgym-paper
source.symbol=BTC/USDT:USDT`` on ``paper.yaml``; ``-m`` sweeps
(``agent=ppo,qlearning seed=0,1,2``). ``hydra.searchpath=[file://<dir>]`` adds a directory
of the user's own configs (``<dir>/market/<name>.yaml``, ...).
"""

from __future__ import annotations

import sys
from importlib import import_module
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from mmgym.kit.config import CONF_MODULE, register
from mmgym.validation import ConfigError

CONF_PATH = f"pkg://{CONF_MODULE}"
"""Hydra's search path of the configs."""


def _main(config_name: str, module: str, function: str,
          errors: tuple[type[Exception], ...]) -> None:
    """Run ``module.function(cfg, run directory)`` as a Hydra application on
    ``conf/<config_name>.yaml``; an error of ``errors`` ends it with one ``error: ...`` line.
    The module is imported once the configuration is composed, so ``--help`` stays quick."""
    register()

    def task(cfg: DictConfig) -> None:
        run = getattr(import_module(module), function)
        try:
            run(cfg, Path(HydraConfig.get().runtime.output_dir))
        except errors as e:
            sys.exit(f"error: {e}")

    hydra.main(config_path=CONF_PATH, config_name=config_name, version_base="1.3")(task)()


def train() -> None:
    """Train an agent (Hydra main; see ``conf/config.yaml``)."""
    _main("config", "mmgym.kit.training", "train", (ConfigError,))


def evaluate() -> None:
    """Compare policies on common seeded episodes (Hydra main; see ``conf/evaluate.yaml``)."""
    _main("evaluate", "mmgym.kit.compare", "evaluate", (ConfigError, ValueError))


def fit() -> None:
    """Fit a supervised model on a policy's fills (Hydra main; see ``conf/fit.yaml``)."""
    _main("fit", "mmgym.kit.fit", "fit", (ConfigError, ValueError))


def paper() -> None:
    """Paper-trade a streamed order book (Hydra main; see ``conf/paper.yaml``)."""
    _main("paper", "mmgym.kit.paper", "paper", (ConfigError, ValueError))
