"""The damaged-file cases of benchmarks/bad_inputs.py: npy, json, csv, jsonl, pt and yaml files that are
missing, truncated, corrupt, of the wrong shape or dtype, or hold NaN or Inf."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bad_input_cases import BASE, Case, with_override

HOWS = ("missing", "truncated", "corrupt", "shape", "dtype", "nan", "inf")


def copy(src: Path, dst: Path) -> Path:
    """`src` (a file or a directory) copied to `dst`; returns `dst`."""
    (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    return dst


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt(path: Path) -> None:
    path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))


def damage_bytes(path: Path, how: str) -> bool:
    """Apply the damage every file type shares (missing, truncated, corrupt); False for the others."""
    if how == "missing":
        path.unlink()
    elif how in ("truncated", "corrupt"):
        (truncate if how == "truncated" else corrupt)(path)
    return how in ("missing", "truncated", "corrupt")


def damage_npy(path: Path, how: str) -> None:
    if damage_bytes(path, how):
        return
    array = np.load(path)
    if how == "shape":
        array = array[..., :1] if array.ndim > 1 else array[:, None]
    elif how == "dtype":
        array = array.astype(np.float64 if array.dtype == np.uint8 else np.int64)
    else:
        array = array.astype(np.float32)
        array.flat[3] = np.nan if how == "nan" else np.inf
    np.save(path, array)


def damage_meta(path: Path, how: str) -> None:
    if damage_bytes(path, how):
        return
    meta = json.loads(path.read_text())
    bad = {"shape": [meta], "dtype": {**meta, "image_size": "big", "action_dim": "two"},
           "nan": {**meta, "image_size": float("nan")}, "inf": {**meta, "action_dim": float("inf")}}[how]
    path.write_text(json.dumps(bad))


def damage_checkpoint(path: Path, how: str) -> None:
    if damage_bytes(path, how):
        return
    ckpt = torch.load(path, weights_only=True)
    name, weight = next((k, v) for k, v in ckpt["state_dict"].items() if v.is_floating_point() and v.ndim >= 1)
    if how == "shape":
        weight = weight.reshape(-1)[:-1]
    elif how == "dtype":
        weight = weight.to(torch.int64)
    else:
        weight = weight.clone()
        weight.view(-1)[0] = float("nan") if how == "nan" else float("inf")
    ckpt["state_dict"][name] = weight
    torch.save(ckpt, path)


def damage_csv(path: Path, how: str) -> None:
    if damage_bytes(path, how):
        return
    header, *rows = path.read_text().splitlines()
    cells = rows[0].split(",")
    column = {"shape": 0, "dtype": 3, "nan": 5, "inf": 6}[how]
    if how == "shape":
        header, cells = ",".join(header.split(",")[1:]), cells[1:]
    else:
        cells[column] = {"dtype": "many", "nan": "nan", "inf": "inf"}[how]
    path.write_text("\n".join([header, ",".join(cells), *rows[1:]]) + "\n")


def damage_jsonl(path: Path, how: str) -> None:
    if damage_bytes(path, how):
        return
    first, *rest = path.read_text().splitlines()
    row = json.loads(first)
    bad = {"shape": [row], "dtype": {**row, "episode": "first"}, "nan": {**row, "distances": [float("nan")]},
           "inf": {**row, "cost_history": [float("inf")]}}[how]
    path.write_text("\n".join([json.dumps(bad), *rest]) + "\n")


def file_case(id_: str, command: str, kind: str, args: list[str], names: str,
              damage: Callable[[Path, str], None], how: str, source: str, target: str) -> Case:
    """A case that copies fixture `source` to the case dir's `target` and damages the file `names` in it."""
    def setup(case: Path, fx: dict) -> None:
        root = copy(fx[source], case / target)
        damage(root / names if root.is_dir() else root, how)
    return Case(f"{id_}.{how}", command, f"file_{kind}", args, names, setup)


def dataset_cases() -> list[Case]:
    """Damaged episode arrays and meta.json, for every command that reads a dataset."""
    # imitate reads a dataset through the same loader as value
    readers = {"train": "data={case}/data", "inspect": "path={case}/data", "value": "data={case}/data"}
    arrays = {"pixels": HOWS, "actions": ("missing", "shape", "dtype", "nan", "inf"), "proprio": ("truncated", "nan")}
    # value (and imitate) fit on pixels and actions alone: proprio.npy is not an input of theirs to refuse.
    unread = {"value": {"proprio"}}
    cases = []
    for command, arg in readers.items():
        args = with_override(command, arg)
        for name, hows in ((n, h) for n, h in arrays.items() if n not in unread.get(command, ())):
            cases += [file_case(f"{command}.npy.{name}", command, "npy", args, f"episodes/000001/{name}.npy",
                                damage_npy, how, "data", "data") for how in hows]
        cases += [file_case(f"{command}.json.meta", command, "json", args, "meta.json", damage_meta, how, "data",
                            "data") for how in HOWS]
    return cases


def checkpoint_cases() -> list[Case]:
    """Damaged world models (for every command that loads one), policies, values and a run's own last.pt."""
    cases = []
    for command in ("plan", "imitate", "value", "landscape"):
        args = with_override(command, "checkpoint={case}/last.pt")
        cases += [file_case(f"{command}.pt.checkpoint", command, "pt", args, "last.pt", damage_checkpoint, how,
                            "ckpt", "last.pt") for how in HOWS]
    for key, arg, name, extra in (("policy", "prior={case}/policy.pt", "policy.pt", []),
                                  ("value", "cost.value={case}/value.pt", "value.pt", ["cost.metric=value"])):
        args = [*with_override("plan", arg), *extra]
        cases += [file_case(f"plan.pt.{key}", "plan", "pt", args, name, damage_checkpoint, how, key, name)
                  for how in ("missing", "truncated", "corrupt", "shape", "nan")]
    resume = ["train", *BASE["train"], "steps=4", "out={case}/run"]
    cases += [file_case("train.pt.resume", "train", "pt", resume, "last.pt", damage_checkpoint, how, "run", "run")
              for how in ("truncated", "corrupt", "shape", "nan")]
    cases += [file_case("train.json.metrics", "train", "json", resume, "metrics.json", damage_bytes, how, "run", "run")
              for how in ("truncated", "corrupt")]
    return cases


# The fixture evaluation ran 2 episodes; asking for 3 makes the rerun read what it recorded.
PLAN_RESUME = ["plan", "planner=random", "episodes=3", "batch=1", "budget=3", "videos=0", "env.kwargs.image_size=32",
               "threads=1", "progress=false", "out={case}/eval"]


def evaluation_cases() -> list[Case]:
    """A resumed evaluation whose episodes.csv or traces.jsonl is damaged."""
    cases = [file_case("plan.csv.episodes", "plan", "csv", PLAN_RESUME, "episodes.csv", damage_csv, how, "eval", "eval")
             for how in HOWS if how != "missing"]
    cases += [file_case("plan.jsonl.traces", "plan", "jsonl", PLAN_RESUME, "traces.jsonl", damage_jsonl, how, "eval",
                        "eval") for how in HOWS if how != "missing"]
    return cases


ENV_YAML = "name: mine\nid: worldjepa/TwoRoom-v0\nmax_episode_steps: 10\nkwargs: {image_size: 32, other_room_prob: 0.5}\n"
YAML_DAMAGE = {"truncated": ENV_YAML[:70], "corrupt": "\x00\xff: [: {", "shape": "- 1\n- 2\n",
               "dtype": ENV_YAML.replace("image_size: 32", "image_size: big"),
               "nan": ENV_YAML.replace("image_size: 32", "image_size: .nan"),
               "inf": ENV_YAML.replace("image_size: 32", "image_size: .inf"),
               "unknown_key": ENV_YAML.replace("image_size: 32", "image_size: 32, colour: red")}


def yaml_cases() -> list[Case]:
    """A user's own env config (through hydra.searchpath) that is damaged, and a run record's config.yaml."""
    cases = []
    for command in ("collect", "plan", "landscape"):
        args = [a for a in with_override(command, "env=mine") if not a.startswith("env.kwargs.image_size=")]
        args.append("hydra.searchpath=[file://{case}/conf]")
        for how in ("missing", *YAML_DAMAGE):
            def setup(case: Path, fx: dict, how: str = how) -> None:
                (case / "conf" / "env").mkdir(parents=True)
                if how != "missing":
                    (case / "conf" / "env" / "mine.yaml").write_text(YAML_DAMAGE[how], errors="surrogateescape")
            cases.append(Case(f"{command}.yaml.env.{how}", command, "file_yaml", args,
                              {"missing": "mine", "unknown_key": "colour"}.get(how, "image_size" if how in ("dtype", "nan", "inf") else "mine.yaml"),
                              setup))
    # A refused rerun must put back the run record it found, even one that is not text.
    for how in ("truncated", "corrupt"):
        cases.append(file_case("plan.yaml.record", "plan", "yaml", [*PLAN_RESUME, "batch=0"], ".hydra/config.yaml",
                               damage_bytes, how, "eval", "eval"))
        cases[-1].names = "batch"
    return cases


def all_file_cases() -> list[Case]:
    return [*dataset_cases(), *checkpoint_cases(), *evaluation_cases(), *yaml_cases()]
