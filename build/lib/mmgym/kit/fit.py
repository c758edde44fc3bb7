"""``mmgym-fit``: fit a supervised model on a policy's fills and report it on held-out
episodes (:class:`mmgym.kit.config.FitConfig`).

``model=detector`` (:mod:`mmgym.ml.detector`), parameters ``horizon`` (steps of the markout
that labels a fill adverse), ``regularization`` (scikit-learn's C) and ``bins`` (of the
calibration curve). Writes, in the run directory: ``detector.json`` (the model, with the
features and scaling it expects and its report), ``report.json`` and ``calibration.png``.

``model=spread`` (:mod:`mmgym.ml.predictor`, its target :mod:`mmgym.ml.spread`), parameters
``half_spreads`` (the grid, offset units), ``skew`` (the grid's inventory skew at the position
limit, offset units), ``window`` and ``horizon`` (steps), ``inventory_penalty`` (φ, price
units per size² per time unit), ``stride`` (steps between samples), ``objective`` (``score``
or ``mse``), ``hidden``, ``epochs``, ``batch_size``, ``learning_rate``, ``seed``. The data are
the grid's fixed-spread runs (``base`` is not used); the inputs are ``features`` without
``inventory`` (the policy skews for it). Writes ``spread_predictor.safetensors``,
``report.json`` and ``prediction.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mmgym.kit.config import env_kwargs, validate_fit, with_data_range
from mmgym.kit.lineup import baseline
from mmgym.ml.detector import evaluate_detector, fit_detector
from mmgym.ml.fills import collect_fills
from mmgym.ml.plots import calibration, spread_prediction
from mmgym.ml.predictor import OBJECTIVES, evaluate_predictor, fit_predictor
from mmgym.ml.spread import spread_samples
from mmgym.registry import import_plugins
from mmgym.validation import ConfigError, check_choice, check_known_keys, check_number

DETECTOR_PARAMS = {"horizon": 10, "regularization": 1.0, "bins": 10}
SPREAD_PARAMS = {"half_spreads": [5, 7, 9, 11, 13, 15, 19], "skew": 10.0, "window": 600,
                 "horizon": 300, "inventory_penalty": 2.9e-6, "stride": 25,
                 "objective": "score", "hidden": [64, 64], "epochs": 20, "batch_size": 256,
                 "learning_rate": 1e-3, "seed": 0}
MODELS = {"detector": DETECTOR_PARAMS, "spread": SPREAD_PARAMS}
"""The models and their parameters' defaults."""


def fit(cfg: Any, out: Path) -> dict[str, Any]:
    """Fit the configured model into ``out``; return its held-out report."""
    import_plugins(cfg.plugins)
    validate_fit(cfg)
    check_choice("model.name", cfg.model.name, MODELS)
    params = OmegaConf.to_container(cfg.model.params, resolve=True)
    check_known_keys("model.params", params, MODELS[cfg.model.name])
    params = MODELS[cfg.model.name] | params
    if cfg.model.name == "spread":
        return _fit_spread(cfg, params, out)
    check_number("model.params.horizon", params["horizon"], low=1, integer=True)
    check_number("model.params.regularization", params["regularization"], low=0,
                 low_open=True)
    check_number("model.params.bins", params["bins"], low=2, integer=True)
    cfg.market.features = list(cfg.features)
    base = baseline(cfg.base, cfg.market)
    kwargs = env_kwargs(cfg) | base.observation
    data = {"train": (cfg.train_episodes, cfg.train_seed), "test": (cfg.test_episodes,
                                                                   cfg.test_seed)}
    fills = {}
    for part, (episodes, seed) in data.items():
        part_kwargs = with_data_range(kwargs, "train" if part == "train" else "eval")
        if cfg.progress:
            print(f"{part}: {base.label}'s fills on {episodes} episodes from seed {seed}")
        fills[part] = collect_fills(base.policy, episodes, seed, params["horizon"],
                                    part_kwargs, progress=cfg.progress).select(cfg.features)
    try:
        detector = fit_detector(fills["train"], params["regularization"],
                                {f: kwargs["feature_params"][f] for f in cfg.features
                                 if f in kwargs["feature_params"]})
    except ValueError as e:
        raise ConfigError(f"model=detector: {e}") from None
    report = evaluate_detector(detector, fills["test"], params["bins"])
    report["train_fills"] = len(fills["train"].side)
    detector.meta = {"market": cfg.market.name, "base": base.label,
                     "base_params": base.params, "train": data["train"],
                     "test": data["test"], "report": report}
    out.mkdir(parents=True, exist_ok=True)
    detector.save(out / "detector.json")
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    calibration(detector, fills["test"], params["bins"]).savefig(out / "calibration.png",
                                                                 dpi=150)
    print(summary(report, out))
    return report


def summary(report: dict[str, Any], out: Path) -> str:
    """The held-out report, a few lines."""
    lines = [f"held-out fills: {report['fills']} (training: {report['train_fills']}), markout "
             f"at {report['horizon']} steps"]
    for side in ("bid", "ask", "all"):
        r = report[side]
        lines.append(f"  {side:>3}: AUC {r['auc']:.3f}, adverse rate {r['adverse_rate']:.3f} "
                     f"({r['fills']} fills)")
    lines.append(f"wrote {out / 'detector.json'}, {out / 'report.json'}, "
                 f"{out / 'calibration.png'}")
    return "\n".join(lines)


def _fit_spread(cfg: Any, params: dict[str, Any], out: Path) -> dict[str, Any]:
    for name in ("window", "horizon", "stride", "epochs", "batch_size", "seed"):
        check_number(f"model.params.{name}", params[name], low=1 if name != "seed" else 0,
                     integer=True)
    for name in ("inventory_penalty", "skew"):
        check_number(f"model.params.{name}", params[name], low=0)
    check_number("model.params.learning_rate", params["learning_rate"], low=0, low_open=True)
    check_choice("model.params.objective", params["objective"], OBJECTIVES)
    hidden = params["hidden"]
    if not (isinstance(hidden, list) and len(hidden) == 2
            and all(isinstance(h, int) and h >= 1 for h in hidden)):
        raise ConfigError(f"model.params.hidden={hidden!r}: expected two layer widths >= 1")
    if "inventory" not in cfg.features:
        raise ConfigError(f"features={list(cfg.features)}: the spread model's runs skew by "
                          "inventory; add 'inventory'")
    inputs = [f for f in cfg.features if f != "inventory"]
    cfg.market.features = list(cfg.features)
    kwargs = env_kwargs(cfg)
    samples = {}
    for part, episodes, seed, data_range in (("train", cfg.train_episodes, cfg.train_seed,
                                              "train"),
                                             ("test", cfg.test_episodes, cfg.test_seed, "eval")):
        if cfg.progress:
            print(f"{part}: {len(params['half_spreads'])} fixed spreads on {episodes} "
                  f"episodes from seed {seed}")
        samples[part] = spread_samples(
            with_data_range(kwargs, data_range), params["half_spreads"], params["skew"],
            episodes, seed, params["window"], params["horizon"], params["inventory_penalty"],
            params["stride"], inputs, progress=cfg.progress)
    predictor = fit_predictor(
        samples["train"], params["objective"], tuple(hidden), params["epochs"],
        params["batch_size"], params["learning_rate"], params["seed"],
        {f: kwargs["feature_params"][f] for f in inputs if f in kwargs["feature_params"]},
        progress=cfg.progress)
    report = evaluate_predictor(predictor, samples["test"])
    report["train_samples"] = len(samples["train"].target)
    predictor.meta = {"market": cfg.market.name, "skew": params["skew"],
                      "params": params, "train": [cfg.train_episodes, cfg.train_seed],
                      "test": [cfg.test_episodes, cfg.test_seed], "report": report}
    out.mkdir(parents=True, exist_ok=True)
    predictor.save(out / "spread_predictor.safetensors")
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    spread_prediction(predictor, samples["test"], report).savefig(out / "prediction.png",
                                                                  dpi=150)
    print(f"held-out samples: {report['samples']} (training: {report['train_samples']})\n"
          f"  spread: RMSE {report['rmse']:.3f}, MAE {report['mae']:.3f} against the ex-post "
          f"best (a constant: RMSE {report['rmse_constant']:.3f})\n"
          f"  window score: predicted {report['score_predicted']:.4g}, best fixed "
          f"({report['best_fixed_spread']:g}) {report['score_best_fixed']:.4g}, ex-post best "
          f"{report['score_ex_post']:.4g}\n"
          f"wrote {out / 'spread_predictor.safetensors'}, {out / 'report.json'}, "
          f"{out / 'prediction.png'}")
    return report
