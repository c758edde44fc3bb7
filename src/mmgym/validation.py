"""Validation of configuration values where they enter.

Every error names the field, the value it was given and the range it allows, so that a bad
value in a config or a ``gym.make`` call fails at construction, before any step runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mmgym.registry import Registry

MAX_EPISODE_STEPS = 10**7
"""The most steps an episode may have: the core keeps per-step tables of an episode
(~17 bytes a step, 170 MB at this bound) and a rollout one row per step and episode."""


class ConfigError(ValueError):
    """A configuration value outside its allowed range, of the wrong type, or unknown."""


def check_number(
    field: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a float (or int) after checking it is a finite number in range
    (``+inf`` too with ``allow_inf``, for a threshold that ``inf`` switches off).

    Args:
        field: the name shown in the error message.
        value: the value to check.
        low, high: the bounds of the allowed interval.
        low_open, high_open: whether each bound is excluded.
        integer: require an integral value and return an ``int``.
        allow_inf: accept ``+inf`` (when ``high`` is ``inf``).
    """
    interval = (
        f"{'(' if low_open else '['}{_fmt(low)}, {_fmt(high)}{')' if high_open else ']'}"
    )
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            import numpy as np

            if isinstance(value, np.generic) and np.isreal(value):
                value = value.item()
            else:
                raise TypeError
        except TypeError:
            raise ConfigError(
                f"{field}={value!r}: expected {kind} in {interval}"
            ) from None
    if allow_inf and value == math.inf and high == math.inf:
        return value
    if not math.isfinite(value):
        raise ConfigError(f"{field}={value!r}: expected a finite number in {interval}")
    if integer and value != int(value):
        raise ConfigError(f"{field}={value!r}: expected an integer in {interval}")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        raise ConfigError(f"{field}={value!r}: out of range, allowed {interval}")
    return int(value) if integer else float(value)


def check_choice(field: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` after checking it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{field}={value!r}: expected one of {', '.join(map(repr, choices))}")
    return value


def check_bool(field: str, value: Any) -> bool:
    """``value`` if it is a boolean (numpy's included), else a :class:`ConfigError`."""
    if not isinstance(value, bool | np.bool_):
        raise ConfigError(f"{field}={value!r}: expected true or false")
    return bool(value)


def check_known_keys(where: str, given: Mapping[str, Any], known: Iterable[str]) -> None:
    """Raise if ``given`` holds a key that is not in ``known``, listing the allowed keys."""
    known = sorted(known)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigError(
            f"{where}: unknown argument(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(known)}"
        )


def check_finite(field: str, value: Any) -> None:
    """Raise if a number anywhere in ``value`` (nested mappings and sequences included) is
    NaN or infinite, naming its place (``field.key``, ``field[i]``)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_finite(f"{field}.{key}", item)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_finite(f"{field}[{i}]", item)
    elif isinstance(value, float | np.floating) and not math.isfinite(value):
        raise ConfigError(f"{field}={value!r}: expected a finite number")


def placed(error: ConfigError, sources: Mapping[str, str]) -> ConfigError:
    """``error`` with the parameter it names (its message starts ``name=...``) placed where
    the configuration gave it: ``sources[name].name=...``; unchanged for another name."""
    name = str(error).split("=", 1)[0]
    return ConfigError(f"{sources[name]}.{error}") if name in sources else error


def make_registered(
    field: str, registry: Registry, name: Any, params: Mapping[str, Any], context: str,
) -> Any:
    """``registry[name](**params)``: the name looked up in the registry (or imported from a
    path, :meth:`mmgym.registry.Registry.lookup`), and a bad or missing parameter reported as
    a :class:`ConfigError` prefixed with ``context``."""
    factory = registry.lookup(field, name)
    try:
        return factory(**params)
    except TypeError as e:
        raise ConfigError(f"{context}: {e}") from None


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


def check_episode(dt: float, episode_seconds: float) -> None:
    """Check a market's step length ``dt`` (s, in (0, 60]) and episode length
    ``episode_seconds`` (s, above ``dt``, a whole number of steps of it and at most
    :data:`MAX_EPISODE_STEPS` of them)."""
    check_number("dt", dt, low=0, high=60, low_open=True)
    check_number("episode_seconds", episode_seconds, low=dt, high=MAX_EPISODE_STEPS * dt,
                 low_open=True)
    steps = episode_seconds / dt
    if abs(steps - round(steps)) > 1e-9 * steps:
        raise ConfigError(f"episode_seconds={episode_seconds!r}: must be a whole number of "
                          f"steps of dt={dt!r}")
