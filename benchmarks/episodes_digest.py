"""Bit-for-bit digests of seeded episodes of every market, to check that a refactor of the
markets changes nothing.

    PYTHONPATH=src python benchmarks/episodes_digest.py            # compare with the record
    PYTHONPATH=src python benchmarks/episodes_digest.py --write    # (re)write the record

For each case (a market and a set of its parameters) it runs seeded episodes with fixed
pseudo-random actions (offsets uniform over the action bounds and a little beyond the lower
one, and withdrawals: ``+inf`` and the upper bound) through ``gym.make`` (n = 1, episodes
reset as they end) and ``mmgym.vector.MarketMakingVectorEnv`` (n = 64, NextStep autoreset),
and prints the SHA-256 of all observations, rewards, termination flags and numeric ``info``
arrays, per case and view. The ``replay`` cases replay the LOBSTER AMZN level-1 sample and
the Binance BTCUSDT sample of ``../shared/data`` (imported once into parquet files in a
temporary folder).

The record, ``benchmarks/episodes_digest.json``, holds the digests at commit 5616a27 (before
the markets were split into shared parts); the comparison prints the recorded and the new
digest of each case and whether they agree. Cases whose change is intentional are listed in
``INTENDED`` with the reason.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import mmgym  # noqa: F401  (registers the ids)
from mmgym.vector import MarketMakingVectorEnv

RECORD = Path(__file__).with_suffix(".json")
DATA = Path(__file__).resolve().parents[2] / "shared/data"
BINANCE = DATA / "binance-usdm/btcusdt_20240808.gz"
LOBSTER = DATA / "lobster-amzn/AMZN_2012-06-21_34200000_43200000_message_1.csv"

IDS = {"as2008": "mmgym/AvellanedaStoikov-v0", "lob": "mmgym/MarketMaking-v0",
       "wide": "mmgym/WideSpread-v0", "replay": "mmgym/LOBReplay-v0"}

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "as2008": ("as2008", {}),
    "as2008-poisson": ("as2008", {"fill_rule": "poisson"}),
    "lob": ("lob", {}),
    "lob-short": ("lob", {"episode_seconds": 20.0}),
    "lob-conservative": ("lob", {"queue_model": "conservative"}),
    "lob-ladder": ("lob", {"quote_levels": 3, "quote_sizes": [0.01, 0.02, 0.03],
                           "quote_spacing_ticks": 2}),
    "lob-latency": ("lob", {"entry_latency_steps": 2, "cancel_latency_steps": 2}),
    "wide": ("wide", {}),
    "wide-short": ("wide", {"episode_seconds": 20.0}),
    "wide-conservative": ("wide", {"queue_model": "conservative"}),
    "wide-geometric": ("wide", {"limit_sizes": "geometric", "requote_rate": 0.5}),
    "wide-latency": ("wide", {"entry_latency_steps": 2, "cancel_latency_steps": 2}),
    "replay-amzn": ("replay", {"quote_size": 100.0, "max_inventory": 1000.0,
                               "episode_seconds": 30.0}),
    "replay-amzn-conservative": ("replay", {"quote_size": 100.0, "max_inventory": 1000.0,
                                            "episode_seconds": 30.0,
                                            "queue_model": "conservative"}),
    "replay-binance": ("replay", {"episode_seconds": 30.0}),
    "replay-binance-conservative": ("replay", {"episode_seconds": 30.0,
                                               "queue_model": "conservative"}),
}
"""Case name: (market, parameters). ``replay`` cases get their ``data_path`` at run time."""

INTENDED: dict[str, tuple[str, dict[str, str]]] = {
    "replay-binance": (
        "queue.py: replay's proportional advance a − c·(a/queue) became the shared c·a/queue "
        "(lob's and wide's); the values differ by rounding only (at most 2e-12 in PnL over "
        "the case's n=64 episodes)",
        {"n=1": "512f5d458e5019b2", "n=64": "d54acd21bd7f5333"}),
    "lob-latency": (
        "latency.py: latency_steps=2 (the offset re-anchored to the mid at arrival) became "
        "entry_latency_steps = cancel_latency_steps = 2 with the order priced against the mid "
        "the agent saw at submission",
        {"n=1": "4e9020a9bb7e3f0c", "n=64": "108a94642de68bb5"}),
    "wide-latency": (
        "latency.py: as lob-latency",
        {"n=1": "5f3ed04b0052776c", "n=64": "eacad1b67b7afdac"}),
}
"""Cases whose digests differ from the record on purpose: why, and the first 16 hex digits
of their new digests by view."""

STEPS = {1: 1500, 64: 300}
"""Steps run per view (n = 1, n = 64)."""


class Actions:
    """Sticky pseudo-random ``(n, 2)`` offsets: each side keeps its offset and redraws it
    with probability 0.05 a step (so orders rest in the queues), the draw uniform on
    ``[−2, min(high, 8))`` (near the touch in every market), one in five on
    ``[low − 1, high)`` (clipped at ``low``), one in ten ``+inf`` (withdrawn), one in twenty
    exactly ``high`` (withdrawn at the bound)."""

    def __init__(self, seed: int, n: int, low: float, high: float) -> None:
        self.rng = np.random.default_rng(seed)
        self.low, self.high = low, high
        self.a = np.full((n, 2), np.inf)

    def __call__(self) -> np.ndarray:
        rng, a = self.rng, self.a
        redraw = rng.uniform(size=a.shape) < 0.05
        new = rng.uniform(-2.0, min(self.high, 8.0), size=a.shape)
        wide = rng.uniform(self.low - 1.0, self.high, size=a.shape)
        u = rng.uniform(size=a.shape)
        new[u >= 0.8] = wide[u >= 0.8]
        new[u < 0.1] = np.inf
        new[(u >= 0.1) & (u < 0.15)] = self.high
        a[redraw] = new[redraw]
        return a.copy()


class Digest:
    """A SHA-256 over arrays fed in order (float64 bytes; NaN made canonical)."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()

    def add(self, x: Any) -> None:
        a = np.asarray(x)
        if a.dtype == object:
            return
        a = np.ascontiguousarray(a, dtype=np.float64)
        a = np.where(np.isnan(a), np.nan, a)
        self.h.update(a.tobytes())

    def add_info(self, info: dict[str, Any]) -> None:
        for key in sorted(info):
            self.h.update(key.encode())
            self.add(info[key])


def single(env_id: str, params: dict[str, Any]) -> str:
    """The digest of ``STEPS[1]`` steps of one env through ``gym.make``, seed 7."""
    env = gym.make(env_id, **params)
    low, high = float(env.action_space.low[0]), float(env.action_space.high[0])
    act = Actions(2024, 1, low, high)
    d = Digest()
    obs, info = env.reset(seed=7)
    d.add(obs)
    d.add_info(info)
    for _ in range(STEPS[1]):
        obs, reward, terminated, truncated, info = env.step(act()[0])
        for x in (obs, reward, terminated, truncated):
            d.add(x)
        d.add_info(info)
        if terminated or truncated:
            obs, info = env.reset()
            d.add(obs)
            d.add_info(info)
    return d.h.hexdigest()


def vector(market: str, params: dict[str, Any], n: int = 64) -> str:
    """The digest of ``STEPS[64]`` steps of the vector env of ``n`` envs, seed 11."""
    env = MarketMakingVectorEnv(num_envs=n, market=market, **params)
    low, high = float(env.single_action_space.low[0]), float(env.single_action_space.high[0])
    act = Actions(2025, n, low, high)
    d = Digest()
    obs, info = env.reset(seed=11)
    d.add(obs)
    d.add_info(info)
    for _ in range(STEPS[64]):
        obs, reward, terminated, truncated, info = env.step(act())
        for x in (obs, reward, terminated, truncated):
            d.add(x)
        d.add_info(info)
    return d.h.hexdigest()


def recordings(folder: Path) -> dict[str, str]:
    """The samples imported as event files in ``folder``: ``{"amzn": path, "binance": path}``
    (those present)."""
    from mmgym.data.binance import import_binance
    from mmgym.data.lobster import read_lobster
    from mmgym.data.store import write_events

    out = {}
    if LOBSTER.is_file():
        events, report = read_lobster(LOBSTER)
        write_events(events, folder / "amzn.parquet", report.metadata)
        out["amzn"] = str(folder / "amzn.parquet")
    if BINANCE.is_file():
        import_binance(BINANCE, folder / "binance.parquet")
        out["binance"] = str(folder / "binance.parquet")
    return out


def digests(names: list[str]) -> Iterator[tuple[str, str, str]]:
    """``(case, view, digest)`` for each case named."""
    with tempfile.TemporaryDirectory() as tmp:
        files = recordings(Path(tmp)) if any(CASES[c][0] == "replay" for c in names) else {}
        for case in names:
            market, params = CASES[case]
            params = dict(params)
            if market == "replay":
                source = case.split("-")[1]
                if source not in files:
                    continue
                params["data_path"] = files[source]
            yield case, "n=1", single(IDS[market], params)
            yield case, "n=64", vector(market, params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write the record")
    parser.add_argument("--case", action="append", choices=sorted(CASES),
                        help="cases to run (default: all)")
    args = parser.parse_args()
    names = args.case or list(CASES)
    record = json.loads(RECORD.read_text()) if RECORD.is_file() else {}
    new: dict[str, dict[str, str]] = {}
    same = True
    for case, view, digest in digests(names):
        new.setdefault(case, {})[view] = digest
        old = record.get(case, {}).get(view, "-")
        intended = INTENDED.get(case, ("", {}))[1].get(view)
        verdict = ("same" if old == digest else
                   "INTENDED" if intended and digest.startswith(intended) else "DIFFERS")
        same &= verdict != "DIFFERS"
        print(f"{case:30s} {view:5s} old {old[:16]:16s} new {digest[:16]}  {verdict}",
              flush=True)
    if args.write:
        record.update(new)
        RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"wrote {RECORD}")
    elif not same:
        raise SystemExit("digests differ from the record (see DIFFERS above)")


if __name__ == "__main__":
    main()
