"""The single Gymnasium environment: the batched core with ``n = 1``."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from mmgym.core import MarketMakingCore
from mmgym.rng import check_seed
from mmgym.spaces import action_space, observation_space


class MarketMakingEnv(gym.Env):
    """A market maker quoting one bid and one ask around the mid of a simulated market.

    ## Description

    At every step the agent sets the distances of its bid and ask from the current mid. The
    market model (chosen by id, see below) decides which quotes are filled and how the mid
    moves; cash, inventory and mark-to-market PnL are booked, and the agent is rewarded by a
    pluggable function of the step (default: PnL change minus a quadratic inventory penalty).
    All randomness comes from per-episode counter-based streams (:mod:`mmgym.rng`): this env
    reset with ``seed=s + i`` plays the same episode as env ``i`` of
    :class:`~mmgym.vector.MarketMakingVectorEnv` or of the Stable-Baselines3 adapter reset
    with ``seed=s``, and the market's draws never depend on the agent's actions.

    | id | market | default features |
    |---|---|---|
    | ``mmgym/WideSpread-v0`` | ``wide``: sparse equity book, informed flow | as ``lob`` |
    | ``mmgym/MarketMaking-v0`` | ``lob``: L2 book, informed flow | see Observation Space |
    | ``mmgym/AvellanedaStoikov-v0`` | ``as2008``: A–S (2008), §3.3 | inventory, time_remaining |
    | ``mmgym/LOBReplay-v0`` | ``replay``: a recorded book (``data_path``) | as ``lob`` |
    | ``mmgym/MultiAsset-v0`` | ``multi_asset``: N lead–lag books | per asset, + portfolio |

    ``wide`` (:mod:`mmgym.markets.wide`, the default of the training kit) is the sparse book
    of a small-tick equity, calibrated to the LOBSTER AMZN sample (0.01 USD tick, 100-share
    round lots, a spread of 10–18 ticks, 10–90%): two-sided and one-sided limit orders around a
    consensus price that moves with the order flow, informed traders trading against stale
    quotes after information events; market making earns there, and reading the book earns
    more. ``lob`` (:mod:`mmgym.markets.lob`) is a 10-level order book on a 0.1 USDT tick with
    uninformed and informed (PIN) market orders, limit arrivals and cancellations leaning
    toward a latent fundamental, and the agent's orders in the queues with price-time
    priority; ``as2008`` is the paper's own model (binomial mid, fills with probability
    A·e^(−kδ)·dt), the anchor on which Avellaneda–Stoikov is near-optimal. ``replay``
    (:mod:`mmgym.markets.replay`) plays a recorded order book (an event file from
    ``mmgym-import``) in steps of ``dt`` of recorded time; the agent's orders fill when
    recorded trades reach them, behind the displayed queue, with no market impact; its
    episodes are windows of the recording (``episode_seconds``, default 60 s), starting at
    random (from the seed) or at a fixed ``start``, inside the part of the recording
    ``range`` names: ``all`` (the default), ``train`` (before the split, at ``split_fraction``
    of its time span, 0.7, or ``split_seconds`` after its first event) or ``eval`` (after
    it), so that an agent can be evaluated on windows it never trained on.

    ``multi_asset`` (:mod:`mmgym.markets.multi`) is ``N`` of these books (``leg``: ``wide`` by
    default, or ``lob``, ``as2008``), asset 0 the leader and each follower's latent value
    moving by ``beta`` times the leader's moves ``lag_steps`` steps later, or ``N`` recordings
    of the same day (``leg="replay"``, one ``data_path`` per asset in ``asset_params``)
    replayed over the same interval of recorded time, their co-movement the recorded one; see
    "Multi-asset" below for how the spaces, the reward and ``info`` extend.

    ## Action Space

    ``Box(low, high, (2,), float32)``: offsets from the mid at which to quote (with
    ``normalize_actions=True``, ``Box(-1, 1, (2,), float32)`` mapped linearly onto
    ``[low, high]``, the form Stable-Baselines3 recommends).

    | Num | Action | Min | Max | Unit |
    |-----|--------|-----|-----|------|
    | 0 | bid offset δ_b: the bid is at mid − δ_b | −max_offset | max_offset | see below |
    | 1 | ask offset δ_a: the ask is at mid + δ_a | −max_offset | max_offset | see below |

    ``action_bounds=(low, high)`` narrows the bounds to a range inside the market's (the
    normalized form then maps [−1, 1] onto it). Units and bounds: ``wide`` ticks,
    ±``max_offset_ticks`` (30); ``lob`` and ``replay`` ticks, ±``max_offset_ticks`` (20); the
    bid is rounded down and the ask up to the tick grid, and quotes are post-only (one that
    would cross is placed one tick behind the opposite best). ``as2008`` price units,
    ±``max_offset`` (10); a negative offset (a quote through the mid) is allowed and fills
    with probability capped at 1.

    **Withdrawing a side**: an offset at or above the upper bound (``+inf`` included; 1 with
    ``normalize_actions``) sends no order on that side. A finite action below the lower
    bound is clipped to it; a NaN or −inf action, or one of the wrong shape, raises
    ``ValueError``. A side whose fill would take the inventory beyond ``max_inventory`` is
    not quoted either. A side without an order has ``info`` price NaN.

    ## Observation Space

    ``Box(low, high, (len(features),), float32)``, the features named by ``features`` in that
    order (``env.unwrapped.feature_names``):

    | Name | Observation | Min | Max |
    |------|-------------|-----|-----|
    | ``inventory`` | inventory / max_inventory | −1 | 1 |
    | ``volatility`` | realized volatility of the mid, bps/√s (window 50 steps) | 0 | inf |
    | ``ofi`` | order-flow imbalance over 50 steps, in best-level queues | −inf | inf |
    | ``vpin`` | VPIN over 10 buckets of 0.5 BTC | 0 | 1 |
    | ``imbalance`` | depth imbalance of the best 3 levels | −1 | 1 |
    | ``time_remaining`` | (T − t) / T | 0 | 1 |

    This is the ``lob`` default, in this order; ``as2008`` defaults to inventory and
    time_remaining. Other features: ``garman_klass``, ``microprice``, ``spread``,
    ``trade_rate``, ``cumulative_delta`` (:mod:`mmgym.features`); their parameters through
    ``feature_params``.

    ## Rewards

    Default ``pnl_minus_inventory_penalty``: r_t = ΔPnL_t − φ·q_t², with ΔPnL the change of
    cash + q·mid and q_t the inventory after the step (φ = ``reward_kwargs["inventory_penalty"]``,
    default 0.001). Any registered name (``reward_fn="pnl"``) or any callable of a
    :class:`mmgym.rewards.Transition` returning one float per environment can replace it.

    ## Starting State

    Zero cash and inventory, no orders; the mid at the market's initial price ``s0``;
    ``lob``: each level of both sides at its mean depth, a one-tick spread, no information
    event; time 0.

    ## Episode End

    The episode terminates (``terminated=True``) at the horizon: ``as2008`` after ``T/dt``
    steps (200), ``lob`` after ``episode_seconds/dt`` (3,000 steps of 0.1 s). It is never
    truncated by the environment itself.

    ## Seeding

    ``reset(seed=s)`` starts episode 0 of seed ``s``'s stream, each ``reset()`` without a seed
    the next one; ``reset(options={"episode": e})`` (with or without a seed) starts episode
    ``e`` instead, e.g. to continue a stream past the episodes already played (a resumed
    training run does). Seeds from 2^63 on are the training kit's
    (:func:`mmgym.rng.training_seed`); evaluation seeds stay below.

    ## Info

    Python floats: ``inventory``, ``cash``, ``mid``, ``pnl`` (cash + q·mid since the episode
    start), its parts ``pnl_spread``, ``pnl_inventory`` and ``fees`` (pnl = pnl_spread +
    pnl_inventory − fees), this step's ``bid_fill``/``ask_fill`` (sizes) and the quotes in
    force ``bid_price``/``ask_price`` (NaN: not quoted).

    ## Multi-asset

    With ``N`` assets (``mmgym/MultiAsset-v0``), every asset is quoted and booked on its own,
    one environment holding them all:

    | | shape | layout |
    |---|---|---|
    | action | ``(2·N,)`` | ``[2a]``, ``[2a + 1]``: asset ``a``'s bid, ask offset |
    | observation | ``(N·F + P,)`` | asset ``a``'s ``F`` features, then ``P`` portfolio ones |
    | reward | scalar | Σ_a (ΔPnL_a − φ·q_a²) by default |
    | ``info`` | ``(N,)`` per key | each key above per asset (vector env: ``(n, N)``) |

    Asset ``a``'s features are columns ``a·F`` to ``a·F + F − 1``, named ``{feature}_{a}``;
    offsets are in the asset's own unit. ``portfolio_inventory_penalty`` adds to the reward
    the covariance-aware (γ/2)·qᵀΣq·dt (:mod:`mmgym.rewards.portfolio`).
    The assets' features default to the leg's plus ``mid_return`` (so each asset sees the
    others' imbalance, OFI and returns); the portfolio features (``portfolio_features``)
    default to ``hedge`` (q_hedge = −Σ_a β_a·q_a / max_inventory; with recorded assets only
    when ``feature_params={"hedge": {"beta": [...]}}`` gives the loadings) and
    ``relative_volatility_{a}`` (:mod:`mmgym.features.portfolio`). ``max_inventory`` limits
    each asset. A single-asset reward is applied to each asset and summed.

    ## Arguments

    | Argument | Default | Meaning |
    |---|---|---|
    | ``features`` | the market's | observation feature names, in order |
    | ``feature_params`` | ``{}`` | feature parameters by name, e.g. ``{"ofi": {"window": 100}}`` |
    | ``reward_fn`` | ``"pnl_minus_inventory_penalty"`` | name, callable or ``{"_target_": ...}`` |
    | ``reward_kwargs`` | ``{}`` | parameters of a reward given by name |
    | ``max_inventory`` | market's | position limit, size units (``lob`` 0.5 BTC, ``as2008`` 50) |
    | ``maker_fee_bps`` | 0 | fee on maker fills, bps of notional; negative is a rebate |
    | ``taker_fee_bps`` | 0 | fee on taker fills (``post_only=False``), bps of notional |
    | ``normalize_actions`` | False | actions in [−1, 1] (1 withdraws) instead of offsets |
    | ``action_bounds`` | market's | ``(low, high)`` offsets inside the market's bounds |
    | ``portfolio_features`` | ``hedge``, ``relative_volatility`` | multi-asset only |
    | market parameters | the market's | ``LOBParams``, ``WideParams``, ``MultiAssetParams``... |

    An unknown argument or a value out of range raises :class:`mmgym.validation.ConfigError`
    naming it, its value and the allowed range.

    ```python
    import gymnasium as gym
    import mmgym  # registers the ids

    env = gym.make("mmgym/AvellanedaStoikov-v0", sigma=2.0, reward_fn="pnl")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step([0.7, 0.7])
    ```
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, market: str = "as2008", render_mode: str | None = None, **kwargs: Any):
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}: mmgym environments do not render")
        self.core = MarketMakingCore(market, 1, **kwargs)
        self.action_space = action_space(self.core)
        self.observation_space = observation_space(self.core)
        self._needs_reset = True

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the observation's entries, in order."""
        return self.core.feature_names

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, float]]:
        seeds = None if seed is None else [check_seed(seed)]
        super().reset(seed=seed)
        episode = (options or {}).get("episode")
        self.core.reset(seeds, episodes=None if episode is None else [episode])
        self._needs_reset = False
        return self.core.obs[0].copy(), self.core.info_row(0)

    def step(
        self, action: Any
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, float]]:
        if self._needs_reset:
            raise RuntimeError("step() called before reset() or after the episode ended")
        a = np.asarray(action)
        core = self.core
        if a.shape != (2 * core.assets,):
            raise ValueError(f"action: shape {a.shape}, expected {(2 * core.assets,)} (bid "
                             "offset, ask offset" + (")" if core.assets == 1 else
                                                     " of each asset in turn)"))
        reward = float(core.step(a.reshape(1, -1))[0])
        terminated = bool(core.terminated[0])
        self._needs_reset = terminated
        return core.obs[0].copy(), reward, terminated, False, core.info_row(0)
