"""Sensitivity analysis: the evaluations of a Hydra multirun gathered into one table and one
plot.

``python evaluate.py -m policies='[as_inventory,obi_skew]' +policy_params.obi_skew.alpha=0,2,4,8``
runs one evaluation per value; when the sweep ends, :class:`GatherSweep` (a Hydra callback
set in ``conf/evaluate.yaml``) collects every job's ``summary.csv`` with the values of the
overrides that differ between jobs, and writes ``sweep.csv``, ``sweep.md`` and ``sweep.png``
in the sweep directory. ``python -m mmgym.kit.sweep <sweep dir>`` gathers again.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.experimental.callback import Callback
from matplotlib import colormaps
from matplotlib.figure import Figure
from omegaconf import OmegaConf

PLOTTED = (("mean_pnl", ""), ("mean_pnl", "diff"), ("mean_abs_inventory", ""),
           ("adverse_selection", ""))
"""The panels drawn against the swept parameter: (metric, "") for its value, (metric,
"diff") for its paired difference to the reference."""


def gather(sweep_dir: str | Path) -> pd.DataFrame:
    """One table of every job's summary under ``sweep_dir``, with a column per swept
    override; written as ``sweep.csv``, ``sweep.md`` and ``sweep.png`` there."""
    sweep_dir = Path(sweep_dir)
    jobs = []
    for summary in sorted(sweep_dir.glob("*/summary.csv")):
        overrides = OmegaConf.load(summary.parent / ".hydra" / "overrides.yaml")
        values = dict(o.split("=", 1) for o in overrides)
        jobs.append((values, pd.read_csv(summary)))
    if not jobs:
        raise FileNotFoundError(f"{sweep_dir}: no */summary.csv of an evaluation sweep")
    keys = sorted({k for values, _ in jobs for k in values})
    swept = [k for k in keys if len({values.get(k) for values, _ in jobs}) > 1]
    table = pd.concat(
        [t.assign(**{k: _number(values.get(k)) for k in swept}) for values, t in jobs],
        ignore_index=True,
    )
    table = table[swept + [c for c in table.columns if c not in swept]]
    table.to_csv(sweep_dir / "sweep.csv", index=False)
    value = table.pivot_table(index=[*swept, "policy"], columns="metric", values="value",
                              sort=True)
    (sweep_dir / "sweep.md").write_text(value.to_markdown(floatfmt=".4g") + "\n")
    if swept:
        _plot(table, swept).savefig(sweep_dir / "sweep.png", dpi=150)
    return table


def _number(value: str | None) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _plot(table: pd.DataFrame, swept: list[str]) -> Figure:
    """Each of :data:`PLOTTED` against the first swept value, a line per policy (and per
    value of the other swept overrides), with its confidence interval."""
    x, others = swept[0], swept[1:]
    groups = list(table.groupby(["policy", *others], sort=True))
    fig = Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    colors = [colormaps["tab10"](i % 10) for i in range(len(groups))]
    for ax, (metric, kind) in zip(axes, PLOTTED, strict=True):
        value, low, high = (f"{kind}_{c}".strip("_") for c in ("value", "low", "high"))
        value = kind or value
        for (key, rows), color in zip(groups, colors, strict=True):
            rows = rows[rows["metric"] == metric].sort_values(x)
            ys = rows[value].to_numpy()
            err = np.abs(rows[[low, high]].to_numpy().T - ys)
            label = ", ".join(str(k) for k in np.atleast_1d(key))
            ax.errorbar(rows[x].to_numpy(), ys, yerr=err, color=color, marker="o", ms=4,
                        capsize=3, label=label)
        ax.set_xlabel(x.lstrip("+"))
        ax.set_title(f"{metric}: paired difference to the reference" if kind else metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Sensitivity (bars: bootstrap confidence intervals)")
    return fig


class GatherSweep(Callback):
    """Hydra callback: gather the sweep's evaluations when the multirun ends."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        table = gather(sweep_dir)
        print(f"sweep of {table['policy'].nunique()} policies gathered into "
              f"{sweep_dir / 'sweep.csv'}, sweep.md and sweep.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mmgym.kit.sweep",
                                     description="Gather an evaluation sweep's summaries.")
    parser.add_argument("sweep_dir", type=Path)
    gather(parser.parse_args(argv).sweep_dir)


if __name__ == "__main__":
    main()
