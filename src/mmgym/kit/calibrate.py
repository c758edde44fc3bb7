"""``mmgym-calibrate``: the market configs of a calibration (:mod:`mmgym.data.calibration`).

Two configs are written, with the shipped ``conf/market/lob.yaml``'s structure:
``calibrated_<name>.yaml``, the simulated ``lob`` market with the calibrated parameters, and
``replay_<name>.yaml``, the ``replay`` market on the event file itself
(:func:`replay_config`), both with the calibrated baseline: ``mmgym-train
market=calibrated_<name> hydra.searchpath=[file://<dir>]`` trains on the simulation,
``market=replay_<name>`` on the recording's training range (its first 70%), and
``mmgym-evaluate`` compares on either (on the replay, on the remaining 30%, the evaluation
range, by default).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mmgym.data.calibration import (
    INVENTORY_ORDERS,
    REPLAY_EPISODE_SECONDS,
    REPLAY_SPLIT_FRACTION,
    STEP_SECONDS,
    Calibration,
    calibrate,
    summary,
)
from mmgym.data.recorder import read_klines
from mmgym.data.store import DataError, OutputError, check_output, read_events, replacing
from mmgym.kit.config import CONF_MODULE
from mmgym.markets.lob import LOBParams

LOB_CONFIG = files(CONF_MODULE) / "market" / "lob.yaml"
"""The default market's config, for BTCUSDT-like units (tick 0.1 USDT, sizes in BTC): the
calibrated one keeps its baseline's inventory skew γσ²T (risk aversion is a choice, not in the
data) and derives its policies' parameters and mean–variance γ from it
(:func:`policy_params`)."""


def policy_params(cal: Calibration, max_inventory: float,
                  lob: Any = None) -> dict[str, dict[str, Any]]:
    """The baselines' parameters (``policies:``) for the data of ``cal``, from lob.yaml's.

    lob.yaml's values are for BTCUSDT (tick 0.1 USDT, sizes in BTC, position limit 0.5 BTC)
    on the ``lob`` market's one-tick book. Written here, with h the data's median half-spread
    in ticks (:attr:`Touch.spread_median` / 2, time-sampled):

    - derived from the data: ``rule_based.offset_unit`` and ``oracle.tick`` = the tick (price
      units per offset unit) and ``rule_based.max_position`` = ``max_inventory`` (size units);
      ``fixed_spread.half_spread``, ``obi_skew.half_spread`` and
      ``obi_skew_inventory.half_spread`` = h (ticks: quote at the typical touch, joining the
      best quotes); ``rule_based.base_spread_bps`` = the median spread in bps of the mean mid
      (2h ticks: the rule-based bot's base quotes are fixed_spread's);
    - lob.yaml's proportions, rescaled: ``obi_skew.alpha`` = h/2 (lob.yaml's 4 for a
      half-spread of 8 ticks), ``obi_skew_inventory.phi`` (ticks per size unit) such that the
      shift at the position limit, φ·max_inventory, is h/80 ticks (lob.yaml's 0.1 tick for
      8), ``rule_based.skew_bps`` = ``base_spread_bps``/3 (lob.yaml's 0.1 for 0.3: at the
      position limit the quotes move by two thirds of the base half-spread);
    - the position bounds in orders, ``glft_exact.max_inventory`` and
      ``cartea_jaimungal.max_inventory`` = :data:`INVENTORY_ORDERS` (``max_inventory`` /
      ``unit``);
    - chosen, lob.yaml's: ``cartea_jaimungal.phi``/``alpha`` (ticks per order² per s and
      ticks per order²; lob.yaml's φ = γσ²/2 of its baseline, as is the calibrated lob
      config's, whose γσ²T and T are lob.yaml's),
      ``obi_skew_inventory.kappa`` (dimensionless), ``rule_based.shock_bps`` (a relative move
      of the mid; both real samples move about 1 bps/√s, as lob.yaml's market) and its other
      parameters, ``as_signals.alpha`` (ticks per unit of imbalance), and ``random``'s range
      [0, 20] ticks (the markets' action bound).
    """
    lob = OmegaConf.create(LOB_CONFIG.read_text()) if lob is None else lob
    policies = OmegaConf.to_container(lob.policies)
    h = float(cal.touch.spread_median) / 2
    base_bps = 2 * h * cal.tick / cal.mean_mid * 1e4
    inv = policies["obi_skew_inventory"]
    shift_per_half = inv["phi"] * float(lob.max_inventory) / inv["half_spread"]
    derived = {
        "glft_exact": {"max_inventory": INVENTORY_ORDERS},
        "cartea_jaimungal": {"max_inventory": INVENTORY_ORDERS},
        "obi_skew": {"half_spread": round(h, 4), "alpha": round(h / 2, 4)},
        "obi_skew_inventory": {"half_spread": round(h, 4),
                               "phi": float(f"{shift_per_half * h / max_inventory:.4g}")},
        "rule_based": {"base_spread_bps": float(f"{base_bps:.4g}"),
                       "skew_bps": float(f"{base_bps / 3:.4g}"),
                       "max_position": max_inventory, "offset_unit": float(cal.tick)},
        "fixed_spread": {"half_spread": round(h, 4)},
        "oracle": {"tick": float(cal.tick)},
    }
    for name, values in derived.items():
        policies[name] = {**policies.get(name, {}), **values}
    return policies


def market_config(cal: Calibration, T: float | None = None) -> dict[str, Any]:
    """The Hydra market config (conf/market/lob.yaml's structure) of a calibration.

    Calibrated: the ``lob`` parameters (:func:`lob_params`) and the baseline, the market
    model in ticks: σ (ticks/√s) the realized volatility, A (1/s) and k (1/tick) the
    intensity fit's, ``unit`` the agent's order size (size units). Derived: the position
    limit ``max_inventory`` = :data:`INVENTORY_ORDERS` orders (size units), the policies'
    parameters (:func:`policy_params`), and the evaluation's mean–variance γ
    (``risk_aversion``, 1/price units), lob.yaml's rescaled by (lob's tick × lob's
    ``max_inventory``) / (tick × ``max_inventory``): the same penalty for a PnL counted in
    ticks × position limits (a PnL c times larger needs γ c times smaller for the same
    ranking), and the default reward's inventory penalty in the data's units
    (``rewards.pnl_minus_inventory_penalty.inventory_penalty`` = γσ²·dt/2 with that γ, σ the
    realized volatility in price/√s and dt the 0.1-s step: the per-step variance cost of
    :class:`~mmgym.rewards.builtin.PnLMinusInventoryPenalty`). Chosen: T (s; lob.yaml's when
    None), and γ such that γσ²T equals lob.yaml's (the same inventory skew in ticks per
    order)."""
    lob = OmegaConf.create(LOB_CONFIG.read_text())
    skew_ticks = lob.baseline.gamma * lob.baseline.sigma**2 * lob.baseline.T
    sigma_ticks = cal.sigma_rv / cal.tick
    T = float(lob.baseline.T if T is None else T)
    max_inventory = round(INVENTORY_ORDERS * cal.params["quote_size"], 12)
    lob_tick = float(lob.params.get("tick", LOBParams.tick))
    risk_aversion = (float(lob.risk_aversion) * lob_tick * float(lob.max_inventory)
                     / (cal.tick * max_inventory))
    return {
        "defaults": ["market_schema"],
        "name": "lob",
        "params": dict(cal.params),
        "features": None,
        "feature_params": {},
        "max_inventory": max_inventory,
        "maker_fee_bps": 0.0,
        "taker_fee_bps": 0.0,
        "baseline": {
            "sigma": round(float(sigma_ticks), 4),
            "A": round(float(cal.intensity.A), 6),
            "k": round(float(cal.intensity.k * cal.tick), 6),
            "gamma": float(f"{skew_ticks / (sigma_ticks**2 * T):.4g}"),
            "T": T,
            "unit": cal.params["quote_size"],
        },
        "policies": policy_params(cal, max_inventory, lob),
        "risk_aversion": float(f"{risk_aversion:.4g}"),
        "rewards": {"pnl_minus_inventory_penalty": {"inventory_penalty": float(
            f"{risk_aversion * cal.sigma_rv**2 * STEP_SECONDS / 2:.4g}")}},
    }


def replay_config(cal: Calibration, data_path: str | Path) -> dict[str, Any]:
    """The Hydra config of the ``replay`` market on the calibrated event file itself
    (absolute ``data_path``, its tick and lot, episodes of :data:`REPLAY_EPISODE_SECONDS`),
    with :func:`market_config`'s baseline for that episode length and its policies: training
    and evaluation on the recording, the analytic policies knowing its calibrated model.
    Training plays the recording's training range (``range: train``, the first
    :data:`REPLAY_SPLIT_FRACTION` of its time span; ``split_seconds: null``), so that
    ``evaluate.py`` (its ``data_range``, by default ``eval``) plays windows it never saw."""
    config = market_config(cal, T=REPLAY_EPISODE_SECONDS)
    config["name"] = "replay"
    config["params"] = {
        "data_path": str(Path(data_path).resolve()),
        "episode_seconds": REPLAY_EPISODE_SECONDS,
        "range": "train",
        "split_fraction": REPLAY_SPLIT_FRACTION,
        "split_seconds": None,
        "tick": cal.tick,
        "lot": cal.lot,
        "quote_size": cal.params["quote_size"],
    }
    return config


def write_config(cal: Calibration, config: dict[str, Any], path: Path, force: bool = False,
                 inputs: Iterable[Path | None] = ()) -> None:
    """Write a market ``config`` as YAML to ``path`` atomically, the estimates as comments;
    ``path`` is never one of ``inputs`` and replaced only with ``force``
    (:func:`~mmgym.data.store.check_output`)."""
    check_output(path, inputs, force)
    head = "".join(f"# {line}\n" for line in [
        f"Calibrated by mmgym-calibrate ({__name__}) from {cal.source}; the estimators are",
        "documented in mmgym/data/calibration.py. Parameters not listed are the defaults.",
        "policies: offsets from the median spread, offset_unit the tick, sizes from",
        "max_inventory; risk_aversion rescaled to the tick and max_inventory (policy_params,",
        "market_config).",
        *summary(cal).splitlines()])
    text = head + OmegaConf.to_yaml(OmegaConf.create(config), sort_keys=False)
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """``mmgym-calibrate``: estimate σ, A, k and the lob parameters; write a market config
    (``--klines``: also Garman–Klass σ of the recording's klines, in the report)."""
    parser = argparse.ArgumentParser(
        prog="mmgym-calibrate",
        description="Calibrate the lob market and the Avellaneda-Stoikov baseline to an event "
                    "file and write conf/market/calibrated_<name>.yaml and replay_<name>.yaml.")
    parser.add_argument("events", type=Path, help="an event file (parquet, mmgym.data.schema)")
    parser.add_argument("--name", default=None, help="config name suffix (default: file stem)")
    parser.add_argument("-o", "--conf-dir", type=Path, default=Path("conf/market"),
                        help="where to write the configs (conf/market; created if missing)")
    parser.add_argument("--tick", type=float, default=None, help="tick size (default: metadata)")
    parser.add_argument("--lot", type=float, default=None, help="lot size (default: metadata)")
    parser.add_argument("--bar-seconds", type=float, default=1.0,
                        help="realized-volatility sampling interval, s (1)")
    parser.add_argument("--gk-bar-seconds", type=float, default=60.0,
                        help="Garman-Klass bar length, s (60)")
    parser.add_argument("--min-count", type=int, default=30,
                        help="least orders at a distance used in the intensity fit (30)")
    parser.add_argument("--klines", type=Path, default=None,
                        help="the recording (.jsonl.gz) the event file was imported from: "
                             "also report Garman-Klass sigma of its 1m klines")
    parser.add_argument("--force", action="store_true",
                        help="replace existing configs (without it: neither is written)")
    args = parser.parse_args(argv)
    inputs = [args.events, args.klines]
    try:
        name = args.name or re.sub(r"\W", "_", args.events.stem)
        if not re.fullmatch(r"\w+", name):
            raise ValueError(f"--name: {name!r} is not letters, digits and underscores")
        paths = {stem: args.conf_dir / f"{stem}.yaml"
                 for stem in (f"calibrated_{name}", f"replay_{name}")}
        for path in paths.values():  # both or neither, checked before the (slow) calibration
            check_output(path, inputs, args.force)
        events, metadata = read_events(args.events)
        units = {}
        for key, value in (("tick_size", args.tick), ("lot_size", args.lot)):
            raw = value if value is not None else metadata.get(f"mmgym.{key}")
            try:
                units[key] = float(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise DataError(f"{args.events}: no {key} in the metadata ({raw!r}); give "
                                f"--{key.split('_')[0]}") from None
            if not (math.isfinite(units[key]) and units[key] > 0):
                raise DataError(f"{key}: {units[key]} is not a finite number > 0")
        klines = None if args.klines is None else read_klines(args.klines)
        cal = calibrate(events, units["tick_size"], units["lot_size"], str(args.events),
                        args.bar_seconds, args.gk_bar_seconds, min_count=args.min_count,
                        klines=klines, klines_source=str(args.klines))
        configs = {
            f"calibrated_{name}": (market_config(cal), "the lob market, calibrated"),
            f"replay_{name}": (replay_config(cal, args.events), "the recording replayed"),
        }
        for stem, (config, _) in configs.items():
            write_config(cal, config, paths[stem], args.force, inputs)
    except (DataError, OutputError, ValueError) as e:
        print(f"mmgym-calibrate: {e}", file=sys.stderr)
        return 2
    print(summary(cal))
    for stem, (_, what) in configs.items():
        print(f"wrote {args.conf_dir / stem}.yaml ({what}): python train.py market={stem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
