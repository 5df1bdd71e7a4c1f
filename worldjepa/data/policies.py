"""Exploration policies for data collection: uniform random, temporally correlated noise, waypoints,
a per-episode mixture of them, and any of them with each action held for several steps.

numpy only and fully seeded: an episode's actions depend on nothing but its seed.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from worldjepa.errors import check_positive_int


class Policy(Protocol):
    """An exploration policy: ``reset`` at the start of each episode, then one ``act`` per step."""

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None: ...

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray: ...


class RandomPolicy:
    """Independent uniform actions in the action box at every step."""

    def __init__(self) -> None:
        self._space: gym.spaces.Box | None = None
        self._rng: np.random.Generator | None = None

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        self._space, self._rng = env.action_space, rng

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        return self._rng.uniform(self._space.low, self._space.high).astype(np.float32)


class CorrelatedPolicy:
    """Ornstein-Uhlenbeck-style AR(1) noise, clipped to the action box.

    ``a_{t+1} = correlation * a_t + sqrt(1 - correlation**2) * scale * eps``, eps ~ N(0, 1), so
    ``correlation`` is the lag-1 autocorrelation (0 = white noise; 0.9 keeps a direction for
    about 1 / (1 - 0.9) = 10 steps) and ``scale`` is the stationary std before clipping.
    Persistent actions travel much further than white noise, which mostly jitters in place.
    """

    def __init__(self, correlation: float = 0.9, scale: float = 0.6) -> None:
        if not 0.0 <= correlation < 1.0:
            raise ValueError(f"policy.correlation={correlation} must be in [0, 1): it is the lag-1 autocorrelation")
        if scale <= 0:
            raise ValueError(f"policy.scale={scale} must be > 0: it is the noise std in action units")
        self.correlation, self.scale = correlation, scale
        self._space: gym.spaces.Box | None = None
        self._rng: np.random.Generator | None = None
        self._noise = np.zeros(0)

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        self._space, self._rng = env.action_space, rng
        self._noise = rng.normal(0.0, self.scale, env.action_space.shape)  # start in the stationary law

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        innovation = self._rng.normal(0.0, self.scale, self._noise.shape)
        self._noise = self.correlation * self._noise + np.sqrt(1.0 - self.correlation**2) * innovation
        return np.clip(self._noise, self._space.low, self._space.high).astype(np.float32)


class WaypointPolicy:
    """Steer towards waypoints from the task (``sample_waypoint``/``steer``), plus Gaussian noise.

    A new waypoint is drawn once the current one is reached (``env.unwrapped.waypoint_reached``)
    or after ``timeout`` steps, so a stuck agent never wastes the rest of an episode.
    """

    def __init__(self, noise: float = 0.1, timeout: int = 60) -> None:
        if noise < 0:
            raise ValueError(f"policy.noise={noise} must be >= 0: it is the action noise std")
        if timeout < 1:
            raise ValueError(f"policy.timeout={timeout} must be >= 1 steps")
        self.noise, self.timeout = noise, timeout
        self._task: Any = None
        self._space: gym.spaces.Box | None = None
        self._rng: np.random.Generator | None = None
        self._waypoint: np.ndarray | None = None
        self._age = 0

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        task = env.unwrapped
        for method in ("sample_waypoint", "steer", "waypoint_reached"):
            if not callable(getattr(task, method, None)):
                raise ValueError(
                    f"policy 'waypoint' needs env.unwrapped.{method}(), which {type(task).__name__} lacks: "
                    "use policy=correlated or policy=random for this env"
                )
        self._task, self._space, self._rng = task, env.action_space, rng
        self._new_waypoint()

    def _new_waypoint(self) -> None:
        self._waypoint = np.asarray(self._task.sample_waypoint(self._rng))
        self._age = 0

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        if self._age >= self.timeout or self._task.waypoint_reached(self._waypoint):
            self._new_waypoint()
        self._age += 1
        action = np.asarray(self._task.steer(self._waypoint), dtype=np.float64)
        action = action + self._rng.normal(0.0, self.noise, action.shape)
        return np.clip(action, self._space.low, self._space.high).astype(np.float32)


class HeldPolicy:
    """Repeats each action of ``inner`` for ``hold`` steps.

    A planner with ``hold=true`` searches actions held for a whole chunk; data collected this way
    show the model the outcomes of the actions it will be asked to predict (benchmarks/push_recipe.md).
    """

    def __init__(self, inner: Policy, hold: int) -> None:
        check_positive_int("policy.hold", hold, example=10)
        self.inner, self.hold = inner, hold
        self._action: np.ndarray | None = None
        self._age = 0

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        self.inner.reset(env, rng)
        self._age = self.hold  # the first act asks the inner policy

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        if self._age >= self.hold:
            self._action, self._age = self.inner.act(obs), 0
        self._age += 1
        return self._action


class MixturePolicy:
    """Each episode is driven by one of ``components``, drawn with probabilities ``weights``.

    Mixing covers what no single policy does. On Push the waypoint policy pushes the block in
    every 40-step stretch, so a model trained on it alone learns that the block moves whenever the
    pusher does; correlated noise adds stretches where the pusher moves past the block
    (benchmarks/results.md measures what that changes).
    """

    def __init__(self, components: Sequence[Mapping[str, Any]] = (), weights: Sequence[float] | None = None) -> None:
        if not components:
            raise ValueError(
                "policy.components is empty: list the policies to mix, e.g. [{name: waypoint}, {name: correlated}]"
            )
        weights = [1.0] * len(components) if weights is None else [float(w) for w in weights]
        if len(weights) != len(components) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(
                f"policy.weights={weights} for {len(components)} components: pass one weight >= 0 per "
                "component, not all zero"
            )
        for component in components:
            if component.get("name") == "mixture":
                raise ValueError("policy 'mixture' cannot contain another mixture: list its components directly")
        self.components = [make_policy(component) for component in components]
        self.weights = np.asarray(weights) / sum(weights)
        self._active: Policy | None = None

    def reset(self, env: gym.Env, rng: np.random.Generator) -> None:
        self._active = self.components[rng.choice(len(self.components), p=self.weights)]
        self._active.reset(env, rng)

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        return self._active.act(obs)


POLICIES: dict[str, type] = {
    "random": RandomPolicy,
    "correlated": CorrelatedPolicy,
    "waypoint": WaypointPolicy,
    "mixture": MixturePolicy,
}


def make_policy(cfg: Mapping[str, Any]) -> Policy:
    """Build the policy named ``cfg["name"]`` with the remaining keys as its parameters.

    Any policy also takes ``hold`` (default 1): each of its actions is repeated for that many steps.

    Raises ``ValueError`` for an unknown name or parameter and for out-of-range values.
    """
    name = cfg.get("name")
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; valid policies: {', '.join(POLICIES)} (e.g. policy=waypoint)")
    params = {k: v for k, v in cfg.items() if k not in ("name", "hold")}
    allowed = set(inspect.signature(POLICIES[name]).parameters)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"policy {name!r} has no parameters {unknown}; valid parameters: {sorted(allowed | {'hold'})}"
        )
    policy = POLICIES[name](**params)
    return HeldPolicy(policy, cfg["hold"]) if "hold" in cfg else policy


def check_policy_config(cfg: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` for a policy config ``make_policy`` would refuse, before any work starts."""
    make_policy(cfg)
