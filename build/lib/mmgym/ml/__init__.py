"""The supervised side of ML market making: training data from rollouts (labelled fills,
:mod:`mmgym.ml.fills`; the ex-post best spread, :mod:`mmgym.ml.spread`), the fits and held-out
reports of the models of :mod:`mmgym.models` (:mod:`mmgym.ml.detector`,
:mod:`mmgym.ml.predictor`) and their figures (:mod:`mmgym.ml.plots`)."""
