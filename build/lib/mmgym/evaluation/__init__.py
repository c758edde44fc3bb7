"""Evaluation: every policy on common seeded episodes, metrics with bootstrap intervals and
paired differences, tables, plots, TensorBoard runs and sensitivity sweeps
(``evaluate.py``; see :mod:`mmgym.kit.compare`)."""

from mmgym.evaluation.rollout import (
    EPISODE_COLUMNS,
    Rollout,
    data_window,
    rollout,
    run_episodes,
)

__all__ = ["EPISODE_COLUMNS", "Rollout", "data_window", "rollout", "run_episodes"]
