"""The economics of the multi-asset market (``multi_asset``: two ``wide`` legs, the follower's
value moving by β times the leader's value change of ``lag_steps`` earlier), measured on
common seeded episodes.

    python benchmarks/multi_asset.py                  # 500 episodes, lags of 20 and 100 steps
    python benchmarks/multi_asset.py --episodes 200 --lag-steps 20 100 300

Every policy of :func:`lineup` plays the same episodes (seed ``seed + i`` for episode ``i``:
the market's random numbers never depend on the quotes, so differences are paired) with the
``wide`` config's scale (``max_inventory`` 1,000 shares, the ``pnl_minus_inventory_penalty``
reward's φ = 2.9·10⁻⁸, VPIN buckets of 200 shares, the ``mid_return`` window set to the lag)
and the ``wide`` baseline's model parameters (σ 2.42 ticks/√s, A 0.2036 fills/s, k 0.2669
/tick, T 300 s, orders of 100 shares; γ 0.01 /tick for the AS family, 0.5 for the GLFT
family, the imbalance skew's half-spread 7 and α 8 ticks, as in ``conf/market/wide.yaml``):
``independent_as``, ``independent_glft``, ``independent_obi`` (each asset on its own), the
cross-asset ``lead_lag`` and ``cross_imbalance``, ``multi_glft`` with the market's covariance
(:func:`covariance`) and ``diagonal_glft`` (the same without its off-diagonal: each asset's
own GLFT with its own variance), the diagnostic ``oracle`` (AS around each asset's hidden
fundamental) and ``no_quote``. For each lag it prints:

* per policy: the mean portfolio PnL per episode (USD, the sum over the assets of
  ``info["pnl"]`` at the episode's end) with its 95% BCa interval, its standard deviation
  and each asset's mean PnL and mean |inventory|;
* paired differences with 95% BCa intervals over the common episodes (:data:`CLAIMS`):
  ``lead_lag − independent_as`` and ``cross_imbalance − independent_obi`` (mean: what the
  cross-asset signal is worth), ``oracle − independent_as`` (what knowing each asset's
  fundamental is worth), ``multi_glft`` against ``independent_glft``, ``diagonal_glft`` (what
  the correlation is worth) and ``independent_as`` (mean and standard deviation: the
  portfolio-aware baseline's risk);
* the signal, on the ``no_quote`` episodes: the share of the leader's value jumps its mid
  has made 10, 20, 50 and 100 steps (and the lag) later (its price discovery: a follower's
  value moves ``lag_steps`` after the leader's, so the leader's book can announce only what
  it has revealed by then), and the correlation of the leader's mid change over the
  ``mid_return`` window with the follower's mid change over the next 20, 100 and 300 steps,
  and of the follower's own past change with the same.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mmgym.evaluation.metrics import Bootstrap, mean, std
from mmgym.policies import (
    ASInventory,
    CrossImbalance,
    GLFTApprox,
    Independent,
    LeadLag,
    MultiGLFT,
    NoQuote,
    OBISkew,
    Oracle,
)
from mmgym.policies.base import Policy
from mmgym.vector import MarketMakingVectorEnv

ENV: dict[str, Any] = {
    "max_inventory": 1000.0,
    "reward_kwargs": {"inventory_penalty": 2.9e-8},
    "feature_params": {"vpin": {"bucket_volume": 200.0}},
}
"""The environment's arguments besides the market's: the ``wide`` config's scale."""
MODEL: dict[str, float] = {"sigma": 2.42, "A": 0.2036, "k": 0.2669, "T": 300.0, "unit": 100.0}
"""The ``wide`` legs' model parameters (conf/market/wide.yaml ``baseline``), ticks and s."""
AS_GAMMA, GLFT_GAMMA = 0.01, 0.5
"""γ of the AS family and of the GLFT family (conf/market/wide.yaml), 1/tick."""
TICK = 0.01
"""USD per tick of the ``wide`` legs."""
CROSS_ALPHA = 4.0
"""``cross_imbalance``'s weight on the leader's imbalance, ticks (of 2, 4, 8, 16 on seeds
0-199: 8 earns most at lags of 100 and 300 steps but loses at 20, where 4 loses nothing
measurable)."""


def covariance(beta: np.ndarray, sigma: float = MODEL["sigma"]) -> np.ndarray:
    """Σ of the assets' values per second, ticks²/s, from the market's structure: every leg
    has its own variance σ², and follower ``a`` adds β_a times the leader's moves, so
    Σ_ab = β_a·β_b·σ² + σ²·[a = b ≠ 0]."""
    own = np.full(len(beta), sigma**2)
    own[0] = 0.0
    return np.outer(beta, beta) * sigma**2 + np.diag(own)


def lineup(assets: int, names: tuple[str, ...], beta: np.ndarray
           ) -> dict[str, Callable[[], Policy]]:
    """The policies, by label, each built fresh for a run (policies may keep state)."""
    layout = {"assets": assets, "asset_feature_names": names}
    sk = {"sigma": MODEL["sigma"], "k": MODEL["k"], "unit": MODEL["unit"]}
    as_params = sk | {"gamma": AS_GAMMA, "T": MODEL["T"]}
    glft = {"A": MODEL["A"], "k": MODEL["k"], "gamma": GLFT_GAMMA, "unit": MODEL["unit"]}
    obi = {"half_spread": 7.0, "alpha": 8.0}
    followers = [float(b) for b in beta[1:]]
    sigma2 = covariance(beta)
    return {
        "independent_as": lambda: Independent(
            ASInventory(**as_params, feature_names=names), **layout),
        "lead_lag": lambda: LeadLag(**as_params, beta=followers, tick=TICK, **layout),
        "independent_glft": lambda: Independent(
            GLFTApprox(sigma=MODEL["sigma"], **glft), **layout),
        "multi_glft": lambda: MultiGLFT(covariance=sigma2.tolist(), **glft, **layout),
        "diagonal_glft": lambda: MultiGLFT(covariance=np.diag(np.diag(sigma2)).tolist(),
                                           **glft, **layout),
        "independent_obi": lambda: Independent(OBISkew(**obi, feature_names=names), **layout),
        "cross_imbalance": lambda: CrossImbalance(**obi, cross_alpha=CROSS_ALPHA,
                                                  beta=followers, **layout),
        "oracle": lambda: Independent(Oracle(**as_params, tick=TICK, feature_names=names),
                                      **layout),
        "no_quote": lambda: Independent(NoQuote(), **layout),
    }


def play(policy: Policy, episodes: int, seed: int, record: bool = False,
         **env_kwargs: Any) -> dict[str, np.ndarray]:
    """Play one episode per seed ``seed .. seed + episodes − 1`` of ``multi_asset`` with
    ``policy``, all as one batch. Returns ``pnl`` ``(episodes, N)``, each asset's PnL at the
    episode's end (USD), ``abs_inventory`` ``(episodes, N)``, each asset's mean |inventory|
    over the episode (shares), and with ``record`` ``mid`` and ``value`` ``(steps, episodes,
    N)``, each asset's mid and latent value after every step (USD)."""
    env = MarketMakingVectorEnv(episodes, market="multi_asset", **env_kwargs)
    market = env.core.market
    if hasattr(policy, "bind"):
        policy.bind(market)
    obs, info = env.reset(seed=seed)
    if hasattr(policy, "reset"):
        policy.reset(np.ones(episodes, dtype=bool))
    steps, N = env.core.horizon_steps, env.core.assets
    paths = np.empty((2, steps, episodes, N)) if record else None
    abs_inventory = np.zeros((episodes, N))
    for t in range(steps):
        obs, _, terminated, _, info = env.step(policy(obs, info))
        abs_inventory += np.abs(info["inventory"])
        if paths is not None:
            paths[0, t] = info["mid"]
            paths[1, t] = np.stack([leg.value() for leg in market.legs], axis=-1)
    if not terminated.all():
        raise RuntimeError(f"{int((~terminated).sum())} episodes did not end after {steps} "
                           "steps")
    out = {"pnl": info["pnl"].copy(), "abs_inventory": abs_inventory / steps}
    if paths is not None:
        out["mid"], out["value"] = paths
    return out


def discovery(mid: np.ndarray, value: np.ndarray, steps: int) -> float:
    """The share of the leader's value jumps its mid has made ``steps`` steps later: the
    slope of the mid's change over those steps on the jump, Σ J·ΔS / Σ J², over every step
    of every episode where the value jumped (``mid``, ``value``: ``(steps, episodes, N)``)."""
    jump = np.diff(value[:, :, 0], axis=0)[:len(value) - 1 - steps]
    response = mid[1 + steps:, :, 0] - mid[1:len(mid) - steps, :, 0]
    return float(np.sum(jump * response) / np.sum(jump * jump))


def signal(mid: np.ndarray, window: int = 20, horizons: tuple[int, ...] = (20, 100, 300)
           ) -> list[str]:
    """Lines: the correlations of the leader's and the follower's (asset 1's) mid change over
    the past ``window`` steps with the follower's over the next ``h`` steps, from ``mid``
    ``(steps, episodes, N)``, sampled every 10 steps after the first 100."""
    lines = []
    for h in horizons:
        t = np.arange(max(window, 100), len(mid) - h, 10)
        lead = (mid[t, :, 0] - mid[t - window, :, 0]).ravel()
        own = (mid[t, :, 1] - mid[t - window, :, 1]).ravel()
        ahead = (mid[t + h, :, 1] - mid[t, :, 1]).ravel()
        lines.append(f"  follower's next {h:3d} steps: corr with the leader's past {window} "
                     f"{np.corrcoef(lead, ahead)[0, 1]:+.3f}, with its own past "
                     f"{np.corrcoef(own, ahead)[0, 1]:+.3f}")
    return lines


CLAIMS = (
    ("lead_lag", "independent_as", mean),
    ("cross_imbalance", "independent_obi", mean),
    ("oracle", "independent_as", mean),
    ("multi_glft", "independent_glft", mean),
    ("multi_glft", "independent_glft", std),
    ("multi_glft", "diagonal_glft", mean),
    ("multi_glft", "diagonal_glft", std),
    ("multi_glft", "independent_as", mean),
    ("multi_glft", "independent_as", std),
)
"""The paired differences printed: (policy, reference, statistic of the portfolio PnL)."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20_000)
    parser.add_argument("--lag-steps", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--beta", type=float, default=1.0)
    args = parser.parse_args()
    boot = Bootstrap()
    for lag in args.lag_steps:
        window = {"mid_return": {"window": max(lag, 1)}}
        market = {"beta": args.beta, "lag_steps": lag,
                  "feature_params": ENV["feature_params"] | window}
        env = ENV | market
        probe = MarketMakingVectorEnv(1, market="multi_asset", **env)
        assets, names = probe.core.assets, probe.core.asset_feature_names
        beta = probe.core.market.betas()
        started = time.perf_counter()
        results = {label: play(make(), args.episodes, args.seed,
                               record=label == "no_quote", **env)
                   for label, make in lineup(assets, names, beta).items()}
        pnl = {label: r["pnl"].sum(axis=1) for label, r in results.items()}
        print(f"\nmulti_asset, beta {args.beta:g}, lag_steps {lag}: {args.episodes} common "
              f"episodes (seeds {args.seed}-{args.seed + args.episodes - 1}), "
              f"{time.perf_counter() - started:.0f} s")
        print("  policy             mean PnL USD [95%]         std USD   per asset "
              "(mean PnL; mean |inventory| shares)")
        for label, r in results.items():
            v, lo, hi = boot.estimate(mean, pnl[label])
            assets_text = "  ".join(f"{p:8.2f}; {q:5.0f}" for p, q in
                                    zip(r["pnl"].mean(axis=0), r["abs_inventory"].mean(axis=0),
                                        strict=True))
            print(f"  {label:17s}{v:9.2f} [{lo:8.2f}, {hi:8.2f}] {pnl[label].std(ddof=1):9.2f}"
                  f"   {assets_text}")
        print("  paired differences [95% BCa]:")
        for a, b, stat in CLAIMS:
            v, lo, hi = boot.estimate(stat, pnl[a], pnl[b])
            print(f"    {stat.__name__:4s} {a} − {b}: {v:+.2f} [{lo:+.2f}, {hi:+.2f}]")
        never = results["no_quote"]
        print("  the signal (no_quote's episodes): the leader's mid has made "
              + ", ".join(f"{discovery(never['mid'], never['value'], h):.0%} after {h}"
                          for h in sorted({10, 20, 50, 100, lag} - {0}))
              + " steps of its value's jumps")
        print("\n".join(signal(never["mid"], window=max(lag, 1))))


if __name__ == "__main__":
    main()
