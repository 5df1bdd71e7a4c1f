"""Command-line entry point: ``worldjepa <command> [hydra overrides]``.

Each command composes its primary config from the installed ``worldjepa.configs`` package, so the
CLI works from any directory, and hands it to one plain ``run(cfg)`` function.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

# command -> (primary config name, "module:function", one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "collect": ("collect", "worldjepa.data.collector:run", "collect a rollout dataset from a MuJoCo task"),
    "inspect": ("inspect", "worldjepa.data.inspect:run", "summarise a dataset and write a contact sheet"),
    "train": ("train", "worldjepa.train:run", "train a JEPA world model on a dataset"),
    "plan": ("plan", "worldjepa.evaluate:run", "plan towards goals and report success rates and videos"),
    "quickstart": ("quickstart", "worldjepa.quickstart:run", "collect -> train -> plan on the default task"),
}

CONFIG_DIR = str(Path(importlib.import_module("worldjepa.configs").__file__).parent)


def usage() -> str:
    """The top-level help text listing the commands."""
    lines = ["usage: worldjepa <command> [key=value ...] [--help]", "", "commands:"]
    lines += [f"  {name:<11} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += [
        "",
        "Arguments are Hydra overrides, e.g. `worldjepa collect env=reacher episodes=50`.",
        "`worldjepa <command> --help` lists a command's config groups and defaults.",
    ]
    return "\n".join(lines)


def _resolve(target: str):
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def main(argv: list[str] | None = None) -> None:
    """Dispatch ``argv`` (default ``sys.argv[1:]``) to the named command under Hydra."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        sys.exit(f"worldjepa: unknown command {command!r}; valid commands: {', '.join(COMMANDS)}\n\n{usage()}")
    # `worldjepa inspect PATH` reads better than `path=PATH`; accept both.
    if command == "inspect" and rest and "=" not in rest[0] and not rest[0].startswith("-"):
        rest[0] = f"path={rest[0]}"
    os.environ.setdefault("WANDB_MODE", "offline")
    config_name, target, _ = COMMANDS[command]

    import hydra
    from omegaconf import DictConfig

    def task(cfg: DictConfig) -> None:
        try:
            _resolve(target)(cfg)
        except (ValueError, OSError) as err:
            # Bad input is the user's to fix: one clear line beats a traceback through Hydra.
            sys.exit(f"worldjepa {command}: error: {err}")

    sys.argv = [f"worldjepa {command}", *rest]
    hydra.main(config_path=CONFIG_DIR, config_name=config_name, version_base="1.3")(task)()


if __name__ == "__main__":
    main()
