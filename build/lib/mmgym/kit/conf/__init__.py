"""The training kit's Hydra configs, shipped inside the package (``pkg://mmgym.kit.conf``):
``config.yaml`` (training), ``evaluate.yaml`` and the groups ``market/``, ``agent/``,
``reward/``, ``experiment/``."""
