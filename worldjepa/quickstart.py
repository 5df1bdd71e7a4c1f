"""`worldjepa quickstart`: collect -> train -> plan on the embedded defaults, in one command.

Each stage composes its own primary config (so the quickstart is exactly the three CLI commands a
user would type) and every stage resumes, so rerunning an interrupted quickstart picks up where it
stopped.
"""

from __future__ import annotations

import time
from pathlib import Path

from hydra import compose
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from worldjepa.cli import one_line

from worldjepa.data.collector import run as collect
from worldjepa.errors import WorldJepaError
from worldjepa.evaluate import run as plan
from worldjepa.train import run as train


def as_overrides(settings: DictConfig, prefix: str = "") -> list[str]:
    """Flatten ``{train: {steps: 10}, planner: cem}``-style settings into Hydra overrides.

    A block with a ``name``, such as ``planner: {name: mppi, samples: 1000}``, picks that option of the
    config group (``planner=mppi``, ``model/encoder=vit``) and then changes the option's other keys.
    """
    overrides = []
    for key, value in settings.items():
        path = f"{prefix}{key}"
        if isinstance(value, DictConfig):
            if "name" in value:
                overrides.append(f"{path.replace('.', '/')}={value.name}")
            overrides += as_overrides(value, prefix=f"{path}.")
        elif not (key == "name" and prefix):
            rendered = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
            overrides.append(f"{path}={'null' if rendered is None else rendered}".replace("'", ""))
    return overrides


def stage_config(name: str, settings: DictConfig, *fixed: str) -> DictConfig:
    """Compose the primary config of CLI command ``name`` with ``fixed`` overrides and ``settings``.

    Raises WorldJepaError naming the bad key or option, so a typo fails before any stage runs.
    """
    try:
        return compose(config_name=name, overrides=[*fixed, *as_overrides(settings)])
    except (HydraException, OmegaConfBaseException) as err:
        raise WorldJepaError(
            f"{name} settings: {one_line(err)} (`worldjepa {name} --help` lists the keys; "
            f"pass them as {name}.KEY=VALUE)"
        ) from None


def run(cfg: DictConfig) -> dict:
    """Run the three stages under ``cfg.out`` and print where everything landed."""
    out = Path(cfg.out)
    data, run_dir, eval_dir = out / "data", out / "run", out / "eval"
    env = f"env={cfg.env}"
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def timed(stage: str, fn, config: DictConfig) -> dict:
        print(f"\n== {stage} ==", flush=True)
        t0 = time.perf_counter()
        result = fn(config)
        timings[stage] = time.perf_counter() - t0
        return result

    # Every stage's config is composed (and so checked) before the first stage starts.
    collect_cfg = stage_config("collect", cfg.collect, env, f"out={data}")
    train_cfg = stage_config("train", cfg.train, f"data={data}", f"out={run_dir}")
    plan_cfg = stage_config("plan", cfg.plan, env, f"checkpoint={run_dir / 'last.pt'}", f"out={eval_dir}")
    timed("collect", collect, collect_cfg)
    timed("train", train, train_cfg)
    results = timed("plan", plan, plan_cfg)
    total = time.perf_counter() - started
    rate, (low, high) = results["success_rate"], results["success_ci95"]
    print(
        "\n== quickstart done in {:.0f} s ({}) ==\n"
        "success rate: {:.1%} (95% CI {:.1%}-{:.1%}) over {} episodes\n"
        "videos:       {}\nresults:      {}\ncheckpoint:   {}\ndataset:      {}".format(
            total,
            ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()),
            rate, low, high, results["episodes"],
            eval_dir / "videos", eval_dir / "results.json", run_dir / "last.pt", data,
        )
    )
    return {"results": results, "seconds": total, "stage_seconds": timings}
