"""Config composition shared by the CLI, the quickstart and the Python API: Hydra overrides from plain settings."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

CONFIG_DIR = str(Path(importlib.import_module("worldjepa.configs").__file__).parent)


def render(value: Any) -> str:
    """A config value as Hydra override syntax; strings are quoted, so commas, '=' and quotes survive."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        # Hydra reads a backslash as an escape only before a quote or the closing quote.
        return "'" + re.sub(r"(\\*)(?='|$)", lambda m: m.group(1) * 2, value).replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(render(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{render(item)}" for key, item in value.items()) + "}"
    return str(value)


def as_overrides(settings: DictConfig, prefix: str = "") -> list[str]:
    """Flatten ``{train: {steps: 10}, planner: cem}``-style settings into Hydra overrides.

    A string for a config group (``planner: cem``) picks that option with its own defaults. A block
    with a ``name``, such as ``planner: {name: mppi, samples: 1000}``, picks that option and then
    changes its other keys (only config-group options have a ``name`` key).
    """
    overrides = []
    for key, value in settings.items():
        path = f"{prefix}{key}"
        if isinstance(value, DictConfig):
            if "name" in value:
                overrides.append(f"{path.replace('.', '/')}={value.name}")
            overrides += as_overrides(value, prefix=f"{path}.")
        elif _is_group(path):
            if not isinstance(value, str):  # Hydra would read a list as several options and fail inside
                raise ValueError(f"{path}={value!r}: {path} picks one option of a config group: pass its name, "
                                 f"e.g. {path}={sorted(p.stem for p in (Path(CONFIG_DIR) / path.replace('.', '/')).glob('*.yaml'))[0]}")
            overrides.append(f"{path.replace('.', '/')}={value}")
        elif not (key == "name" and prefix):
            plain = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
            overrides.append(f"{path}={render(plain)}")
    return overrides


def _is_group(path: str) -> bool:
    return (Path(CONFIG_DIR) / path.replace(".", "/")).is_dir()


def one_line(err: Exception, prefix: str = "") -> str:
    """Hydra's composition errors as one line; an unknown config-group option lists the valid ones.

    ``prefix`` (``"plan."``) names keys and examples the way a quickstart stage block spells them.
    """
    from hydra.errors import MissingConfigException

    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options:
        group, _, name = err.missing_cfg_file.rpartition("/")
        example = f"{prefix}{group.replace('/', '.')}.name" if prefix else group
        return f"unknown {group} {name!r}: valid choices are {', '.join(err.options)} (e.g. {example}={err.options[0]})"
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if lines and lines[-1].startswith("To append to your config use +"):  # the key does not exist
        return f"unknown key {prefix + lines[-1].split('+', 1)[1].split('=')[0]!r}: check its spelling"
    return " ".join(line for line in lines if not line.startswith(("Config search path", "provider=")))


def compose_command(name: str, settings: Mapping[str, Any] | None = None, *fixed: str) -> DictConfig:
    """The primary config of command `name` with `fixed` overrides, then nested `settings` applied.

    `settings` use the config's own shape: ``{"planner": {"name": "cem", "samples": 100}, "episodes": 5}``
    picks the cem option and changes its samples, exactly like ``planner=cem planner.samples=100``.
    Works inside a running Hydra app (the CLI) and outside it (the Python API, tests).
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    overrides = [*fixed, *as_overrides(OmegaConf.create(dict(settings or {})))]
    if GlobalHydra.instance().is_initialized():
        return compose(config_name=name, overrides=overrides)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def group_choices(overrides: list[str]) -> list[str]:
    """The overrides that decide which options exist and which are picked: config-group choices
    (``planner=mppi``, ``model/encoder=vit``) and ``hydra.searchpath`` (a user's own config dir)."""
    return [o for o in overrides if "=" in o and (_is_group(o.split("=", 1)[0].lstrip("+~"))
                                                  or o.lstrip("+~").startswith("hydra.searchpath="))]


# A null default says nothing about its key's type: these keys' configs document it (with an example).
NULLABLE_EXAMPLES: dict[str, Any] = {"episode_steps": 100, "threads": 1, "horizon": 8, "frameskip": 5, "execute": 5,
                                     "hold": True, "coverage_bounds": [[0, 1], [0, 1]], "probe_dims": [0, 1], "imitate": {"steps": 1000}}
# default type -> (accepts a value, what the message says it must be)
_KINDS = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    list: (lambda v: isinstance(v, list), "a list"),
    dict: (lambda v: isinstance(v, dict), "a block of keys"),
    str: (lambda v: not isinstance(v, (list, dict)), "one value (a name or path), not a list or block"),
}


def leaves(tree: Mapping, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for every leaf of a plain config tree; an empty block counts as a leaf."""
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def type_example(key: str, default: Any) -> Any:
    """The value whose type `key` takes: its default, or for a null default the NULLABLE_EXAMPLES entry
    of its last name (None when there is none)."""
    return NULLABLE_EXAMPLES.get(key.rsplit(".", 1)[-1]) if default is None else default


def wrong_type(cfg: Any, reference: Any, prefix: str = "") -> str | None:
    """The first value of `cfg` whose type differs from the same key's default in `reference` (both plain
    containers), as 'key=value must be ...: pass e.g. ...'; None when every value has its default's type.
    Null is every key's "unset"; an interpolation (``${budget}``) is checked at the key it names."""
    if isinstance(reference, dict):  # a block: its keys are checked one by one, a plain value replacing it here
        if cfg is not None and not isinstance(cfg, dict):
            key = prefix.rstrip(".")
            return f"{key}={cfg!r} must be a block of keys: pass e.g. {key}={{KEY: VALUE}} or {key}.KEY=VALUE"
        for key, default in reference.items() if isinstance(cfg, dict) else ():
            problem = wrong_type(cfg.get(key), default, f"{prefix}{key}.") if key in cfg else None
            if problem:
                return problem
        return None
    key, value = prefix.rstrip("."), cfg
    example = type_example(key, reference)
    if value is None or (isinstance(example, str) and "${" in example):
        return None
    kind_of = type(example) if type(example) in _KINDS else str
    accepts, kind = _KINDS[kind_of]
    if accepts(value):
        return None
    shown = "..." if example in (None, "???") else render(example) if isinstance(example, (list, dict)) else example
    shown = str(shown).lower() if isinstance(example, bool) else shown
    return f"{key}={value!r} must be {kind}{' or null' if reference is None and kind_of is not str else ''}: pass e.g. {key}={shown}"
