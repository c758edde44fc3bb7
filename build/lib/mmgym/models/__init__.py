"""Fitted supervised models, evaluated in numpy and read from files without pickle: the
adverse-selection detector (:mod:`mmgym.models.detector`) and the neural spread predictor
(:mod:`mmgym.models.predictor`). Their training data and fits are :mod:`mmgym.ml`'s."""
