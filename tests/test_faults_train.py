"""Fault matrix, training: kill -9, a full disk, a failing evaluation, a dataset of another env.

Repeated kill -9 at random times and a full disk while a checkpoint is written (the rerun must reach
exactly the uninterrupted run's weights), a final evaluation that fails (the final checkpoint is
already on disk), and resuming a run with a dataset of another env.

Covered elsewhere (test_train.py): kill -9 while a checkpoint temp file is half written, exact
resume after an interrupt, NaN loss, exploding embeddings, resume with another model config.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import FAULT_ENV, TINY_TRAIN, WORLDJEPA, error_lines, run_cli, sigkill_when, train_cfg

import worldjepa.checkpoint
from worldjepa.atomic import is_temp_file
from worldjepa.checkpoint import load_checkpoint
from worldjepa.data import collect
from worldjepa.training import validation
from worldjepa.training.train import run

STEPS = 40


@pytest.fixture(scope="module")
def uninterrupted(fault_dataset, tmp_path_factory) -> dict[str, torch.Tensor]:
    """Final weights (EMA target included) of a 40-step run that nothing interrupted."""
    out = tmp_path_factory.mktemp("train_clean") / "run"
    run(train_cfg(fault_dataset, out, f"steps={STEPS}", "ckpt_every=10"))
    return load_checkpoint(out / "last.pt")["state_dict"]


def assert_finished_like(out: Path, reference: dict[str, torch.Tensor]) -> None:
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["training_state"]["step"] == STEPS
    assert ckpt["state_dict"].keys() == reference.keys()
    for name, value in reference.items():
        torch.testing.assert_close(ckpt["state_dict"][name], value, rtol=0, atol=1e-6, msg=name)
    assert (out / "metrics.json").exists()
    assert not [p for p in out.iterdir() if is_temp_file(p)], "temp files of killed checkpoint writes are left"


def saved_step(out: Path) -> int:
    """The step of out/last.pt, 0 before the first checkpoint."""
    return load_checkpoint(out / "last.pt")["training_state"]["step"] if (out / "last.pt").exists() else 0


def test_repeated_kill_9_at_random_times_then_resume_reaches_the_uninterrupted_weights(
    fault_dataset, tmp_path, uninterrupted
):
    out = tmp_path / "run"
    args = [*WORLDJEPA, "train", f"data={fault_dataset}", f"out={out}", *TINY_TRAIN, f"steps={STEPS}", "ckpt_every=1"]
    rng = random.Random(0)
    steps_at_kill = []
    for _ in range(2):
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before = saved_step(out)
        # Once this run has made progress, kill it at a random moment (mid-step or mid-write).
        sigkill_when(proc, lambda: saved_step(out) > before, timeout=120, settle=rng.uniform(0.0, 0.3))
        steps_at_kill.append(saved_step(out))
    assert steps_at_kill[0] < steps_at_kill[1] < STEPS, steps_at_kill
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming {out} from step {steps_at_kill[1]}" in proc.stdout
    assert_finished_like(out, uninterrupted)


def test_disk_full_while_writing_a_checkpoint_keeps_the_previous_one_then_resumes(
    fault_dataset, tmp_path, monkeypatch, uninterrupted
):
    real_save, calls = torch.save, []

    def save_filling_the_disk(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) != 2:  # the step-10 checkpoint lands, the step-20 one hits a full disk
            return real_save(obj, f, *args, **kwargs)
        f.write(b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(worldjepa.checkpoint.torch, "save", save_filling_the_disk)
    out = tmp_path / "run"
    with pytest.raises(OSError, match="No space left on device"):
        run(train_cfg(fault_dataset, out, f"steps={STEPS}", "ckpt_every=10"))
    monkeypatch.undo()
    assert load_checkpoint(out / "last.pt")["training_state"]["step"] == 10
    assert not list(out.glob(".last.pt.*")), "the failed write left a temp file"
    assert not (out / "metrics.json").exists()
    run(train_cfg(fault_dataset, out, f"steps={STEPS}", "ckpt_every=10"))
    assert_finished_like(out, uninterrupted)


def test_checkpoints_are_written_atomically(fault_dataset, tmp_path, atomic_spy):
    out = tmp_path / "run"
    run(train_cfg(fault_dataset, out, "steps=2"))
    atomic_spy.assert_atomic(out / "last.pt")
    atomic_spy.assert_atomic(out / "metrics.json")


def test_a_failing_final_evaluation_keeps_the_final_checkpoint_and_a_rerun_evaluates_it(
    fault_dataset, tmp_path, monkeypatch, caplog
):
    real_evaluate, calls = validation.validate_model, []

    def fails_at_the_end(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # eval_every=3 of 6 steps: the second evaluation is the final one
            raise RuntimeError("evaluation broke")
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(validation, "validate_model", fails_at_the_end)
    out = tmp_path / "run"
    cfg = train_cfg(fault_dataset, out, "steps=6", "eval_every=3", "ckpt_every=4")
    with caplog.at_level("ERROR"), pytest.raises(RuntimeError, match="evaluation broke"):
        run(cfg)
    assert load_checkpoint(out / "last.pt")["training_state"]["step"] == 6  # the final weights are kept
    assert "evaluation after step 6 failed" in caplog.text and "holds step 6: rerun the same command" in caplog.text
    assert not (out / "metrics.json").exists()

    # The rerun trains no step and writes no checkpoint: it evaluates the saved weights and writes metrics.json.
    stamp = (out / "last.pt").stat().st_mtime_ns
    result = run(cfg)
    assert len(calls) == 3 and result["step"] == 6 and result["val"]["windows"] >= 1
    assert (out / "last.pt").stat().st_mtime_ns == stamp and (out / "metrics.json").exists()


def test_resuming_a_run_with_a_dataset_of_another_env_is_refused(fault_dataset, tmp_path):
    reacher = tmp_path / "reacher"
    env = {"name": "reacher", "id": "worldjepa/Reacher-v0", "kwargs": FAULT_ENV["kwargs"]}
    collect(env, "random", 5, reacher, workers=1, episode_steps=10, progress=False)
    out = tmp_path / "run"
    run(train_cfg(fault_dataset, out, "steps=2"))
    with pytest.raises(ValueError, match=r"worldjepa/TwoRoom-v0.*worldjepa/Reacher-v0.*out="):
        run(train_cfg(reacher, out, "steps=4"))
    assert load_checkpoint(out / "last.pt")["training_state"]["step"] == 2


def test_diverged_training_through_the_cli_ends_in_one_error_line_not_a_traceback(fault_dataset, tmp_path):
    out = tmp_path / "run"
    proc = run_cli("train", f"data={fault_dataset}", f"out={out}", *TINY_TRAIN, "steps=2", "guard.max_embed_norm=1e-3")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = error_lines(proc)[-1]
    assert last.startswith("worldjepa train: error: training diverged at step 0: exploding embeddings"), last
    assert "Fix:" in last and not (out / "last.pt").exists()


def test_ctrl_c_checkpoints_the_finished_steps_then_resume_reaches_the_uninterrupted_weights(
    fault_dataset, tmp_path, uninterrupted
):
    out = tmp_path / "run"
    # No periodic checkpoint before the end: whatever is on disk after Ctrl-C was written because of it.
    args = [*WORLDJEPA, "train", f"data={fault_dataset}", f"out={out}", *TINY_TRAIN, f"steps={STEPS}", "eval_every=5",
            f"ckpt_every={STEPS}"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:
        if line.startswith("step 5:"):  # the validation line of step 5: training is under way
            break
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted; rerun the same command to resume" in stderr, stderr[-2000:]
    kept = saved_step(out)
    assert 5 <= kept < STEPS
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0 and f"resuming {out} from step {kept}" in resumed.stdout, resumed.stderr[-2000:]
    assert_finished_like(out, uninterrupted)
