"""The training and evaluation kit: Hydra configs (``conf/``, shipped in the package), their
schemas, training runs, TensorBoard tracking, the policy comparison, market facts, sweeps and
the command lines (``mmgym-train``, ``mmgym-evaluate``, ``mmgym-calibrate``).

The kit sits above the library (markets, features, rewards, policies, agents, the
environments, evaluation metrics and plots), which never imports it.
"""
