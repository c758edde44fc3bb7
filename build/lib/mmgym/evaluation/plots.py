"""The evaluation's figures: PnL distributions, PnL over time, inventory paths, and quotes
against the mid on one episode.

Built with matplotlib's object-oriented API (no pyplot, so no global figure state and no
display needed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mmgym.evaluation.rollout import Rollout


def pnl_distribution(rollouts: dict[str, Rollout], reference: str, unit: str) -> Figure:
    """Violins of the episodes' final PnL per policy, and of the paired differences to
    ``reference`` episode by episode."""
    names = list(rollouts)
    color = dict(zip(names, _colors(len(names)), strict=True))
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    pnl = [rollouts[n].episodes["pnl"].to_numpy() for n in names]
    _violins(left, pnl, names, [color[n] for n in names])
    left.set_title("Final PnL per episode")
    left.set_ylabel(f"PnL ({unit})")
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
    """Mean PnL path of each policy with its 10–90% band over episodes."""
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.subplots()
    for (name, r), color in zip(rollouts.items(), _colors(len(rollouts)), strict=True):
        low, high = np.quantile(r.pnl, [0.1, 0.9], axis=1)
        ax.fill_between(r.time, low, high, color=color, alpha=0.15, lw=0)
        ax.plot(r.time, r.pnl.mean(axis=1), color=color, label=name)
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel(f"PnL ({unit})")
    ax.set_title("Mean PnL over the episode (band: 10–90% of episodes)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def inventory_paths(rollouts: dict[str, Rollout], episodes: int, size_unit: str,
                    time_unit: str) -> Figure:
    """The inventory of the first ``episodes`` episodes (the same seeds for every policy)."""
    fig, axes = _grid(len(rollouts), sharey=True)
    for ax, (name, r) in zip(axes, rollouts.items(), strict=False):
        for i, color in zip(range(min(episodes, r.inventory.shape[1])), _colors(episodes),
                            strict=False):
            ax.plot(r.time, r.inventory[:, i], color=color, lw=0.9)
        ax.axhline(0.0, color="0.3", lw=0.6)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(f"time ({time_unit})")
        ax.set_ylabel(f"inventory ({size_unit})")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Inventory on the first {episodes} episodes (same seeds for each policy)")
    return fig


def quotes(rollouts: dict[str, Rollout], steps: int, unit: str, time_unit: str) -> Figure:
    """The first episode's mid, quotes and fills over its first ``steps`` steps (0: all)."""
    fig, axes = _grid(len(rollouts), sharey=True)
    first = next(iter(rollouts.values()))
    n = steps or len(first.time)
    # quotes a policy pulled to the action bound (no quote) would flatten the picture
    reach = max(np.nanquantile(np.abs(np.r_[r.bid[:n], r.ask[:n]] - np.r_[r.mid[:n], r.mid[:n]]),
                               0.95) for r in rollouts.values())
    low, high = np.nanmin(first.mid[:n]) - 1.5 * reach, np.nanmax(first.mid[:n]) + 1.5 * reach
    for ax, (name, r) in zip(axes, rollouts.items(), strict=False):
        t = r.time[:n]
        ax.plot(t, r.mid[:n], color="k", lw=0.9, label="mid")
        ax.step(t, r.bid[:n], where="pre", color="tab:blue", lw=0.8, label="bid")
        ax.step(t, r.ask[:n], where="pre", color="tab:red", lw=0.8, label="ask")
        bought, sold = r.bid_fill[:n] > 0, r.ask_fill[:n] > 0
        ax.scatter(t[bought], r.bid[:n][bought], marker="^", color="tab:blue", s=22, zorder=3,
                   label="bid filled")
        ax.scatter(t[sold], r.ask[:n][sold], marker="v", color="tab:red", s=22, zorder=3,
                   label="ask filled")
        ax.set_title(name, fontsize=10)
        ax.set_ylim(low, high)
        ax.set_xlabel(f"time ({time_unit})")
        ax.set_ylabel(f"price ({unit})")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("Quotes against the mid on the first episode")
    return fig


def _grid(n: int, sharey: bool) -> tuple[Figure, list[Axes]]:
    cols = min(n, 3)
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
