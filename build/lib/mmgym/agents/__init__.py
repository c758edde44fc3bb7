"""Learning agents: tabular Q-learning (and, with the training kit, Stable-Baselines3)."""

from mmgym.agents.qlearning import QLearning

__all__ = ["QLearning"]
