"""Command-line entry point: ``worldjepa <command> [hydra overrides]``.

Each command composes its primary config from the installed ``worldjepa.configs`` package, so the
CLI works from any directory, and hands it to one plain ``run(cfg)`` function.
"""

from __future__ import annotations

import errno
import importlib
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from worldjepa.atomic import atomic_path
from worldjepa.config import CONFIG_DIR, group_choices, one_line, wrong_type
from worldjepa.errors import WorldJepaError

# command -> (primary config name, "module:function", one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "collect": ("collect", "worldjepa.data.collector:run", "collect a rollout dataset from a MuJoCo task"),
    "inspect": ("inspect", "worldjepa.data.inspect:run", "summarise a dataset and write a contact sheet"),
    "train": ("train", "worldjepa.training.train:run", "train a JEPA world model on a dataset"),
    "imitate": ("imitate", "worldjepa.training.imitate:run", "fit a goal-conditioned policy on a world model's embeddings"),
    "value": ("value", "worldjepa.training.value:run", "fit a goal-conditioned value (a planning cost) on a world model's embeddings"),
    "plan": ("plan", "worldjepa.evaluation.plan:run", "plan towards goals and report success rates and videos"),
    "landscape": ("landscape", "worldjepa.evaluation.landscape:run", "plot latent cost vs true distance over agent positions"),
    "quickstart": ("quickstart", "worldjepa.quickstart:run", "collect -> train [-> imitate] -> plan with a task's recipe"),
}

# The quickstart's stages in their order; each takes a block of its own command's keys (plan.seeds=...).
QUICKSTART_STAGES = ("collect", "train", "imitate", "plan")
# Config groups a command accepts only with `+group=option` (not in its defaults list).
OPTIONAL_GROUPS: dict[str, tuple[str, ...]] = {"train": ("experiment",)}


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


def command_help(command: str, overrides: list[str]) -> str:
    """`worldjepa <command> --help`: the command's own config groups and its resolved config."""
    from omegaconf import OmegaConf

    config_name, _, summary = COMMANDS[command]
    defaults = OmegaConf.load(Path(CONFIG_DIR) / f"{config_name}.yaml").get("defaults", [])
    groups = [(g, f"{g}=") for entry in defaults if not isinstance(entry, str) for g in entry]
    groups += [(g, f"+{g}=") for g in OPTIONAL_GROUPS.get(command, ())]
    lines = [f"worldjepa {command}: {summary}", "", f"usage: worldjepa {command} [key=value ...]", ""]
    if groups:
        lines.append("config groups (pick an option with group=option):")
        for group, syntax in groups:
            options = ", ".join(sorted(f.stem for f in (Path(CONFIG_DIR) / group).glob("*.yaml")))
            lines.append(f"  {syntax}{{{options}}}")
        lines.append("")
    if command == "quickstart":
        lines += [f"the {', '.join(QUICKSTART_STAGES)} blocks take any key of that command (`worldjepa plan --help`),",
                  "e.g. plan.seeds=[0,1,2] train.logger=none plan.planner.name=cem; imitate runs only when the",
                  "recipe sets its block (recipe=push)", ""]
    cfg = compose_or_exit(command, overrides)
    lines += ["config (override any key with key=value; nested keys with dots, e.g. a.b=1):", "",
              OmegaConf.to_yaml(cfg).rstrip()]
    return "\n".join(lines)


# What to do about OS errors whose own message does not say it (a rerun resumes: writes are atomic).
_FREE_SPACE = "free some space (or pass out= on another disk) and rerun the same command"
_OS_ERROR_FIXES = {
    errno.ENOSPC: f"the disk is full: {_FREE_SPACE}",
    errno.EDQUOT: f"the disk quota is used up: {_FREE_SPACE}",
    errno.EROFS: "the file system is read-only: pass a writable out=PATH",
}


def describe_error(err: Exception) -> str:
    """The one line `worldjepa` prints for a user-fixable error: its message, plus the fix where known."""
    fix = _OS_ERROR_FIXES.get(err.errno) if isinstance(err, OSError) else None
    message = f"{err}: {fix}" if fix else str(err)
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def compose_or_exit(command: str, overrides: list[str]):
    """The command's composed config, or exit with one line on a bad override."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    import yaml

    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(COMMANDS[command][0], overrides=overrides)
    except (HydraException, OmegaConfBaseException) as err:
        sys.exit(f"worldjepa {command}: error: {one_line(err)} (`worldjepa {command} --help` lists the keys)")
    except (yaml.YAMLError, UnicodeDecodeError) as err:  # a user's own config file (hydra.searchpath) is damaged
        sys.exit(f"worldjepa {command}: error: {one_line(err)}: fix that file's YAML or pick another option")
    for choice in group_choices(overrides):
        group, _, option = choice.lstrip("+").partition("=")
        # A `@package _global_` option (a recipe, an experiment) adds no key of its group's name.
        value = OmegaConf.select(cfg, group.replace("/", "."), default=None)
        if "." not in group and value is not None and not isinstance(value, DictConfig):
            sys.exit(f"worldjepa {command}: error: the {group} option {option!r} ({option}.yaml) is not a block of "
                     f"keys: fix {option}.yaml or pick another {group}")
    return cfg


def precheck(command: str, overrides: list[str]) -> RunRecord:
    """Compose the config and create its ``out`` dir before Hydra does, exiting with one clear line
    on a bad override, a value of the wrong type, a missing required value or an unwritable ``out``
    (where Hydra would print a multi-line report or a traceback). Returns what a refused run must
    undo: the ``out`` this call created, or the run record Hydra is about to overwrite in it."""
    from omegaconf import OmegaConf

    defaults = compose_or_exit(command, group_choices(overrides))  # first: names a damaged option's file
    cfg = compose_or_exit(command, overrides)
    problem = wrong_type(*(OmegaConf.to_container(c, resolve=False) for c in (cfg, defaults)))
    if problem:
        sys.exit(f"worldjepa {command}: error: {problem}")
    missing = sorted(OmegaConf.missing_keys(cfg))
    out = Path(str(cfg.out)) if not missing else None
    if missing:
        wanted = " ".join(f"{key}=..." for key in missing)
        sys.exit(f"worldjepa {command}: error: missing {', '.join(missing)}: pass {wanted}")
    created = next((p for p in [*reversed(out.parents), out] if not p.exists()), None)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # an existing but read-only dir fails here
            pass
    except OSError as err:
        sys.exit(f"worldjepa {command}: error: out={out} is not writable ({err.strerror}): pass a writable out=PATH")
    return RunRecord(out, created)


class RunRecord:
    """Hydra writes ``out/.hydra/`` and ``out/<command>.log`` before a command validates its input; a refused
    command puts back what was there (or removes the dirs it created), so it leaves the disk as it found it."""

    def __init__(self, out: Path, created: Path | None) -> None:
        self.out, self.created = out, created
        self.saved = {p: p.read_bytes() for p in self._record()}

    def _record(self) -> list[Path]:
        """The files Hydra writes in ``out``: its .hydra/ dir and the log of the command."""
        return [p for p in [*self.out.glob(".hydra/*"), *self.out.glob("*.log")] if p.is_file()]

    def undo(self) -> None:
        if self.created is not None:
            remove_if_untouched(self.out)
            for parent in self.out.parents:  # the dirs above `out` that mkdir made, while empty
                if not (parent == self.created or self.created in parent.parents) or any(parent.iterdir()):
                    break
                parent.rmdir()
            return
        for path in self._record():
            if path not in self.saved:
                path.unlink()
        for path, data in self.saved.items():
            with atomic_path(path) as tmp:
                tmp.write_bytes(data)
        if not any(p.parent.name == ".hydra" for p in self.saved) and (self.out / ".hydra").is_dir():
            shutil.rmtree(self.out / ".hydra")


def remove_if_untouched(out: Path) -> None:
    """Delete an ``out`` dir that holds only Hydra's run record (.hydra/, <command>.log): a command
    rejected before writing anything should not leave an empty-looking run behind."""
    entries = list(out.iterdir()) if out.is_dir() else []
    if all(e.name == ".hydra" or e.suffix == ".log" for e in entries):
        shutil.rmtree(out, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (a scheduler's stop) ends a command like Ctrl-C: whatever it wrote is complete, a rerun resumes."""
    raise KeyboardInterrupt


def _resolve(target: str):
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def _force_stage_key(arg: str) -> str:
    """``plan.seeds=[0,1]`` -> ``++plan.seeds=[0,1]``: a quickstart stage block takes any key of that
    stage's command, not only those quickstart.yaml lists; the stage's own config checks it."""
    key = arg.partition("=")[0].lstrip("+")
    if "=" in arg and key.split(".", 1)[0] in QUICKSTART_STAGES and "." in key:
        return f"++{arg.lstrip('+')}"
    return arg


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
    if command == "quickstart":
        rest = [_force_stage_key(arg) for arg in rest]
    os.environ.setdefault("WANDB_MODE", "offline")
    signal.signal(signal.SIGTERM, _interrupt)
    config_name, target, _ = COMMANDS[command]
    flags = [arg for arg in rest if arg.startswith("-")]
    if flags and all(flag in ("-h", "--help") for flag in flags):  # with --cfg etc. Hydra decides
        print(command_help(command, [arg for arg in rest if arg not in flags]))
        return
    record = None
    if not flags:  # --cfg job, -m and the like are Hydra's own modes
        record = precheck(command, rest)

    import hydra
    from omegaconf import DictConfig

    def task(cfg: DictConfig) -> None:
        try:
            _resolve(target)(cfg)
        except (ValueError, OSError, WorldJepaError) as err:
            # Bad input is the user's to fix: one clear line beats a traceback through Hydra.
            if record is not None:
                record.undo()
            sys.exit(f"worldjepa {command}: error: {describe_error(err)}")
        except KeyboardInterrupt:
            # Every command writes atomically and resumes, so an interrupt loses only work in flight.
            print(f"\nworldjepa {command}: interrupted; rerun the same command to resume.", file=sys.stderr)
            sys.exit(130)
        except Exception as err:  # anything else is ours to fix: one line, the traceback on request
            if os.environ.get("WORLDJEPA_DEBUG"):
                raise
            if record is not None:
                record.undo()
            sys.exit(f"worldjepa {command}: internal error: {type(err).__name__}: {describe_error(err)} "
                     "(rerun with WORLDJEPA_DEBUG=1 for the traceback, and please report it)")

    sys.argv = [f"worldjepa {command}", *rest]
    hydra.main(config_path=CONFIG_DIR, config_name=config_name, version_base="1.3")(task)()


if __name__ == "__main__":
    main()
