"""The policies of an evaluation: analytic baselines by name and trained agents from their
checkpoints, each with the observation it reads.

Every policy plays its own copy of the market (same market, parameters, position limit,
fees, reward and seeds); only the observation may differ, because a trained agent reads the
features it was trained on. The market's random streams do not depend on the observation, so
the episodes stay common to all policies.

A baseline's parameters are, in increasing priority: the market's model parameters
(``market.baseline``: σ, A, k, γ, T, unit, those the policy takes), the market's
per-policy parameters (``market.policies.<name>``), and the evaluation's
``policy_params.<name>``. It observes the market's features plus those it reads.

On a multi-asset market (``multi_asset``: ``N`` assets, each observed with the same features,
:mod:`mmgym.markets.multi`) a policy class with ``multi_asset = True`` is built with the
keyword arguments ``assets`` (``N``) and ``asset_feature_names`` (the features observed of
each asset, in the order of each asset's block of the observation); the ``base`` of one that
takes a base (``independent``) is a single-asset baseline, built as on a single-asset market
and observing the assets' features. A single-asset baseline named on a multi-asset market
plays each asset on its own: it is the base of :data:`INDEPENDENT`, under its own name and
parameters (so ``as_inventory``, the evaluation's and the training's reference, is
Avellaneda–Stoikov on every asset).

A checkpoint is a Stable-Baselines3 model (``.zip``) or a Q-table (``.npz``) written by a
training run. An SB3 model's algorithm, observation and action form (offsets, or normalized
with ``agent.normalize_actions`` onto ``agent.action_bounds``) come from the run's
configuration (``.hydra/config.yaml`` in its run directory); ``ALGO:path`` names the algorithm
of a model saved elsewhere (its observation is then the market's default, its action form
read from the model's action space: normalized ones onto the market's own bounds). Every
policy acts in offsets: a model of normalized actions has them mapped back.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mmgym import policies
from mmgym.agents import QLearning
from mmgym.agents import sb3 as sb3_agents
from mmgym.kit.config import action_form
from mmgym.policies.base import Policy
from mmgym.registry import MARKETS, POLICIES
from mmgym.rewards import RunningInventoryPenalty, make_reward
from mmgym.sb3_vec_env import MarketMakingSB3VecEnv
from mmgym.validation import ConfigError, placed

_ALGO = re.compile(r"^([A-Za-z][A-Za-z0-9_]*):(?!//)(.+)$")
INDEPENDENT = "independent"
"""The policy that plays a single-asset policy (its ``base``) on each asset of a multi-asset
market."""


@dataclass
class Contender:
    """A policy to evaluate, its label in the tables and the environment arguments it
    observes with (``features``, ``feature_params``)."""

    label: str
    policy: Policy
    observation: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def baseline(
    name: str,
    market: Any,
    overrides: dict[str, Any] | None = None,
    *,
    per_asset: bool = False,
) -> Contender:
    """The baseline ``name`` with its parameters for ``market`` (a market config:
    ``name``, ``params``, ``features``, ``feature_params``, ``baseline``, ``policies``). On a
    multi-asset market a single-asset baseline plays every asset through
    :data:`INDEPENDENT` (module doc), unless ``per_asset``, which builds the single-asset
    policy itself (the base of a policy of the assets)."""
    try:
        cls = POLICIES.lookup("policies", name)
    except ConfigError as e:
        raise ConfigError(f"{e}; a trained agent goes in checkpoints") from None
    assets, asset_features = market_layout(market)
    multi = bool(getattr(cls, "multi_asset", False))
    if assets > 1 and not multi and not per_asset:
        return _independent(name, market, overrides, assets)
    accepted = inspect.signature(cls).parameters
    model = _plain(market.get("baseline", {}))
    params = {k: v for k, v in model.items() if k in accepted}
    own = _plain(market.get("policies", {}).get(name, {}))
    given = _plain((overrides or {}).get(name, {}))
    sources = (dict.fromkeys(params, "market.baseline")
               | dict.fromkeys(own, f"market.policies.{name}")
               | dict.fromkeys(given, f"policy_params.{name}"))
    params |= own | given
    features = list(market.features or asset_features)
    shown: dict[str, Any] = {}
    if "base" in accepted:  # a policy around a base policy, which observes its features
        inner = baseline(params.pop("base", "as_inventory"), market, overrides,
                         per_asset=True)
        params["base"] = inner.policy
        shown = {"base": inner.label} | {f"base.{k}": v for k, v in inner.params.items()}
        features = list(inner.observation["features"])
    # the features it reads: of the observation, or of each asset for a policy of the assets
    names = "asset_feature_names" if multi else "feature_names"
    if hasattr(cls, "reads"):  # the features it reads depend on its parameters (a model)
        features += [f for f in cls.reads(params) if f not in features]
        params[names] = tuple(features)
    elif names in accepted:
        reads = accepted[names].default
        if reads is inspect.Parameter.empty:
            reads = ()
        features += [f for f in reads if f not in features]
        params[names] = tuple(features)
    if multi and "assets" in accepted:
        params["assets"] = assets
    if "feature_params" in accepted:
        params["feature_params"] = _plain(market.feature_params)
    try:
        policy = policies.make(name, **params)
    except ConfigError as e:  # naming the value where the config gave it
        raise placed(e, sources) from None
    shown |= {k: v for k, v in params.items()
              if k not in ("feature_names", "asset_feature_names", "feature_params", "base")}
    return Contender(name, policy, _observation(features, market.feature_params), shown)


def _independent(name: str, market: Any, overrides: dict[str, Any] | None,
                 assets: int) -> Contender:
    """The single-asset baseline ``name`` on each of the ``assets`` assets of ``market``,
    through :data:`INDEPENDENT`, labelled ``name``."""
    inner = baseline(name, market, overrides, per_asset=True)
    try:
        policy = policies.make(INDEPENDENT, base=inner.policy, assets=assets,
                               asset_feature_names=tuple(inner.observation["features"]))
    except ConfigError as e:
        raise ConfigError(
            f"policy {name!r}: a single-asset policy plays each asset of market "
            f"{market.name!r} ({assets} assets) through {INDEPENDENT!r}: {e}") from None
    return Contender(name, policy, inner.observation,
                     {"per_asset": INDEPENDENT} | inner.params)


def market_layout(market: Any) -> tuple[int, tuple[str, ...]]:
    """The number of assets of the market of a market config (``name``, ``params``) and the
    market's default features of each asset (of its one asset, on a single-asset market).
    A market that sets them per instance (``multi_asset``) is built with one environment to
    read them."""
    cls = MARKETS.lookup("market.name", market.name)
    default = getattr(cls, "default_features", None)
    if default is not None:
        return 1, tuple(default)
    built = cls(1, **_plain(market.get("params", {})))
    return int(getattr(built, "assets", 1)), tuple(built.default_features)


def reward_optimal(env_kwargs: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Baseline parameters, by policy, that make a baseline the optimum of the reward of
    ``env_kwargs`` (for :func:`baseline`'s ``overrides``): under ``running_inventory_penalty``,
    Cartea–Jaimungal with the reward's own φ and α (a market config's
    ``policies.cartea_jaimungal.phi``, γσ²/2 = 0.2 on ``as2008``, prices the paper's risk
    aversion instead; the reward's default φ is 0.01); nothing under other rewards."""
    if env_kwargs["reward_fn"] != RunningInventoryPenalty.name:
        return {}
    reward = make_reward(env_kwargs["reward_fn"], **env_kwargs["reward_kwargs"])
    return {"cartea_jaimungal": {"phi": reward.phi, "alpha": reward.alpha}}


def checkpoint(spec: str, index: int, market: Any, env_kwargs: dict[str, Any]) -> Contender:
    """The trained agent of checkpoint ``spec`` (``checkpoints[index]``), ready to act on
    ``market`` with the environment arguments ``env_kwargs``."""
    field_name = f"checkpoints[{index}]"
    match = _ALGO.match(spec)
    algo, path = (match.group(1), Path(match.group(2))) if match else (None, Path(spec))
    if not path.is_file():
        raise ConfigError(f"{field_name}={spec!r}: no such checkpoint file")
    run = _run_config(path)
    label = _label(path, run)
    trained_on = run.market if run is not None else market
    if path.suffix == ".npz":
        agent = QLearning.load(path)
        observation = _observation(list(agent.bins.feature_names), trained_on.feature_params)
        return Contender(label, agent, observation, {"checkpoint": str(path)})
    if path.suffix != ".zip":
        raise ConfigError(
            f"{field_name}={spec!r}: expected an SB3 model (.zip) or a Q-table (.npz)"
        )
    if algo is None:
        if run is None:
            raise ConfigError(
                f"{field_name}={spec!r}: no .hydra/config.yaml in its run directory tells its "
                "algorithm; write it as ALGO:path (PPO:path/to/model.zip)"
            )
        algo = run.agent.algo
    observation = _observation(_features(trained_on), trained_on.feature_params)
    form = action_form(run.agent) if run is not None else {
        "normalize_actions": sb3_agents.normalized_actions(path)}
    venv = MarketMakingSB3VecEnv(1, **(env_kwargs | observation | form))
    model = sb3_agents.load(algo, path, venv, field=field_name)
    return Contender(label, sb3_agents.SB3Policy(model), observation,
                     {"checkpoint": str(path), "algo": algo})


def _features(market: Any) -> list[str]:
    """The observation of a market config: its ``features``, or the market's default (of each
    asset, on a multi-asset market)."""
    return list(market.features or market_layout(market)[1])


def _observation(features: list[str], feature_params: Any) -> dict[str, Any]:
    return {"features": list(features), "feature_params": _plain(feature_params)}


def _plain(node: Any) -> dict[str, Any]:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node)


def _run_config(path: Path) -> Any:
    """The training configuration of the run a checkpoint belongs to, if any."""
    for directory in list(path.parents)[:2]:
        config = directory / ".hydra" / "config.yaml"
        if config.is_file():
            return OmegaConf.load(config)
    return None


def _label(path: Path, run: Any) -> str:
    """``<agent>-seed<k>`` for a run's final model, with ``/<file stem>`` for its other
    checkpoints; the file stem when it has no run."""
    if run is None:
        return path.stem
    name = f"{run.agent.name}-seed{run.seed}"
    return name if path.stem in ("model", "qtable") else f"{name}/{path.stem}"
