"""Shared pytest fixtures.

Fault matrix (tests/test_faults_*.py): one tiny real dataset and one tiny trained checkpoint per
session, helpers that run the real `worldjepa` CLI in a subprocess, and a spy on atomic writes.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

# ---- fault matrix ---------------------------------------------------------------------------

FAULT_ENV = {"name": "two_room", "id": "worldjepa/TwoRoom-v0", "kwargs": {"image_size": 32}}
FAULT_EPISODES, FAULT_STEPS = 6, 20
# A few-thousand-parameter model and 32 px frames: every training run in the matrix takes seconds.
TINY_TRAIN = [
    "logger=none", "threads=1", "batch_size=4", "history=2", "rollout_steps=2", "frameskip=2",
    "val_fraction=0.2", "log_every=2", "eval_every=1000", "eval.probe_frames=40", "eval.max_windows=8",
    "optim.warmup_steps=2", "model.encoder.channels=[4,4,4]", "model.encoder.embed_dim=8",
    "model.predictor.hidden=16", "model.predictor.depth=1", "collapse.threshold=0",
]
WORLDJEPA = [sys.executable, "-m", "worldjepa.cli"]


def train_cfg(data: Path, out: Path, *overrides: str):
    """Compose configs/train.yaml with the tiny fault-matrix settings, as the CLI would."""
    from hydra import compose, initialize_config_dir

    from worldjepa.cli import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=[f"data={data}", f"out={out}", *TINY_TRAIN, *overrides])


@pytest.fixture(scope="session")
def fault_dataset(tmp_path_factory) -> Path:
    """6 TwoRoom episodes of 20 steps at 32 px from the real collector (read-only for tests)."""
    from worldjepa.data import collect

    root = tmp_path_factory.mktemp("faults") / "two_room"
    collect(FAULT_ENV, "waypoint", FAULT_EPISODES, root, workers=2, episode_steps=FAULT_STEPS, progress=False)
    return root


@pytest.fixture(scope="session")
def fault_checkpoint(fault_dataset, tmp_path_factory) -> Path:
    """last.pt of a 4-step real `worldjepa train` run on `fault_dataset` (train_horizon 2, frameskip 2)."""
    from worldjepa.training.train import run

    out = tmp_path_factory.mktemp("faults") / "run"
    run(train_cfg(fault_dataset, out, "steps=4"))
    return out / "last.pt"


def run_cli(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run `worldjepa ARGS` in a subprocess and capture its text output."""
    return subprocess.run([*WORLDJEPA, *args], capture_output=True, text=True, timeout=timeout, **kwargs)


def sigkill_when(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float, settle: float = 0.0) -> None:
    """Poll until ``ready()``, wait ``settle`` s more, then kill -9 ``proc`` and reap it.

    Fails the test if the process ends (or the timeout passes) before it could be killed.
    """
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
            time.sleep(0.001)
        time.sleep(settle)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """The non-blank stderr lines of a finished CLI run."""
    return [line for line in proc.stderr.splitlines() if line.strip()]


def no_space(path: object = None) -> OSError:
    """The error a full disk raises."""
    return OSError(errno.ENOSPC, "No space left on device", None if path is None else str(path))


def write_text_failing_at(call: int):
    """Path.write_text whose `call`-th call (1-based) writes half the text, then raises ENOSPC,
    like a disk filling up mid-write. Install with monkeypatch.setattr(Path, "write_text", ...)."""
    real, calls = Path.write_text, []

    def write_text(self: Path, data: str, *args, **kwargs) -> int:
        calls.append(1)
        if len(calls) != call:
            return real(self, data, *args, **kwargs)
        real(self, data[: len(data) // 2])
        raise no_space(self)

    return write_text


class CreatesFileWhenUnpickled:
    """A pickle payload: unpickling calls open(path, "w"), which creates `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


class AtomicWriteSpy:
    """Records fsyncs (by path) and renames, to check a file was written to a temp name in the same
    dir, fsynced, then renamed into place."""

    def __init__(self, monkeypatch) -> None:
        self.events: list[tuple[str, ...]] = []
        real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

        def fsync(fd: int) -> None:
            self.events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
            real_fsync(fd)

        def move(real):
            def wrapped(src, dst, *args, **kwargs):
                self.events.append(("rename", os.path.realpath(src), os.path.realpath(dst)))
                return real(src, dst, *args, **kwargs)
            return wrapped

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", move(real_replace))
        monkeypatch.setattr(os, "rename", move(real_rename))

    def assert_atomic(self, path: Path) -> None:
        """`path` appeared by a rename from a sibling temp name whose contents were fsynced first."""
        path = Path(os.path.realpath(path))
        renames = [i for i, e in enumerate(self.events) if e[0] == "rename" and e[2] == str(path)]
        assert renames, f"{path} was not renamed into place: {self.events}"
        src = Path(self.events[renames[-1]][1])
        assert src.parent == path.parent and src.name != path.name, f"temp {src} is not a sibling of {path}"
        synced = {Path(e[1]) for e in self.events[: renames[-1]] if e[0] == "fsync"}
        assert src in synced or any(src in p.parents for p in synced), f"{src} was not fsynced before the rename"


@pytest.fixture
def atomic_spy(monkeypatch) -> AtomicWriteSpy:
    """An `AtomicWriteSpy` active for one test (Linux: reads /proc/self/fd)."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd to name fsynced files")
    return AtomicWriteSpy(monkeypatch)


def assert_results_match_episodes(out: Path, episodes: int) -> dict:
    """results.json in `out` counts exactly the episodes and successes recorded in episodes.csv; returns it."""
    import csv
    import json

    results = json.loads((out / "results.json").read_text())
    rows = list(csv.DictReader(open(out / "episodes.csv")))
    successes = sum(r["success"] == "True" for r in rows)
    assert results["episodes"] == len(rows) == episodes and results["successes"] == successes
    assert results["success_rate"] == successes / episodes
    assert results["env_steps"] == sum(int(r["steps"]) for r in rows)
    return results


def record_inits(planner) -> list:
    """Wrap planner.solve so every call's init_mean is appended to the returned list."""
    inits, solve = [], planner.solve

    def spy(cost_fn, batch_size, init_mean=None, proposal=None):
        inits.append(init_mean)
        return solve(cost_fn, batch_size, init_mean, proposal)

    planner.solve = spy
    return inits
