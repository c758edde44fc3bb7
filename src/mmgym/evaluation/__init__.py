"""Evaluation: policies on common seeded episodes."""

from mmgym.evaluation.rollout import run_episodes

__all__ = ["run_episodes"]
