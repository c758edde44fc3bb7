"""Typed training configuration: the schema Hydra checks ``conf/`` against.

Every group has a dataclass schema registered in Hydra's ConfigStore, so a key that does not
exist (a typo) fails when the configuration is composed, naming the key; values are then
checked by :func:`validate` (and by the environment, the reward and the agent when they are
built) before any training step, each error naming the field, the value and the range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from mmgym.markets.replay import RANGES
from mmgym.rng import TRAINING_SEED_START
from mmgym.validation import ConfigError, check_choice, check_number

CONF_MODULE = "mmgym.kit.conf"
"""The package holding the configs (``hydra.initialize_config_module(CONF_MODULE)``)."""


@dataclass
class MarketConfig:
    """The environment: market model, its parameters, observation, position limit, fees.

    ``baseline`` holds the market-model parameters the analytic policies may know, in its
    offset unit (σ, A, k, the risk aversion γ, T, the inventory ``unit``): the
    Avellaneda–Stoikov strategy of the comparison that ends a training run takes them, and
    every baseline of an evaluation those it accepts. ``policies`` holds further parameters
    by policy name (``obi_skew: {half_spread: 3}``). ``risk_aversion`` is the γ of the
    evaluation's mean–variance score E[PnL] − (γ/2)·Var[PnL], in 1 / price unit.
    ``rewards`` holds reward parameters in this market's units by reward name
    (``pnl_minus_inventory_penalty: {inventory_penalty: 3e-8}``): the defaults of the
    reward group's ``reward_kwargs``, which override them."""

    name: str = MISSING
    params: dict[str, Any] = field(default_factory=dict)
    features: list[str] | None = None
    feature_params: dict[str, Any] = field(default_factory=dict)
    max_inventory: float | None = None
    maker_fee_bps: float = 0.0
    taker_fee_bps: float = 0.0
    baseline: dict[str, Any] = field(default_factory=dict)
    policies: dict[str, Any] = field(default_factory=dict)
    risk_aversion: float = 0.1
    rewards: dict[str, Any] = field(default_factory=dict)


@dataclass
class RewardConfig:
    """``reward_fn``: a registered name or a ``{_target_: ...}`` mapping."""

    reward_fn: Any = "pnl_minus_inventory_penalty"
    reward_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class AgentConfig:
    """``algo``: ``qlearning`` or the name of any Stable-Baselines3 algorithm class (PPO, SAC,
    A2C, TD3, DDPG, ...). SB3 agents take ``policy``, ``kwargs`` (the algorithm's arguments)
    and ``policy_kwargs``; ``normalize`` wraps the environment in VecNormalize;
    ``normalize_actions`` trains on actions in [−1, 1] (the environment's form SB3
    recommends; the upper end withdraws a side); ``action_bounds`` (``[low, high]`` in the
    market's offset unit, null: the market's) is the range they cover. Q-learning
    takes ``bins`` (inner bin edges by feature), ``grid`` (``bid``/``ask`` offset lists) and
    ``kwargs`` (its hyperparameters)."""

    name: str = MISSING
    algo: str = MISSING
    policy: str = "MlpPolicy"
    kwargs: dict[str, Any] = field(default_factory=dict)
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    normalize: bool = False
    normalize_actions: bool = False
    action_bounds: list[float] | None = None
    bins: dict[str, list[float]] = field(default_factory=dict)
    grid: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """A training run: ``python train.py market=... agent=... seed=... total_timesteps=...``.

    ``plugins``: modules imported before anything is built, which register a user's own
    markets, features, rewards or policies (:mod:`mmgym.registry`)."""

    market: MarketConfig = MISSING
    agent: AgentConfig = MISSING
    reward: RewardConfig = MISSING
    experiment: str = "default"
    plugins: list[str] = field(default_factory=list)
    seed: int = 0
    total_timesteps: int = 100_000
    num_envs: int = 8
    checkpoint_every: int = 0
    resume: str | None = None
    eval_episodes: int = 200
    torch_threads: int = 1
    progress: bool = True
    time_limit_s: float = 0.0


@dataclass
class EvalConfig:
    """An evaluation: ``python evaluate.py market=... policies=[...] checkpoints=[...]``.

    ``plugins``: as in :class:`TrainConfig`; ``policies``: baseline names; ``checkpoints``:
    trained agents (``.zip``, ``.npz``, or ``ALGO:path``); ``reference``: the policy
    differences are taken to (evaluated even when not listed); ``policy_params``: parameters
    by policy name over the market's;
    ``data_range``: on a ``replay`` market, the range of the recording played (``eval``,
    ``train`` or ``all``; None: the market config's ``range``), ignored on other markets;
    ``markout_steps``: horizon of the fills' markout; ``bootstrap_*``: the confidence
    intervals; ``trace_episodes``: episodes drawn in the inventory plot; ``quote_steps``:
    steps drawn in the quotes plot (0: all)."""

    market: MarketConfig = MISSING
    reward: RewardConfig = MISSING
    name: str = "default"
    plugins: list[str] = field(default_factory=list)
    policies: list[str] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    reference: str = "as_inventory"
    policy_params: dict[str, Any] = field(default_factory=dict)
    data_range: str | None = "eval"
    episodes: int = 1000
    seed: int = 0
    markout_steps: int = 10
    confidence: float = 0.95
    bootstrap_resamples: int = 2000
    bootstrap_method: str = "BCa"
    trace_episodes: int = 5
    quote_steps: int = 600
    plots: bool = True
    tensorboard: bool = True
    progress: bool = True


@dataclass
class ModelConfig:
    """A supervised model to fit: ``name`` (``detector``) and its ``params``
    (:func:`mmgym.kit.fit.fit` lists them)."""

    name: str = MISSING
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class FitConfig:
    """A fit of a supervised model: ``mmgym-fit model=detector market=wide ...``.

    The data are the fills of the ``base`` policy (a baseline name, with the market's
    parameters for it) on ``train_episodes`` seeded episodes from ``train_seed``, observed
    with ``features``; the held-out report is on ``test_episodes`` from ``test_seed``. The
    default seeds (2,000,000 and 3,000,000 on) are apart from an evaluation's (0 on), a
    training run's closing comparison (1,000,000 on) and training's (2**63 on). On a
    ``replay`` market, the fit plays the recording's ``train`` range and the report its
    ``eval`` range."""

    market: MarketConfig = MISSING
    reward: RewardConfig = MISSING
    model: ModelConfig = MISSING
    name: str = "default"
    plugins: list[str] = field(default_factory=list)
    base: str = "as_inventory"
    features: list[str] = field(default_factory=list)
    train_episodes: int = 1000
    train_seed: int = 2_000_000
    test_episodes: int = 500
    test_seed: int = 3_000_000
    progress: bool = True


@dataclass
class SourceConfig:
    """Where a paper-trading run's stream comes from: ``kind`` ``ccxt`` (the exchange's
    websocket stream of ``symbol``, :mod:`mmgym.live.stream`, with ``options``: its other
    arguments, ``depth``, ``stale_after_s``, ``ws_url`` (a local test server), ``config``
    (ccxt's), ...) or ``file`` (the event file ``path`` played as fast as it goes, on a
    virtual clock: a dry run)."""

    kind: str = "ccxt"
    exchange: str = "bybit"
    symbol: str = "BTC/USDT:USDT"
    options: dict[str, Any] = field(default_factory=dict)
    path: str | None = None


@dataclass
class KillSwitchConfig:
    """The kill switch of every paper-trading policy (:class:`mmgym.live.engine.KillSwitch`):
    the price-shock pause (``shock_bps`` null: none) and the position limit
    (``max_inventory`` null: the market's)."""

    shock_bps: float | None = 20.0
    shock_window_seconds: float = 5.0
    pause_seconds: float = 30.0
    max_inventory: float | None = None


@dataclass
class PaperConfig:
    """A paper-trading run: ``mmgym-paper source.symbol=... policy=... duration_seconds=...``.

    ``policy`` a baseline by name with ``policy_params`` over the market's, or ``checkpoint``
    a trained agent (which replaces it); ``dt`` the step (null: ``market.params.dt``, else
    0.1 s); ``view`` the terminal view, redrawn every ``view_every_seconds``;
    ``tensorboard`` the run's scalars (:mod:`mmgym.kit.paper`)."""

    market: MarketConfig = MISSING
    reward: RewardConfig = MISSING
    source: SourceConfig = field(default_factory=SourceConfig)
    kill_switch: KillSwitchConfig = field(default_factory=KillSwitchConfig)
    name: str = "default"
    plugins: list[str] = field(default_factory=list)
    policy: str = "as_inventory"
    policy_params: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    dt: float | None = None
    duration_seconds: float = 3600.0
    stale_after_seconds: float = 10.0
    view: bool = True
    view_every_seconds: float = 0.5
    tensorboard: bool = True


def env_kwargs(cfg: Any) -> dict[str, Any]:
    """The environment's keyword arguments from the market and reward groups.

    Raises:
        ConfigError: when a required market value (``???`` in its config) is not given.
    """
    m = cfg.market
    missing = sorted(OmegaConf.missing_keys(m))
    if missing:
        raise ConfigError(f"{missing[0]}: no value given; market {m.name!r} needs it "
                          f"(add {missing[0]}=... to the command line)")
    kwargs: dict[str, Any] = {
        "market": m.name,
        "features": None if m.features is None else list(m.features),
        "feature_params": OmegaConf.to_container(m.feature_params),
        "max_inventory": m.max_inventory,
        "maker_fee_bps": m.maker_fee_bps,
        "taker_fee_bps": m.taker_fee_bps,
        "reward_fn": OmegaConf.to_container(cfg.reward.reward_fn)
        if OmegaConf.is_config(cfg.reward.reward_fn) else cfg.reward.reward_fn,
        "reward_kwargs": _reward_kwargs(cfg),
    }
    return kwargs | OmegaConf.to_container(m.params)


def action_form(agent: Any) -> dict[str, Any]:
    """The environment arguments of an SB3 agent's action form: ``normalize_actions`` and
    ``action_bounds``."""
    bounds = agent.get("action_bounds")
    return {"normalize_actions": bool(agent.get("normalize_actions", False)),
            "action_bounds": None if bounds is None else list(bounds)}


def with_data_range(kwargs: dict[str, Any], data_range: str | None) -> dict[str, Any]:
    """The environment's keyword arguments with a ``replay`` market's ``range`` set to
    ``data_range`` (``all``, ``train`` or ``eval``); unchanged for None or another market."""
    if data_range is None or kwargs["market"] != "replay":
        return kwargs
    return kwargs | {"range": data_range}


def _reward_kwargs(cfg: Any) -> dict[str, Any]:
    """The reward's parameters: the market's for that reward (its units), then the reward
    group's ``reward_kwargs`` over them."""
    given = OmegaConf.to_container(cfg.reward.reward_kwargs)
    name = cfg.reward.reward_fn
    if not isinstance(name, str):
        return given
    market = OmegaConf.to_container(cfg.market.get("rewards", {})).get(name, {})
    return dict(market) | given


def register() -> None:
    """Register the schemas with Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="evaluate_schema", node=EvalConfig)
    cs.store(name="fit_schema", node=FitConfig)
    cs.store(name="paper_schema", node=PaperConfig)
    cs.store(group="model", name="model_schema", node=ModelConfig)
    cs.store(group="market", name="market_schema", node=MarketConfig)
    cs.store(group="agent", name="agent_schema", node=AgentConfig)
    cs.store(group="reward", name="reward_schema", node=RewardConfig)


def validate(cfg: Any) -> None:
    """Check the run's own values (ranges the schema's types cannot express)."""
    check_number("total_timesteps", cfg.total_timesteps, low=1, integer=True)
    check_number("num_envs", cfg.num_envs, low=1, high=4096, integer=True)
    check_number("checkpoint_every", cfg.checkpoint_every, low=0, integer=True)
    check_number("eval_episodes", cfg.eval_episodes, low=0, integer=True)
    check_number("torch_threads", cfg.torch_threads, low=1, integer=True)
    check_number("time_limit_s", cfg.time_limit_s, low=0)
    # the run's market seeds are training_seed(seed, j) (mmgym.rng); the agents' own
    # generators (numpy's and torch's, through SB3) take 32-bit seeds
    check_number("seed", cfg.seed, low=0, high=2**32 - 1, integer=True)
    if cfg.agent.algo == "qlearning" and not (cfg.agent.bins and cfg.agent.grid):
        raise ConfigError("agent.bins and agent.grid: Q-learning needs both")


def validate_evaluation(cfg: Any) -> None:
    """Check an evaluation's own values."""
    check_number("episodes", cfg.episodes, low=2, integer=True)
    check_number("seed", cfg.seed, low=0, integer=True)
    last = cfg.seed + cfg.episodes - 1
    if last >= TRAINING_SEED_START:
        raise ConfigError(
            f"seed={cfg.seed}, episodes={cfg.episodes}: the evaluation's seeds {cfg.seed}–{last} "
            f"enter the seeds reserved for training, from 2**63 = {TRAINING_SEED_START} on "
            "(mmgym.rng.training_seed), and would replay training episodes; keep seed + "
            f"episodes ≤ 2**63"
        )
    if cfg.data_range is not None:
        check_choice("data_range", cfg.data_range, RANGES)
    check_number("markout_steps", cfg.markout_steps, low=0, integer=True)
    check_number("confidence", cfg.confidence, low=0, high=1, low_open=True, high_open=True)
    check_number("bootstrap_resamples", cfg.bootstrap_resamples, low=100, integer=True)
    check_choice("bootstrap_method", cfg.bootstrap_method, ("BCa", "percentile", "basic"))
    check_number("trace_episodes", cfg.trace_episodes, low=0, integer=True)
    check_number("quote_steps", cfg.quote_steps, low=0, integer=True)
    check_number("market.risk_aversion", cfg.market.risk_aversion, low=0)
    if not (cfg.policies or cfg.checkpoints):
        raise ConfigError("policies and checkpoints: both empty, nothing to evaluate")
    duplicated = sorted({p for p in cfg.policies if list(cfg.policies).count(p) > 1})
    if duplicated:
        raise ConfigError(f"policies: {duplicated} listed twice")


def validate_fit(cfg: Any) -> None:
    """Check a fit's own values."""
    check_number("train_episodes", cfg.train_episodes, low=1, integer=True)
    check_number("test_episodes", cfg.test_episodes, low=1, integer=True)
    for name in ("train_seed", "test_seed"):
        check_number(name, cfg[name], low=0, high=TRAINING_SEED_START - 1, integer=True)
    if not cfg.features:
        raise ConfigError("features=[]: the model needs at least one input feature")
