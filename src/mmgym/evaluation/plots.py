"""The evaluation's figures: PnL distributions, PnL over time, inventory paths, and quotes
against the mid on one episode.

On a multi-asset market each figure shows the portfolio and the assets: the PnL distributions
and paths of the portfolio, then of each asset; the inventory paths of every asset (a colour
each); the quotes of every asset, a panel per policy and asset.

Built with matplotlib's object-oriented API (no pyplot, so no global figure state and no
display needed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mmgym.evaluation.episodes import asset_column
from mmgym.evaluation.rollout import Rollout


def pnl_distribution(rollouts: dict[str, Rollout], reference: str, unit: str) -> Figure:
    """Violins of the episodes' final PnL per policy, and of the paired differences to
    ``reference`` episode by episode; on a multi-asset market the portfolio's, then each
    asset's final PnL per policy below them."""
    names = list(rollouts)
    color = dict(zip(names, _colors(len(names)), strict=True))
    assets = _assets(rollouts)
    rows = 1 if assets == 1 else 1 + math.ceil(assets / 2)
    fig = Figure(figsize=(12, 4.5 * rows), layout="constrained")
    axes = fig.subplots(rows, 2, squeeze=False)
    left, right = axes[0]
    pnl = [rollouts[n].episodes["pnl"].to_numpy() for n in names]
    _violins(left, pnl, names, [color[n] for n in names])
    left.set_title("Final PnL per episode" if assets == 1 else
                   "Final portfolio PnL per episode (the assets' summed)")
    left.set_ylabel(f"PnL ({unit})")
    if assets > 1:
        for a, ax in zip(range(assets), axes[1:].ravel(), strict=False):
            column = asset_column("pnl", a)
            _violins(ax, [rollouts[n].episodes[column].to_numpy() for n in names], names,
                     [color[n] for n in names])
            ax.set_title(f"Asset {a}: final PnL per episode")
            ax.set_ylabel(f"PnL ({unit})")
        for ax in axes[1:].ravel()[assets:]:
            ax.set_visible(False)
    ref = rollouts[reference].episodes["pnl"].to_numpy()
    others = [n for n in names if n != reference]
    if others:
        _violins(right, [rollouts[n].episodes["pnl"].to_numpy() - ref for n in others], others,
                 [color[n] for n in others])
        right.axhline(0.0, color="0.3", lw=0.8)
    right.set_title(f"Paired difference to {reference} (same episodes)")
    right.set_ylabel(f"ΔPnL ({unit})")
    return fig


def _violins(ax: Axes, data: list[np.ndarray], names: list[str],
             colors: list[tuple[float, ...]]) -> None:
    positions = np.arange(1, len(data) + 1)
    parts = ax.violinplot(data, positions, showextrema=False, showmedians=True)
    parts["cmedians"].set_color("0.2")
    for body, color in zip(parts["bodies"], colors, strict=True):
        body.set_facecolor(color)
        body.set_alpha(0.6)
    ax.scatter(positions, [d.mean() for d in data], color="k", marker="D", s=14, zorder=3,
               label="mean (line: median)")
    ax.set_xticks(positions, names, rotation=20, ha="right")
    ax.legend(loc="best", fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def pnl_over_time(rollouts: dict[str, Rollout], unit: str, time_unit: str) -> Figure:
    """Mean PnL path of each policy with its 10–90% band over episodes; on a multi-asset
    market the portfolio's, then each asset's in a panel of its own."""
    assets = _assets(rollouts)
    if assets == 1:
        fig = Figure(figsize=(9, 4.5), layout="constrained")
        ax = fig.subplots()
        _pnl_paths(ax, {name: r.pnl for name, r in rollouts.items()}, rollouts, unit,
                   time_unit)
        ax.set_title("Mean PnL over the episode (band: 10–90% of episodes)")
        return fig
    fig, axes = _grid(1 + assets, sharey=False)
    _pnl_paths(axes[0], {name: r.pnl for name, r in rollouts.items()}, rollouts, unit,
               time_unit)
    axes[0].set_title("Portfolio (the assets' PnL summed)", fontsize=10)
    for a, ax in enumerate(axes[1:]):
        _pnl_paths(ax, {name: r.asset_pnl[:, :, a] for name, r in rollouts.items()}, rollouts,
                   unit, time_unit)
        ax.set_title(f"Asset {a}", fontsize=10)
        ax.get_legend().remove()
    fig.suptitle("Mean PnL over the episode (band: 10–90% of episodes)")
    return fig


def _pnl_paths(ax: Axes, paths: dict[str, np.ndarray], rollouts: dict[str, Rollout], unit: str,
               time_unit: str) -> None:
    """Each policy's mean of ``paths`` (``(steps, episodes)``) with its 10–90% band."""
    for (name, pnl), color in zip(paths.items(), _colors(len(paths)), strict=True):
        time = rollouts[name].time
        low, high = np.quantile(pnl, [0.1, 0.9], axis=1)
        ax.fill_between(time, low, high, color=color, alpha=0.15, lw=0)
        ax.plot(time, pnl.mean(axis=1), color=color, label=name)
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel(f"PnL ({unit})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def inventory_paths(rollouts: dict[str, Rollout], episodes: int, size_unit: str,
                    time_unit: str) -> Figure:
    """The inventory of the first ``episodes`` episodes (the same seeds for every policy); on
    a multi-asset market each asset's, a colour per asset."""
    fig, axes = _grid(len(rollouts), sharey=True)
    assets = _assets(rollouts)
    for ax, (name, r) in zip(axes, rollouts.items(), strict=False):
        shown = range(min(episodes, r.inventory.shape[1]))
        if assets == 1:
            for i, color in zip(shown, _colors(episodes), strict=False):
                ax.plot(r.time, r.inventory[:, i], color=color, lw=0.9)
        else:
            for a, color in enumerate(_colors(assets)):
                for i in shown:
                    ax.plot(r.time, r.inventory[:, i, a], color=color, lw=0.8, alpha=0.8,
                            label=f"asset {a}" if i == 0 else None)
        ax.axhline(0.0, color="0.3", lw=0.6)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(f"time ({time_unit})")
        ax.set_ylabel(f"inventory ({size_unit})")
        ax.grid(alpha=0.3)
    which = "Inventory" if assets == 1 else "Each asset's inventory"
    if assets > 1:
        axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{which} on the first {episodes} episodes (same seeds for each policy)")
    return fig


def quotes(rollouts: dict[str, Rollout], steps: int, unit: str, time_unit: str) -> Figure:
    """The first episode's mid, quotes and fills over its first ``steps`` steps (0: all); on a
    multi-asset market a panel per policy and asset, the assets of a policy side by side."""
    first = next(iter(rollouts.values()))
    n = steps or len(first.time)
    assets = _assets(rollouts)
    if assets == 1:
        fig, axes = _grid(len(rollouts), sharey=True)
        panels = [(ax, name, r.mid, r.bid, r.ask, r.bid_fill, r.ask_fill)
                  for ax, (name, r) in zip(axes, rollouts.items(), strict=False)]
    else:
        per_row = max(1, 4 // assets)  # policies a row
        fig, axes = _grid(len(rollouts) * assets, sharey=False, cols=per_row * assets)
        panels = [(axes[p * assets + a], f"{name}: asset {a}", r.mid[:, a], r.bid[:, a],
                   r.ask[:, a], r.bid_fill[:, a], r.ask_fill[:, a])
                  for p, (name, r) in enumerate(rollouts.items()) for a in range(assets)]
    # each asset's price range, the same for every policy; quotes a policy pulled to the
    # action bound (no quote) would flatten the picture
    limits = [_price_range([(p[2][:n], p[3][:n], p[4][:n]) for p in panels[a::assets]])
              for a in range(assets)]
    for k, (ax, title, mid, bid, ask, bid_fill, ask_fill) in enumerate(panels):
        t = first.time[:n]
        ax.plot(t, mid[:n], color="k", lw=0.9, label="mid")
        ax.step(t, bid[:n], where="pre", color="tab:blue", lw=0.8, label="bid")
        ax.step(t, ask[:n], where="pre", color="tab:red", lw=0.8, label="ask")
        bought, sold = bid_fill[:n] > 0, ask_fill[:n] > 0
        ax.scatter(t[bought], bid[:n][bought], marker="^", color="tab:blue", s=22, zorder=3,
                   label="bid filled")
        ax.scatter(t[sold], ask[:n][sold], marker="v", color="tab:red", s=22, zorder=3,
                   label="ask filled")
        ax.set_title(title, fontsize=10)
        ax.set_ylim(*limits[k % assets])
        ax.set_xlabel(f"time ({time_unit})")
        ax.set_ylabel(f"price ({unit})")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("Quotes against the mid on the first episode")
    return fig


def _price_range(paths: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """The price axis of quote panels of ``(mid, bid, ask)`` paths of one asset: the mid's
    range widened by 1.5 times the largest of their quotes' 95th-percentile distance to it
    (of those that quote at all)."""
    distances = [np.abs(np.r_[bid, ask] - np.r_[mid, mid]) for mid, bid, ask in paths]
    reach = max((np.quantile(d[~np.isnan(d)], 0.95) for d in distances if not np.isnan(d).all()),
                default=0.0)
    mid = paths[0][0]
    return np.nanmin(mid) - 1.5 * reach, np.nanmax(mid) + 1.5 * reach


def _assets(rollouts: dict[str, Rollout]) -> int:
    """The number of assets of the market the ``rollouts`` played."""
    return next(iter(rollouts.values())).assets


def _grid(n: int, sharey: bool, cols: int = 3) -> tuple[Figure, list[Axes]]:
    """``n`` panels in rows of at most ``cols``."""
    cols = min(n, cols)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.6 * cols, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=sharey)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _colors(n: int) -> list[tuple[float, ...]]:
    return [colormaps["tab10"](i % 10) for i in range(n)]


def save(figures: dict[str, Figure], directory: Path) -> list[Path]:
    """Write each figure as ``<name>.png`` (150 dpi) in ``directory``; return the paths."""
    paths = []
    for name, fig in figures.items():
        path = directory / f"{name}.png"
        fig.savefig(path, dpi=150)
        paths.append(path)
    return paths
