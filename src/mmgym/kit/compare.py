"""An evaluation run from a composed configuration (``conf/evaluate.yaml``): every policy on
the same seeded episodes, the metrics with their intervals and paired differences, and the
outputs.

Everything that can fail on the user's input (configuration values, policy names and
parameters, checkpoints, a replay range too short for an episode) is checked before the
first episode is played, and nothing is written before then.

On a ``replay`` market the episodes are windows of the recording's evaluation range unless
``data_range`` says otherwise (``train``, ``all``, or None: the market config's ``range``);
the range and its interval of recorded time (seconds after the first event, UTC) are printed
before the first episode and head ``summary.md``.

Outputs in the run directory:

| file | content |
|---|---|
| ``summary.csv`` | one row per (policy, metric): value, interval, paired difference to the reference, its interval and its verdict (better, worse, differs, inconclusive, unranked: :func:`~mmgym.evaluation.metrics.verdict`) |
| ``summary.md`` | the tables as Markdown (with Avellaneda–Stoikov's layout on ``as2008``), headed on ``replay`` by the range played |
| ``episodes.parquet`` | the per-episode results of every policy (column ``policy``, index ``seed``; on ``replay``, ``window_start_s``) |
| ``*.png`` | ``pnl_distribution``, ``pnl_over_time``, ``inventory_paths``, ``quotes`` |
| ``tensorboard/`` | one run per policy and ``figures`` (:mod:`mmgym.evaluation.tensorboard`) |

On a multi-asset market (``multi_asset``) the tables, plots and TensorBoard runs show the
portfolio's metrics and each asset's (``mean_pnl_0``, ...:
:func:`mmgym.evaluation.metrics.metrics`), and ``episodes.parquet`` has each asset's columns
beside the portfolio's (:mod:`mmgym.evaluation.episodes`).

A training run ends with the same comparison (:func:`compare`, called by
:func:`mmgym.kit.training.compare`): its trained agent against Avellaneda–Stoikov, the files
above but the plots and TensorBoard runs in its ``comparison/``.
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from mmgym.evaluation import plots, report, tensorboard
from mmgym.evaluation.metrics import Bootstrap, Metric, metrics, summarize
from mmgym.evaluation.rollout import Rollout, data_window, rollout
from mmgym.kit.config import env_kwargs, validate_evaluation, with_data_range
from mmgym.kit.lineup import Contender, baseline, checkpoint, reward_optimal
from mmgym.markets.multi import MultiAssetMarket, MultiAssetParams
from mmgym.markets.replay import WindowRange
from mmgym.registry import POLICIES, import_plugins
from mmgym.validation import ConfigError
from mmgym.vector import MarketMakingVectorEnv

UNITS: dict[str, tuple[str, str, str]] = {
    "wide": ("USD", "shares", "s"),
    "lob": ("USDT", "BTC", "s"),
    "as2008": ("price units", "shares", "model time"),
    "replay": ("quote currency", "base currency", "s"),
}
"""Price, size and time units of each market, for the plots' labels (a multi-asset market's
are its leg's)."""


def lineup(cfg: Any, kwargs: dict[str, Any], trained: Sequence[Contender] = ()
           ) -> list[Contender]:
    """The ``trained`` agents given in memory, then the configured policies and checkpoints,
    the reference first when it is not listed. A baseline that is the optimum of the episodes'
    reward plays with that reward's parameters (:func:`mmgym.kit.lineup.reward_optimal`)
    unless ``policy_params`` sets them."""
    overrides = OmegaConf.to_container(cfg.policy_params, resolve=True)
    unknown = sorted(set(overrides) - set(cfg.policies) - {cfg.reference})
    if unknown:
        raise ConfigError(
            f"policy_params: {unknown} not among the evaluated policies {list(cfg.policies)}"
        )
    optimal = reward_optimal(kwargs)  # e.g. Cartea–Jaimungal with the reward's φ and α
    overrides = {name: optimal.get(name, {}) | overrides.get(name, {})
                 for name in {*optimal, *overrides}}
    contenders = [*trained]
    contenders += [baseline(name, cfg.market, overrides) for name in cfg.policies]
    contenders += [checkpoint(spec, i, cfg.market, kwargs)
                   for i, spec in enumerate(cfg.checkpoints)]
    labels = [c.label for c in contenders]
    if cfg.reference not in labels:
        if cfg.reference not in POLICIES:
            raise ConfigError(
                f"reference={cfg.reference!r}: not among the evaluated policies {labels}"
            )
        contenders.insert(0, baseline(cfg.reference, cfg.market, overrides))
    for c in contenders:  # every observation is buildable on this market, before any episode
        try:
            MarketMakingVectorEnv(1, **(kwargs | c.observation)).close()
        except ValueError as e:
            raise ConfigError(f"policy {c.label!r} cannot run on market "
                              f"{cfg.market.name!r}: {e}") from None
    seen: dict[str, int] = {}
    for c in contenders:
        seen[c.label] = seen.get(c.label, 0) + 1
        if seen[c.label] > 1:
            c.label = f"{c.label}#{seen[c.label]}"
    return contenders


def evaluate(cfg: Any, out: Path) -> pd.DataFrame:
    """Run the configured evaluation into ``out``; return the summary (see
    :func:`mmgym.evaluation.metrics.summarize`)."""
    import_plugins(cfg.plugins)
    validate_evaluation(cfg)
    kwargs = with_data_range(env_kwargs(cfg), cfg.data_range)
    window = data_window(kwargs)
    contenders = lineup(cfg, kwargs)
    if window is not None:
        print(f"data: {window}")
    return compare(cfg, contenders, kwargs, out, window)


def compare(cfg: Any, contenders: list[Contender], kwargs: dict[str, Any], out: Path,
            window: WindowRange | None) -> pd.DataFrame:
    """Play the ``contenders`` (:func:`lineup`) on ``cfg.episodes`` common episodes from seed
    ``cfg.seed`` of the environment ``kwargs`` (on a replay market, of ``window``), print
    the report and write the outputs (module doc) into ``out``; return the summary. The
    evaluation's comparison and the one that ends a training run
    (:func:`mmgym.kit.training.compare`)."""
    rollouts: dict[str, Rollout] = {}
    for c in contenders:
        rollouts[c.label] = rollout(
            c.policy, cfg.episodes, cfg.seed, markout_steps=cfg.markout_steps,
            progress=c.label if cfg.progress else None, **(kwargs | c.observation),
        )
        pnl = rollouts[c.label].episodes["pnl"]
        print(f"{c.label:>24}: mean PnL {pnl.mean():.4g} over {cfg.episodes} episodes")
    boot = Bootstrap(cfg.confidence, cfg.bootstrap_resamples, cfg.bootstrap_method, cfg.seed)
    assets = next(iter(rollouts.values())).assets
    metric_list = metrics(cfg.market.risk_aversion, assets)
    summary = summarize({k: r.episodes for k, r in rollouts.items()}, cfg.reference,
                        metric_list, boot)
    _write(cfg, out, contenders, rollouts, summary, metric_list, window)
    return summary


def _write(cfg: Any, out: Path, contenders: list[Contender], rollouts: dict[str, Rollout],
           summary: pd.DataFrame, metric_list: tuple[Metric, ...],
           window: WindowRange | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    title = (f"{cfg.market.name}: {cfg.episodes} common episodes (seeds {cfg.seed}–"
             f"{cfg.seed + cfg.episodes - 1}); mean–variance γ = {cfg.market.risk_aversion:g}")
    if window is not None:
        title += f"\n\ndata: {window}"
    assets = next(iter(rollouts.values())).assets
    if assets > 1:
        title += (f"\n\na portfolio of {assets} assets: a metric without a suffix is the "
                  "portfolio's (PnL summed over the assets, drawdown of the summed PnL, gross "
                  "mean |inventory|, net final inventory), metric_<a> asset a's")
    printed = report.text(summary, metric_list, cfg.reference, cfg.confidence)
    markdown = report.text(summary, metric_list, cfg.reference, cfg.confidence, fmt="github")
    if cfg.market.name == "as2008":
        layout = report.paper_layout(summary)
        printed += "\n\nAs in Avellaneda & Stoikov (2008), Tables 1–3\n" + layout.to_string(
            float_format="{:.4g}".format)
        markdown += ("\n\nAs in Avellaneda & Stoikov (2008), Tables 1–3\n\n"
                     + layout.to_markdown(floatfmt=".4g"))
    print(f"\n{title}\n\n{printed}\n")
    (out / "summary.md").write_text(f"{title}\n\n{markdown}\n")
    summary.to_csv(out / "summary.csv")
    episodes = pd.concat({k: r.episodes for k, r in rollouts.items()}, names=["policy"])
    episodes.reset_index("policy").to_parquet(out / "episodes.parquet")
    figures = {}
    if cfg.plots:
        price, size, time = UNITS.get(_leg(cfg.market), ("price units", "size units", "time"))
        figures = {
            "pnl_distribution": plots.pnl_distribution(rollouts, cfg.reference, price),
            "pnl_over_time": plots.pnl_over_time(rollouts, price, time),
            "inventory_paths": plots.inventory_paths(rollouts, cfg.trace_episodes, size, time),
            "quotes": plots.quotes(rollouts, cfg.quote_steps, price, time),
        }
        plots.save(figures, out)
    if cfg.tensorboard:
        tensorboard.write(out / "tensorboard", rollouts, summary, metric_list,
                          {c.label: c.params for c in contenders}, figures)
    print(f"results in {out}")


def _leg(market: Any) -> str:
    """The market of a market config's assets: a multi-asset market's leg, else itself."""
    if market.name != MultiAssetMarket.name:
        return market.name
    return market.params.get("leg", MultiAssetParams.leg)
