"""Env configs and ids: resolve `{name, id, kwargs}` from YAML or an id, and build the env the same way in every process.

An env id is a registered gymnasium id (``worldjepa/TwoRoom-v0``) or gymnasium's ``module:id`` form
(``mymod:MyGoal-v0``: import ``mymod``, which registers ``MyGoal-v0``). Every process that builds an
env by id (collect workers, train's final evaluation, plan, the quickstart) goes through `make_env`,
which imports that module first, so a user's own env works everywhere and is recorded under the id
the user gave.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec
from omegaconf import DictConfig, OmegaConf

_UNSET = object()


def config_dir() -> Path:
    """The installed ``worldjepa.configs`` folder."""
    import worldjepa.configs

    return Path(worldjepa.configs.__file__).parent


def to_dict(cfg: Mapping[str, Any]) -> dict:
    """A plain dict of a config block (OmegaConf's resolved, or any mapping's)."""
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)


def env_configs() -> dict[str, Path]:
    """Env config name -> its YAML (``configs/env/*.yaml``)."""
    return {path.stem: path for path in sorted((config_dir() / "env").glob("*.yaml"))}


def import_env_module(env_id: str) -> None:
    """Import the module of a ``module:id`` env id (no-op for a plain id), as `gymnasium.make` would.

    The current directory is searched last when the module is nowhere else, as ``python -m`` would:
    the ``worldjepa`` console script's ``sys.path`` lacks it. Raises ValueError when it cannot be found.
    """
    module, sep, _ = env_id.rpartition(":")
    if not sep:
        return
    top = module.split(".")[0]
    if importlib.util.find_spec(top) is None and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module and not module.startswith(f"{err.name}."):
            raise  # the module itself imports something missing: its own traceback says what
        raise ValueError(
            f"env id {env_id!r}: cannot import module {module!r} ({err}): put {top}.py in the current directory "
            "or install it (it must register the env with gymnasium.register when imported)"
        ) from None


def make_env(env_id: str, kwargs: Mapping[str, Any]) -> gym.Env:
    """``gymnasium.make(env_id, **kwargs)`` after registering the worldjepa tasks and importing a
    ``module:id``'s module; the env's ``env_id`` is set to `env_id`, the id datasets and checkpoints record."""
    import worldjepa.envs  # noqa: F401  (registers the worldjepa/* ids)

    import_env_module(env_id)
    try:
        env = gym.make(env_id, **kwargs)
    except (TypeError, ValueError, OverflowError) as err:  # a keyword the env does not take, or a value it cannot use
        if isinstance(err, ValueError) and any(key in str(err) for key in kwargs):
            raise  # the env's own message names the key
        raise ValueError(f"env {env_id} cannot be made with env.kwargs={dict(kwargs)} ({err}): check env.kwargs "
                         "against the env's config (configs/env/*.yaml)") from None
    # The id the user gave is the env's identity: a later process rebuilds the env from it, and a
    # dataset collected on it must match the evaluation env (gymnasium's spec drops the module).
    env.unwrapped.env_id = env_id
    return env


def check_env_id(env_id: Any) -> None:
    """Raise ValueError unless `env_id` is registered or a ``module:id`` whose module registers it."""
    import worldjepa.envs  # noqa: F401

    if isinstance(env_id, str):
        import_env_module(env_id)
        module, sep, name = env_id.rpartition(":")
        if name in gym.registry:
            return
        if sep:
            raise ValueError(
                f"env id {env_id!r}: importing {module!r} registers no env {name!r}: it must call "
                f"gymnasium.register(id={name!r}, ...) when imported"
            )
    names = list(env_configs())
    ids = sorted(i for i in gym.registry if i.startswith("worldjepa/"))
    example = names[0] if names else "two_room"
    raise ValueError(
        f"unknown env {env_id!r}; valid env configs: {', '.join(names) or '(none)'} (e.g. env={example}); "
        f"registered ids: {', '.join(ids)}; for an env your own module registers, pass env.id=MODULE:{env_id} "
        "(gymnasium's module:id form) so that every process imports that module"
    )


def _short_name(env_id: str) -> str:
    return env_id.rpartition(":")[2].split("/")[-1]


def _without_config_defaults(env: dict, config: dict) -> dict:
    """`env` less what it still shares with `config`, the config whose id it replaced.

    ``env.id=mymod:MyGoal-v0`` on the command line keeps the rest of the default env block (its
    name, kwargs and time limit), which describe that config's own env, not this one; only the keys
    set to other values (``env.kwargs.image_size=32``) are the user's.
    """
    own = {key: value for key, value in env.items() if key != "kwargs" and value != config.get(key)}
    defaults = config.get("kwargs") or {}
    kwargs = env.get("kwargs") or {}
    own["kwargs"] = {key: value for key, value in kwargs.items() if defaults.get(key, _UNSET) != value}
    own["id"] = env["id"]
    own.setdefault("name", _short_name(env["id"]))
    return own


def resolve_env_config(env: str | Mapping[str, Any]) -> dict:
    """An env config ``{name, id, kwargs, ...}`` from a mapping, a config name (``two_room``) or an env id.

    Ids are registered gymnasium ids or ``module:id``. A mapping whose ``name`` is a config but whose
    ``id`` is another keeps only the keys it changed (see `_without_config_defaults`). Raises
    ValueError for an unknown id, naming the configs, the registered ids and the ``module:id`` form.
    """
    configs = env_configs()
    if isinstance(env, str):
        if env in configs:
            env = to_dict(OmegaConf.load(configs[env]))
        else:
            env = {"name": _short_name(env), "id": env, "kwargs": {}}
    env = to_dict(env)
    if env.get("name") in configs and isinstance(env.get("id"), str):
        config = to_dict(OmegaConf.load(configs[env["name"]]))
        if config.get("id") != env["id"]:
            env = _without_config_defaults(env, config)
    check_env_id(env.get("id"))
    env["kwargs"] = dict(env.get("kwargs") or {})
    return env


def interactive_main() -> bool:
    """Whether ``__main__`` is an interactive session (a prompt, a notebook, ``python -`` reading stdin):
    code with no file that a fresh process could run again."""
    main = sys.modules["__main__"]
    path = getattr(main, "__file__", None)
    return getattr(main, "__spec__", None) is None and (path is None or not os.path.isfile(path))


def worker_spec(env_id: str) -> EnvSpec | None:
    """This process's registration of `env_id`, for worker processes to repeat where they lack it.

    A registration made at an interactive prompt or in a notebook exists only in this process; a
    worker can repeat it when its entry point is importable. One defined in the interactive session
    itself is not, and raises ValueError saying how to make the env importable.
    """
    spec = gym.registry.get(env_id)
    if spec is None:
        return None  # a module:id: the worker imports the module itself
    entry = spec.entry_point
    module = entry.partition(":")[0] if isinstance(entry, str) else getattr(entry, "__module__", None)
    if module == "__main__" and interactive_main():
        raise ValueError(
            f"env {env_id!r} is defined in this interactive session, which the collection worker processes cannot "
            f"import: move the env and its gymnasium.register call into a module (e.g. mymod.py) and pass "
            f"env id 'mymod:{env_id}' (gymnasium's module:id form), which every process imports"
        )
    return spec


def adopt_spec(spec: EnvSpec | None) -> None:
    """Register the parent's `spec` (from `worker_spec`) in this process if it is not registered here."""
    if spec is not None and spec.id not in gym.registry:
        gym.registry[spec.id] = spec
