"""A market config's reward parameters (its units) under the reward group's overrides."""

from __future__ import annotations

from hydra import compose, initialize_config_module

from mmgym.kit.config import CONF_MODULE, env_kwargs, register


def kwargs(*overrides: str) -> dict:
    register()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return env_kwargs(compose("config", overrides=list(overrides)))


def test_the_market_gives_the_rewards_parameters_and_the_reward_group_overrides_them() -> None:
    assert kwargs("market=wide")["reward_kwargs"] == {"inventory_penalty": 2.9e-8}
    assert kwargs("market=wide", "reward=running_inventory_penalty")["reward_kwargs"] == {
        "phi": 2.9e-7}
    assert kwargs("market=wide", "+reward.reward_kwargs.inventory_penalty=0.5")[
        "reward_kwargs"] == {"inventory_penalty": 0.5}
    assert kwargs("market=lob")["reward_kwargs"] == {}  # the reward's own default
    assert kwargs("market=wide", "reward=pnl")["reward_kwargs"] == {}
