"""A paper-trading run from a composed configuration (``conf/paper.yaml``): one symbol's
streamed book, a policy quoting on it every ``dt``, its fills simulated by the ``replay``
market's queue rules (:mod:`mmgym.live.engine`); no order is ever sent.

Everything that can fail on the user's input (values, the policy's name and parameters, a
checkpoint, the observation, the stream's exchange and symbol) is checked before the
stream is opened, each error naming the field; the tick and lot size, which the stream
gives, are checked when its first snapshot arrives.

The policy is a baseline by name (``policy``, with the market config's parameters for it,
as in an evaluation: :func:`mmgym.kit.lineup.baseline`) or a trained agent
(``checkpoint``: :func:`mmgym.kit.lineup.checkpoint`, observing what it was trained on).
The market config gives the observation, the position limit, fees and reward; of its
``params``, those of the ``live`` market (:class:`~mmgym.live.market.LiveParams`: quote
size, levels, queue model, latency, ...; a replay's file and windows are ignored).

Outputs in the run directory: the engine's ``recording.parquet``, ``recording.jsonl.gz``,
``steps.parquet`` and ``summary.json`` (:mod:`mmgym.live.engine`), and ``tensorboard/``: the
``mmgym/paper/*`` scalars against the step (PnL and its parts, inventory, mid, fills, the
quotes' offsets, whether quoting, each feature as ``mmgym/paper/feature/<name>``). While it
runs, a terminal view (:class:`TerminalView`) shows the book, the quotes, the fills, the
accounts and the features. Ctrl-C or SIGTERM stops the run cleanly: outputs written, the
summary printed.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, TextIO

from omegaconf import OmegaConf

from mmgym.core import MarketMakingCore
from mmgym.data.store import read_events
from mmgym.evaluation.tensorboard import TensorBoardRun
from mmgym.kit.config import _reward_kwargs
from mmgym.kit.lineup import Contender, baseline, checkpoint
from mmgym.live.clock import Clock, VirtualClock, WallClock
from mmgym.live.engine import KillSwitch, PaperEngine, PaperSummary, StepReport, run_until_stopped
from mmgym.live.market import LIVE_MARKET, LiveParams
from mmgym.live.source import EventSource, TableSource
from mmgym.markets.replay import ReplayParams
from mmgym.registry import POLICIES, import_plugins
from mmgym.validation import ConfigError, check_choice, check_number

SOURCES = ("ccxt", "file")
"""``source.kind`` values."""
LIVE_KEYS = tuple(f.name for f in fields(LiveParams) if f.name != "episode_seconds")
"""The ``market.params`` a paper run takes (its length is ``duration_seconds``)."""
IGNORED_KEYS = tuple(f.name for f in fields(ReplayParams) if f.name not in LIVE_KEYS)
"""The ``market.params`` of a replay market that a paper run ignores (its file, windows)."""


def paper(cfg: Any, out: Path) -> PaperSummary:
    """Run the configured paper trading into ``out``; print and return the summary."""
    import_plugins(cfg.plugins)
    engine, closers = build(cfg, out)
    try:
        summary = run_until_stopped(engine)
    finally:
        for close in closers:
            close()
    print(summary)
    return summary


def build(cfg: Any, out: Path, clock: Clock | None = None,
          view_out: TextIO | None = None) -> tuple[PaperEngine, list[Callable[[], None]]]:
    """The engine of the run ``cfg`` writing into ``out``, with its terminal view and
    TensorBoard writer, and what closes them; every value checked (module doc).

    Args:
        cfg: the composed ``paper.yaml``.
        out: the run directory.
        clock: the engine's clock (default: the wall clock; a virtual one for a file).
        view_out: where the terminal view goes (default stdout).
    """
    validate_paper(cfg)
    market = live_params(cfg)
    env = live_env(cfg)
    kill = KillSwitch(**OmegaConf.to_container(cfg.kill_switch))
    if kill.max_inventory is not None:
        env["max_inventory"] = kill.max_inventory
    contender = policy(cfg, env | market)
    source, source_clock = make_source(cfg)
    engine = PaperEngine(source, contender.policy, observation=contender.observation,
                         market=market, env=env, duration_seconds=cfg.duration_seconds,
                         stale_after_seconds=cfg.stale_after_seconds, kill_switch=kill,
                         clock=clock or source_clock, output=out)
    closers: list[Callable[[], None]] = []
    if cfg.tensorboard:
        scalars = Scalars(out / "tensorboard")
        engine.observers.append(scalars)
        closers.append(scalars.close)
    if cfg.view:
        title = (f"{cfg.source.exchange} {cfg.source.symbol}" if cfg.source.kind == "ccxt"
                 else str(cfg.source.path))
        view = TerminalView(engine, f"{title} · {contender.label}", view_out or sys.stdout,
                            cfg.view_every_seconds)
        engine.observers.append(view)
        closers.append(view.close)
    return engine, closers


def validate_paper(cfg: Any) -> None:
    """Check a paper run's own values."""
    check_number("duration_seconds", cfg.duration_seconds, low=0, low_open=True)
    check_number("stale_after_seconds", cfg.stale_after_seconds, low=0)
    check_number("view_every_seconds", cfg.view_every_seconds, low=0, low_open=True)
    if cfg.dt is not None:
        check_number("dt", cfg.dt, low=0, high=60, low_open=True)
    check_choice("source.kind", cfg.source.kind, SOURCES)
    if cfg.source.kind == "file":
        if cfg.source.path is None or not Path(cfg.source.path).is_file():
            raise ConfigError(f"source.path={cfg.source.path!r}: no such event file "
                              "(source.kind=file plays one)")
    if cfg.checkpoint is None:
        POLICIES.lookup("policy", cfg.policy)
    elif not Path(_checkpoint_path(cfg.checkpoint)).is_file():
        raise ConfigError(f"checkpoint={cfg.checkpoint!r}: no such checkpoint file")


def _checkpoint_path(spec: str) -> str:
    """The file of a checkpoint given as ``path`` or ``ALGO:path``."""
    match = re.match(r"^[A-Za-z][A-Za-z0-9_]*:(?!//)(.+)$", spec)
    return match.group(1) if match else spec


def live_params(cfg: Any) -> dict[str, Any]:
    """The ``live`` market's parameters: ``market.params`` that it takes, ``dt`` over them.

    Raises:
        ConfigError: on a parameter neither the live nor the replay market takes.
    """
    params = OmegaConf.to_container(cfg.market.params)
    unknown = sorted(set(params) - set(LIVE_KEYS) - set(IGNORED_KEYS))
    if unknown:
        raise ConfigError(f"market.params.{unknown[0]}: not a parameter of the live market "
                          f"(market {cfg.market.name!r}); it takes {list(LIVE_KEYS)}")
    taken = {k: v for k, v in params.items() if k in LIVE_KEYS}
    if cfg.dt is not None:
        taken["dt"] = cfg.dt
    return taken


def live_env(cfg: Any) -> dict[str, Any]:
    """The environment's other arguments: the market config's position limit and fees, and
    the reward."""
    m = cfg.market
    reward = cfg.reward.reward_fn
    return {
        "max_inventory": m.max_inventory, "maker_fee_bps": m.maker_fee_bps,
        "taker_fee_bps": m.taker_fee_bps,
        "reward_fn": OmegaConf.to_container(reward) if OmegaConf.is_config(reward) else reward,
        "reward_kwargs": _reward_kwargs(cfg),
    }


def policy(cfg: Any, env: dict[str, Any]) -> Contender:
    """The run's policy and its observation, checked on a live market with the config's tick
    and lot (or stand-ins, the stream giving them: offsets and features are in ticks).

    Raises:
        ConfigError: naming the field of a bad value (``policy``, ``policy_params``,
            ``checkpoint``, ``market.params.*``, ``duration_seconds``, ...).
    """
    provisional = env | {
        "market": LIVE_MARKET, "episode_seconds": cfg.duration_seconds,
        "tick": env.get("tick") or 1.0,
        "lot": env.get("lot") or env.get("quote_size", LiveParams.quote_size)}
    try:
        if cfg.checkpoint is not None:
            contender = checkpoint(cfg.checkpoint, 0, cfg.market, provisional)
        else:
            overrides = {cfg.policy: OmegaConf.to_container(cfg.policy_params)}
            contender = baseline(cfg.policy, cfg.market, overrides)
        kwargs = provisional | contender.observation
        MarketMakingCore(kwargs.pop("market"), 1, **kwargs)
    except ConfigError as e:
        raise _named(e) from None
    return contender


def _named(e: ConfigError) -> ConfigError:
    """``e`` with the name of its value in the paper config."""
    text = str(e).replace("checkpoints[0]", "checkpoint")
    name = text.split("=", 1)[0]
    if name == "episode_seconds":
        text = "duration_seconds" + text[len(name):]
    elif name in LIVE_KEYS:
        text = f"market.params.{text}"
    return ConfigError(text)


def make_source(cfg: Any) -> tuple[EventSource, Clock]:
    """The stream of ``cfg.source`` and the clock it runs on."""
    src = cfg.source
    if src.kind == "file":
        events, metadata = read_events(src.path)
        clock = VirtualClock()
        return TableSource(events, metadata, clock), clock
    options = OmegaConf.to_container(src.options)
    try:
        from mmgym.live.stream import OrderBookStream
    except ImportError as e:
        raise ConfigError(f"source.kind='ccxt': the ccxt stream (mmgym.live.stream) cannot "
                          f"be imported: {e}") from None
    try:
        stream = OrderBookStream(src.exchange, src.symbol, **options)
    except ConfigError as e:
        raise ConfigError(f"source.{e}") from None
    except TypeError as e:
        raise ConfigError(f"source.options: {e}") from None
    return CcxtSource(stream, src.exchange), WallClock()


class CcxtSource:
    """:class:`mmgym.live.stream.OrderBookStream` as an
    :class:`~mmgym.live.source.EventSource`: its market's units as ``metadata`` (known once
    the stream has opened), its best ``depth`` levels a side as the levels shown."""

    def __init__(self, stream: Any, exchange: str) -> None:
        self.stream = stream
        self.exchange = exchange

    @property
    def metadata(self) -> dict[str, str]:
        m = self.stream.market
        if m is None:
            return {}
        meta = {"mmgym.source": f"ccxt:{self.exchange}", "mmgym.symbol": m.symbol,
                "mmgym.tick_size": repr(m.tick_size), "mmgym.levels": str(self.stream.depth)}
        if m.lot_size is not None:
            meta["mmgym.lot_size"] = repr(m.lot_size)
        return meta

    def __aiter__(self) -> Any:
        return self.stream.__aiter__()

    async def aclose(self) -> None:
        await self.stream.close()


class Scalars:
    """The run's TensorBoard scalars, ``mmgym/paper/*`` against the step (module doc)."""

    TAGS = ("pnl", "pnl_spread", "pnl_inventory", "fees", "inventory", "mid", "reward",
            "bid_fill", "ask_fill", "next_bid_offset", "next_ask_offset")

    def __init__(self, directory: Path) -> None:
        self.run = TensorBoardRun(directory)

    def __call__(self, r: StepReport) -> None:
        for tag in self.TAGS:
            self.run.scalar(f"paper/{tag}", getattr(r, tag), r.step)
        self.run.scalar("paper/quoting", float(r.status == "quoting"), r.step)
        for name, value in r.features.items():
            self.run.scalar(f"paper/feature/{name}", value, r.step)

    def close(self) -> None:
        self.run.close()


class TerminalView:
    """The run's state in a few lines: redrawn in place (ANSI cursor moves) on a terminal,
    appended on anything else, at most every ``every_seconds`` of wall time, and once more
    when closed.

    Args:
        engine: the engine it watches (its summary: fills, notices, the stream).
        title: the first line's.
        out: where it is written.
        every_seconds: the least wall time between two drawings.
        clock: the wall clock, s (monotonic).
    """

    def __init__(self, engine: PaperEngine, title: str, out: TextIO, every_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.title = title
        self.out = out
        self.every = every_seconds
        self.clock = clock
        self.in_place = bool(getattr(out, "isatty", lambda: False)())
        self._drawn = 0  # lines on screen
        self._last_draw = -math.inf
        self._report: StepReport | None = None
        self._last_fill = "none yet"
        self._last_notice = "none"

    def __call__(self, report: StepReport) -> None:
        self._report = report
        for side, size, price in (("bid", report.bid_fill, report.bid_price),
                                  ("ask", report.ask_fill, report.ask_price)):
            if size > 0:
                self._last_fill = f"step {report.step}: {side} {size:g} @ {price:.10g}"
        if report.notices:
            kind, detail = report.notices[-1]
            self._last_notice = kind + (f" ({detail})" if detail else "")
        if self.clock() - self._last_draw >= self.every:
            self.draw()

    def close(self) -> None:
        if self._report is not None:
            self.draw()

    def draw(self) -> None:
        self._last_draw = self.clock()
        lines = self.lines(self._report)
        if self.in_place:
            up = f"\x1b[{self._drawn}F" if self._drawn else ""
            self.out.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
            self._drawn = len(lines)
        else:
            self.out.write(" | ".join(lines[:5]) + "\n")
        self.out.flush()

    def lines(self, r: StepReport) -> list[str]:
        """The view of report ``r``."""
        s, engine = self.engine.summary, self.engine
        tick = engine.market.p.tick
        when = time.strftime("%H:%M:%S", time.gmtime(r.ts_ns / 1e9))
        spread = (r.best_ask - r.best_bid) / tick
        features = "  ".join(f"{k} {v:.4g}" for k, v in r.features.items())
        notices = ", ".join(f"{k} {v}" for k, v in engine.notice_counts.items())
        return [
            f"paper {self.title}  step {r.step}/{engine.market.horizon_steps}  {when} UTC  "
            f"[{r.status}]",
            f"book      bid {r.best_bid:.10g}  ask {r.best_ask:.10g}  mid {r.mid:.10g}  "
            f"spread {spread:.4g} ticks",
            f"quotes    in force bid {_price(r.bid_price)} ask {_price(r.ask_price)}  next "
            f"offsets bid {_offset(r.next_bid_offset)} ask {_offset(r.next_ask_offset)}",
            f"fills     bid {s.bid_fills} ({s.bid_volume:g})  ask {s.ask_fills} "
            f"({s.ask_volume:g})  last {self._last_fill}",
            f"account   inventory {r.inventory:g}  cash {r.cash:.6g}  PnL {r.pnl:.6g} (spread "
            f"{r.pnl_spread:.6g}, inventory {r.pnl_inventory:.6g}, fees {r.fees:.6g})",
            f"features  {features}",
            f"stream    late {s.late_rows}  notices: {notices or 'none'} (last: "
            f"{self._last_notice})",
        ]


def _price(x: float) -> str:
    """A quote in force, or ``none``."""
    return "none" if math.isnan(x) else f"{x:.10g}"


def _offset(x: float) -> str:
    """An offset in ticks, or ``withdrawn``."""
    return "withdrawn" if math.isinf(x) else f"{x:.4g} ticks"
