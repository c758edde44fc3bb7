"""Registries of markets, features, rewards and policies: the built-ins and a user's own, by
name.

A user adds one with :func:`register_market`, :func:`register_feature`,
:func:`register_reward` or :func:`register_policy` (also as ``mmgym.register_*``), under its
class's ``name`` attribute or a name given, and then uses it wherever a built-in is named:
``gym.make(..., market="my_market")``, ``features=[..., "my_feature"]``,
``reward_fn="my_reward"``, ``mmgym.policies.make("my_policy")``, and in the Hydra configs
(``market.name``, ``market.features``, ``reward.reward_fn``, ``policies``), where the
training kit's ``plugins: [my_package.mmgym_plugin]`` imports the module that registers them
before anything is built.

A name may also be an import path, ``package.module:Object`` or ``package.module.Object``,
used as is without registering; and an installed package can declare a module in the entry
point group ``mmgym.plugins``, imported the first time a name is not found.

The built-ins are registered by their subpackage (``mmgym.markets``, ``mmgym.features``,
``mmgym.rewards``, ``mmgym.policies``) when a registry is first read, so that importing
``mmgym`` loads none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, TypeVar

from mmgym.validation import ConfigError

PLUGIN_GROUP = "mmgym.plugins"
"""The entry-point group of installed extensions: each names a module that registers its
objects when imported."""

T = TypeVar("T")


class Registry(Mapping[str, Any]):
    """Objects of one kind by name (a read-only mapping; :meth:`add` registers).

    Args:
        kind: what it holds (``market``, ...), for messages.
        builtins: the module whose import registers the built-ins.
    """

    def __init__(self, kind: str, builtins: str) -> None:
        self.kind = kind
        self._builtins = builtins
        self._entries: dict[str, Any] = {}
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            import_module(self._builtins)

    def add(self, obj: T, name: str | None = None, *, replace: bool = False) -> T:
        """Register ``obj`` under ``name`` (default: its ``name`` attribute) and return it.

        Raises:
            ConfigError: the name is missing, not a string, or taken (unless ``replace``).
        """
        self._load()
        name = getattr(obj, "name", None) if name is None else name
        if not isinstance(name, str) or not name or ":" in name:
            raise ConfigError(f"register_{self.kind}({obj!r}): name={name!r}: expected a "
                              "non-empty string without ':' (give name= or a 'name' attribute)")
        if name in self._entries and not replace and self._entries[name] is not obj:
            raise ConfigError(f"register_{self.kind}: {name!r} is already registered "
                              f"({self._entries[name]!r}); pass replace=True to replace it")
        self._entries[name] = obj
        return obj

    def lookup(self, field: str, name: Any) -> Any:
        """The object registered as ``name``, or imported from the path ``name``.

        Raises:
            ConfigError: naming ``field``, the value and the registered names.
        """
        self._load()
        if isinstance(name, str):
            if name in self._entries:
                return self._entries[name]
            if ":" in name or "." in name:
                return _import_object(field, name)
            if _load_plugins() and name in self._entries:
                return self._entries[name]
        raise ConfigError(f"{field}={name!r}: expected one of "
                          f"{', '.join(map(repr, sorted(self._entries)))}, a name registered "
                          f"with mmgym.register_{self.kind}, or an import path "
                          "('package.module:Object')")

    def __getitem__(self, name: str) -> Any:
        self._load()
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(self._entries)

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries


MARKETS = Registry("market", "mmgym.markets")
"""Market models (classes following :class:`mmgym.markets.base.Market`) by name."""
FEATURES = Registry("feature", "mmgym.features")
"""Observation features (classes following :class:`mmgym.features.base.Feature`) by name."""
REWARDS = Registry("reward", "mmgym.rewards")
"""Reward functions (classes or factories of a :class:`mmgym.rewards.base.RewardFn`)."""
POLICIES = Registry("policy", "mmgym.policies")
"""Baseline policies (classes following :class:`mmgym.policies.base.Policy`) by name."""


def register_market(cls: T, name: str | None = None, *, replace: bool = False) -> T:
    """Register a market model class (see :class:`mmgym.markets.base.Market`: ``name``,
    ``Params``, ``reset``, ``step``, ...), usable as ``gym.make("mmgym/...",
    market=name)`` or ``MarketMakingVectorEnv(n, market=name)`` and ``market.name`` in a
    config. Usable as a class decorator."""
    return MARKETS.add(cls, name, replace=replace)


def register_feature(cls: T, name: str | None = None, *, replace: bool = False) -> T:
    """Register an observation feature class (see :class:`mmgym.features.base.Feature`),
    usable in ``features=[...]``. Usable as a class decorator."""
    return FEATURES.add(cls, name, replace=replace)


def register_reward(fn: T, name: str | None = None, *, replace: bool = False) -> T:
    """Register a reward: a class or function whose call with the reward's parameters
    (``reward_kwargs``) returns a callable of a :class:`mmgym.rewards.base.Transition`,
    usable as ``reward_fn=name``. Usable as a decorator."""
    return REWARDS.add(fn, name, replace=replace)


def register_policy(cls: T, name: str | None = None, *, replace: bool = False) -> T:
    """Register a policy class (see :class:`mmgym.policies.base.Policy`), usable in
    ``mmgym.policies.make(name)`` and an evaluation's ``policies``. Usable as a decorator."""
    return POLICIES.add(cls, name, replace=replace)


def import_plugins(modules: list[str] | tuple[str, ...], field: str = "plugins") -> None:
    """Import the modules that register a user's objects.

    Raises:
        ConfigError: a module that cannot be imported, naming it and the error.
    """
    for module in modules:
        try:
            import_module(module)
        except Exception as e:
            raise ConfigError(f"{field}: cannot import {module!r}: {type(e).__name__}: {e}") \
                from None


_plugins_loaded = False


def _load_plugins() -> bool:
    """Import the modules of the ``mmgym.plugins`` entry points, once; whether any was new."""
    global _plugins_loaded
    if _plugins_loaded:
        return False
    _plugins_loaded = True
    found = entry_points(group=PLUGIN_GROUP)
    for ep in found:
        ep.load()
    return bool(found)


def _import_object(field: str, path: str) -> Callable[..., Any]:
    """The object at ``package.module:Object`` or ``package.module.Object``."""
    module, sep, attr = path.partition(":")
    if not sep:
        module, _, attr = path.rpartition(".")
    try:
        obj = getattr(import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"{field}={path!r}: cannot import it: {type(e).__name__}: {e}") \
            from None
    return obj
