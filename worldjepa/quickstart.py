"""`worldjepa quickstart`: collect -> train [-> imitate] -> plan with a task's recipe, in one command.

Each stage composes its own primary config (so the quickstart is exactly the CLI commands a user
would type) and every stage resumes, so rerunning an interrupted quickstart picks up where it
stopped. The recipes are configs/recipe/*.yaml; a recipe with an `imitate` block (Push) fits a
goal-conditioned policy after training and plans with it as the prior.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from worldjepa.cli import QUICKSTART_STAGES
from worldjepa.config import as_overrides, compose_command, group_choices, one_line, wrong_type
from worldjepa.data.collector import run as collect
from worldjepa.errors import WorldJepaError
from worldjepa.evaluation.plan import check_settings as check_plan
from worldjepa.evaluation.plan import run as plan
from worldjepa.training.imitate import POLICY
from worldjepa.training.imitate import run as imitate
from worldjepa.training.setup import check_config as check_train
from worldjepa.training.train import run as train

RUNNERS = dict(zip(QUICKSTART_STAGES, (collect, train, imitate, plan)))
# The later stages' own config checks, run before collect starts writing (collect checks its counts first thing).
CHECKS = {"train": check_train, "plan": check_plan}


def stage_config(name: str, settings: Any, *fixed: str) -> DictConfig:
    """Compose the primary config of CLI command ``name`` with ``fixed`` overrides and ``settings``.

    Raises WorldJepaError naming the bad key or option, or a value of the wrong type (as the CLI's precheck
    does for a command's own keys), so a typo fails before any stage runs.
    """
    if not isinstance(settings, DictConfig):
        raise WorldJepaError(f"{name}={settings!r} is not a block of settings: set its keys, e.g. {name}.KEY=VALUE")
    wired = {override.split("=", 1)[0] for override in fixed}
    clash = sorted(wired & set(settings.keys()))
    if clash:
        raise WorldJepaError(
            f"{name}.{clash[0]} is set by the quickstart itself (from the top-level env and out): "
            f"drop {name}.{clash[0]}, and pass env=... or out=... instead"
        )
    try:
        config = compose_command(name, settings, *fixed)
        # The reference: the stage's defaults with the same options picked (planner=cem has cem's keys).
        defaults = compose_command(name, None, *group_choices([*fixed, *as_overrides(settings)]))
    except (HydraException, OmegaConfBaseException) as err:
        message = f"{name} settings: {one_line(err, prefix=f'{name}.')}"
        for key, block in settings.items():  # a key left over from the option a block used to name
            if isinstance(block, DictConfig) and "name" in block and f"'{name}.{key}." in message:
                message += (f" ({key} {block.name!r} has no such key: pass {name}.{key}={block.name} "
                            "to take its own defaults)")
        raise WorldJepaError(message) from None
    problem = wrong_type(*(OmegaConf.to_container(c, resolve=False) for c in (config, defaults)), prefix=f"{name}.")
    if problem:
        raise WorldJepaError(problem)
    return config


def run(cfg: DictConfig) -> dict:
    """Run the stages under ``cfg.out`` and print where everything landed."""
    out = Path(cfg.out)
    data, run_dir, eval_dir = out / "data", out / "run", out / "eval"
    checkpoint, policy_dir = run_dir / "last.pt", run_dir / "policy"
    env = as_overrides(OmegaConf.create({"env": cfg.env}))  # the whole env block: a config name, or a module:id
    # Every stage's config is composed (and so checked) before the first stage starts.
    configs = {
        "collect": stage_config("collect", cfg.collect, *env, f"out={data}"),
        "train": stage_config("train", cfg.train, f"data={data}", f"out={run_dir}"),
    }
    prior = []
    if cfg.imitate is not None:
        configs["imitate"] = stage_config("imitate", cfg.imitate, f"checkpoint={checkpoint}", f"out={policy_dir}")
        prior = [f"prior={policy_dir / POLICY}"]
    configs["plan"] = stage_config("plan", cfg.plan, *env, f"checkpoint={checkpoint}", f"out={eval_dir}", *prior)
    for stage, check in CHECKS.items():
        try:
            check(configs[stage])
        except ValueError as err:
            raise WorldJepaError(f"{stage} settings: {err}") from None
    started = time.perf_counter()
    timings: dict[str, float] = {}
    for stage, config in configs.items():
        print(f"\n== {stage} ==", flush=True)
        t0 = time.perf_counter()
        results = RUNNERS[stage](config)  # plan runs last: its results are the summary's
        timings[stage] = time.perf_counter() - t0
    total = time.perf_counter() - started
    rate, (low, high) = results.success_rate, results.success_ci95
    lines = {"videos": eval_dir / "videos", "results": eval_dir / "results.json", "checkpoint": checkpoint}
    if prior:
        lines["policy"] = policy_dir / POLICY
    lines["dataset"] = data
    print(
        "\n== quickstart done in {:.0f} s ({}) ==\n"
        "success rate: {:.1%} (95% CI {:.1%}-{:.1%}) over {} episodes\n".format(
            total, ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()), rate, low, high, results.episodes,
        )
        + "\n".join(f"{name + ':':<13} {path}" for name, path in lines.items())
    )
    return {"results": results, "seconds": total, "stage_seconds": timings}
