"""``mmgym-fit``: fit a supervised model on a policy's fills and report it on held-out
episodes (:class:`mmgym.kit.config.FitConfig`).

``model=detector`` (:mod:`mmgym.ml.detector`), parameters ``horizon`` (steps of the markout
that labels a fill adverse), ``regularization`` (scikit-learn's C) and ``bins`` (of the
calibration curve). Writes, in the run directory: ``detector.json`` (the model, with the
features and scaling it expects and its report), ``report.json`` and ``calibration.png``.
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
from mmgym.ml.plots import calibration
from mmgym.registry import import_plugins
from mmgym.validation import ConfigError, check_choice, check_known_keys, check_number

MODELS = ("detector",)
DETECTOR_PARAMS = {"horizon": 10, "regularization": 1.0, "bins": 10}


def fit(cfg: Any, out: Path) -> dict[str, Any]:
    """Fit the configured model into ``out``; return its held-out report."""
    import_plugins(cfg.plugins)
    validate_fit(cfg)
    check_choice("model.name", cfg.model.name, MODELS)
    params = OmegaConf.to_container(cfg.model.params, resolve=True)
    check_known_keys("model.params", params, DETECTOR_PARAMS)
    params = DETECTOR_PARAMS | params
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
