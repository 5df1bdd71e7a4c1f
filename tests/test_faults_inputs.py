"""Fault matrix, bad input through the real CLI: every case must exit non-zero with ONE clear line
on stderr (`worldjepa <command>: error: ...` naming the problem and the fix), never a traceback.

All cases run as subprocesses concurrently in one module fixture (each costs a Python + torch start).
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import FAULT_ENV, TINY_TRAIN, CreatesFileWhenUnpickled, error_lines, run_cli

from worldjepa.data import collect, split_episodes

# A plan run that would finish in a second if a bad value slipped through; horizon=2 = the tiny
# checkpoint's train_horizon, so no warning lines precede the error.
PLAN = ["progress=false", "env.kwargs.image_size=32", "protocol.goal_source=env", "videos=0", "budget=3",
        "horizon=2", "planner=cem", "planner.samples=4", "planner.iterations=1", "planner.elites=2"]
TRAIN = [*TINY_TRAIN, "steps=1"]


PLAN_WITH_MODEL = ["plan", "checkpoint={ckpt}", *PLAN]
TRAIN_ON_DATA = ["train", "data={data}", *TRAIN]
# name -> (CLI args, formatted with the paths of the `inputs` fixture; regex the error line must match).
# Names start with the command. `out={out}` is added unless the case sets out itself.
CASES: dict[str, tuple[list[str], str]] = {
    # collect: counts, names, sizes, a foreign existing dataset, an output path that cannot exist
    "collect_negative_episodes": (["collect", "episodes=-3"], r"episodes=-3 must be a positive integer"),
    "collect_zero_workers": (["collect", "workers=0"], r"workers=0 must be a positive integer"),
    "collect_unknown_env": (["collect", "env=three_room"],
                            r"unknown env 'three_room': valid choices are gym_pusher, gym_swimmer, push, reacher, two_room"),
    "collect_unknown_policy": (["collect", "policy=brownian"],
                               r"unknown policy 'brownian': valid choices are correlated, held_mixture, mixture, random, waypoint"),
    "collect_misspelt_key": (["collect", "episods=3"], r"unknown key 'episods': check its spelling.*--help"),
    "collect_zero_image_size": (["collect", "env.kwargs.image_size=0"], r"image_size=0 is too small.*pass 8 or more"),
    "collect_into_other_env_dataset": (
        ["collect", "env=reacher", "out={foreign_out}"],
        r"env_id: dataset has \"worldjepa/TwoRoom-v0\", this run asks for \"worldjepa/Reacher-v0\".*new out=PATH",
    ),
    "collect_out_under_a_file": (["collect", "out={a_file}/d"],
                                 r"a_file/d is not writable \(Not a directory\): pass a writable out=PATH"),
    # train: counts, names, devices, damaged or unusable datasets
    "train_missing_data": (["train", *TRAIN], r"missing data: pass data="),
    "train_zero_steps": ([*TRAIN_ON_DATA, "steps=0"], r"steps=0 must be a positive integer"),
    "train_negative_batch_size": ([*TRAIN_ON_DATA, "batch_size=-4"], r"batch_size=-4 must be a positive integer"),
    "train_zero_rollout_steps": ([*TRAIN_ON_DATA, "rollout_steps=0"], r"rollout_steps=0 must be a positive integer"),
    "train_cuda_without_gpu": ([*TRAIN_ON_DATA, "device=cuda"], r"device=cuda.*no CUDA GPU.*device=cpu"),
    "train_unknown_encoder": ([*TRAIN_ON_DATA, "model/encoder=resnet"],
                              r"unknown model/encoder 'resnet': valid choices are cnn, vit"),
    "train_truncated_chunk": (["train", "data={truncated}", *TRAIN],
                              r"\d{6}/pixels\.npy is truncated or corrupt.*delete .*\d{6} and rerun"),
    "train_image_size_the_encoder_cannot_take": (["train", "data={data_40px}", *TRAIN],
                                                 r"image_size=40.*multiple of 16.*collect the dataset"),
    # plan: counts, names, horizons, devices, checkpoints and datasets that do not fit the env
    "plan_zero_episodes": ([*PLAN_WITH_MODEL, "episodes=0"], r"episodes=0.*need episodes >= 1"),
    "plan_negative_videos": ([*PLAN_WITH_MODEL, "videos=-1"], r"videos=-1.*videos >= 0"),
    "plan_zero_horizon": ([*PLAN_WITH_MODEL, "horizon=0"], r"horizon=0: both must be positive integers"),
    "plan_zero_samples": ([*PLAN_WITH_MODEL, "planner.samples=0"], r"samples >= 2"),
    "plan_unknown_planner": (["plan", "planner=ilqr"],
                             r"unknown planner 'ilqr': valid choices are cem, gradient, mppi, oracle, policy, random"),
    "plan_horizon_beyond_training": ([*PLAN_WITH_MODEL, "horizon=100"],
                                     r"horizon=100 is more than 4x the model's train_horizon=2.*horizon<=8"),
    "plan_cuda_without_gpu": ([*PLAN_WITH_MODEL, "device=cuda"], r"device=cuda.*no CUDA GPU.*device=cpu"),
    "plan_checkpoint_of_other_env": ([*PLAN_WITH_MODEL, "env=reacher"],
                                     r"trained on worldjepa/TwoRoom-v0 but env is worldjepa/Reacher-v0"),
    "plan_other_image_size": ([*PLAN_WITH_MODEL, "env.kwargs.image_size=64"],
                              r"32px frames but env renders 64px.*image_size=32"),
    "plan_dataset_of_other_env": (
        ["plan", "planner=oracle", "env=reacher", "protocol.goal_source=dataset", "protocol.dataset={data}", "progress=false",
         "videos=0"],
        r"collected on worldjepa/TwoRoom-v0.*evaluation env is worldjepa/Reacher-v0.*same env",
    ),
    "plan_truncated_checkpoint": (["plan", "checkpoint={truncated_pt}", *PLAN],
                                  r"not a readable worldjepa checkpoint.*truncated"),
    "plan_arbitrary_pickle_checkpoint": (["plan", "checkpoint={evil_pt}", *PLAN],
                                         r"not a readable worldjepa checkpoint"),
    "plan_policy_without_prior": (["plan", "checkpoint={ckpt}", "planner=policy", *PLAN[:6]],
                                  r"planner=policy .*pass prior=PATH"),
    # imitate: the checkpoint it fits a policy for, and counts
    "imitate_missing_checkpoint": (["imitate"], r"missing checkpoint: pass checkpoint="),
    "imitate_truncated_checkpoint": (["imitate", "checkpoint={truncated_pt}"], r"not a readable worldjepa checkpoint"),
    "imitate_zero_steps": (["imitate", "checkpoint={ckpt}", "steps=0"], r"steps=0 must be a positive integer"),
    # quickstart: a stage key is checked by that stage's config before the first stage runs
    "quickstart_misspelt_stage_key": (["quickstart", "train.stpes=3"],
                                      r"train settings: unknown key 'train.stpes': check its spelling"),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, fault_dataset, fault_checkpoint) -> dict[str, Path]:
    """The damaged, foreign and hostile files the cases point at."""
    tmp = tmp_path_factory.mktemp("bad_inputs")
    files = {"a_file": tmp / "a_file", "foreign_out": tmp / "foreign_out", "truncated": tmp / "truncated",
             "data_40px": tmp / "data_40px", "truncated_pt": tmp / "truncated.pt", "evil_pt": tmp / "evil.pt",
             "marker": tmp / "pwned", "data": fault_dataset, "ckpt": fault_checkpoint}
    files["a_file"].write_text("not a directory\n")
    shutil.copytree(fault_dataset, files["foreign_out"])
    shutil.copytree(fault_dataset, files["truncated"])
    # A held-out episode: the damage must be reported before training starts, not at the first evaluation.
    _, val = split_episodes(fault_dataset, 0.2, seed=0)
    pixels = files["truncated"] / "episodes" / f"{val[0]:06d}" / "pixels.npy"
    pixels.write_bytes(pixels.read_bytes()[:-1000])
    collect({**FAULT_ENV, "kwargs": {"image_size": 40}}, "random", 2, files["data_40px"], workers=1,
            episode_steps=6, progress=False)
    data = fault_checkpoint.read_bytes()
    files["truncated_pt"].write_bytes(data[: len(data) // 2])
    with open(files["evil_pt"], "wb") as f:
        pickle.dump({"format": "worldjepa-checkpoint", "payload": CreatesFileWhenUnpickled(files["marker"])}, f)
    return files


@pytest.fixture(scope="module")
def outs(tmp_path_factory) -> Path:
    """Parent of the `out` dirs of the cases that do not pass their own out=."""
    return tmp_path_factory.mktemp("bad_input_runs")


@pytest.fixture(scope="module")
def results(inputs, outs) -> dict[str, subprocess.CompletedProcess]:
    """Every case's finished process, run a few at a time."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def launch(name: str) -> subprocess.CompletedProcess:
        args = [arg.format(**inputs) for arg in CASES[name][0]]
        out = [] if any(a.startswith("out=") for a in args) else [f"out={outs / name}"]
        return run_cli(*args, *out, env=env)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(CASES, pool.map(launch, CASES)))


@pytest.mark.parametrize("case", list(CASES))
def test_bad_cli_input_is_one_clear_line(case, results):
    proc, pattern = results[case], CASES[case][1]
    command = case.split("_")[0]
    lines = error_lines(proc)
    assert proc.returncode != 0, f"accepted: {proc.args}\n{proc.stdout[-2000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr[-3000:]}"
    assert lines[0].startswith(f"worldjepa {command}: error: "), lines[0]
    assert re.search(pattern, lines[0]), f"{lines[0]!r} does not match {pattern!r}"


def test_rejected_commands_leave_no_run_dir_behind(results, outs):
    made = sorted(p.name for p in outs.iterdir())
    assert made == [], f"rejected commands left their out dirs: {made}"


def test_arbitrary_pickle_checkpoint_runs_no_code(results, inputs):
    assert results["plan_arbitrary_pickle_checkpoint"].returncode != 0
    assert not inputs["marker"].exists(), "loading the checkpoint executed code from the pickle"
    with open(inputs["evil_pt"], "rb") as f:  # the payload is live: an unsafe load would have created the file
        pickle.load(f)
    assert inputs["marker"].exists()


def test_rejected_inputs_leave_the_datasets_untouched(results, inputs, fault_dataset):
    foreign = inputs["foreign_out"]
    assert sorted(p.name for p in (foreign / "episodes").iterdir()) == sorted(
        p.name for p in (fault_dataset / "episodes").iterdir()
    )
    assert (foreign / "meta.json").read_text() == (fault_dataset / "meta.json").read_text()


@pytest.mark.parametrize("args, expected", [
    (["plan", "episodes=abc"], r"episodes='abc' must be an integer: pass e\.g\. episodes=50"),
    (["train", "data=x", "optim.lr=fast"], r"optim\.lr='fast' must be a number"),
    (["collect", "episodes=2.5"], r"episodes=2\.5 must be an integer"),
    (["plan", "planner=mppi", "planner.samples=many"], r"planner\.samples='many' must be an integer: pass e\.g\. planner\.samples=1000"),
    (["plan", "hold=maybe"], r"hold='maybe' must be true or false or null: pass e\.g\. hold=true"),
])
def test_a_value_of_the_wrong_type_is_one_line_and_writes_nothing(tmp_path, args, expected):
    out = tmp_path / "out"
    proc = run_cli(*args, f"out={out}")
    assert proc.returncode != 0 and re.search(expected, error_lines(proc)[-1]), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not out.exists()


def test_a_refused_command_leaves_the_run_record_it_found(tmp_path):
    out = tmp_path / "eval"
    (out / ".hydra").mkdir(parents=True)
    for name in ("config.yaml", "overrides.yaml"):
        (out / ".hydra" / name).write_text(f"the {name} of an earlier run\n")
    proc = run_cli("plan", "planner=oracle", "protocol.goal_source=dataset", f"out={out}")  # refused after Hydra starts
    assert proc.returncode != 0 and "protocol.dataset is null" in error_lines(proc)[-1]
    for name in ("config.yaml", "overrides.yaml"):
        assert (out / ".hydra" / name).read_text() == f"the {name} of an earlier run\n"


def test_an_unexpected_error_is_one_line_unless_debugging(tmp_path, monkeypatch, capsys):
    from worldjepa import cli

    def broken(cfg):
        raise RuntimeError("the planner's cache is inconsistent")

    monkeypatch.setattr(cli, "_resolve", lambda target: broken)
    out = tmp_path / "eval"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["plan", "planner=random", f"out={out}"])
    message = str(exit_info.value.code)
    assert message.startswith("worldjepa plan: internal error: RuntimeError: the planner's cache is inconsistent")
    assert "WORLDJEPA_DEBUG=1" in message and "\n" not in message and not out.exists()
    monkeypatch.setenv("WORLDJEPA_DEBUG", "1")  # the error goes on to Hydra, which prints its traceback
    with pytest.raises(SystemExit):
        cli.main(["plan", "planner=random", f"out={out}"])
    assert "Traceback" in capsys.readouterr().err
