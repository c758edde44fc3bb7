"""The supervised side of ML market making: labelled fills from rollouts
(:mod:`mmgym.ml.fills`) and the adverse-selection detector (:mod:`mmgym.ml.detector`)."""
