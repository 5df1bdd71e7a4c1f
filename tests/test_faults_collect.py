"""Fault matrix, collection and datasets: a full disk (simulated in-process, and a real tiny tmpfs),
a read-only output dir, hostile or non-finite chunks, and the dataset <-> env replay round trip.

Covered elsewhere: kill -9 mid-collection (test_collect.py), truncated chunks and meta mismatches
(test_data.py, test_collect.py), windows never crossing episodes (test_data.py).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    FAULT_ENV, FAULT_STEPS, CreatesFileWhenUnpickled, error_lines, no_space, run_cli, write_text_failing_at,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import worldjepa.atomic
from worldjepa.data import DatasetError, WindowDataset, collect, open_dataset
from worldjepa.data.collector import make_env, rollout_episode
from worldjepa.data.format import ARRAYS, list_episodes, write_episode
from worldjepa.data.policies import make_policy


def np_save_filling_the_disk(calls_ok: int):
    """np.save whose first `calls_ok` calls work; later ones write half the file, then raise ENOSPC."""
    real_save, calls = np.save, []

    def save(file, array, *args, **kwargs):
        calls.append(1)
        if len(calls) <= calls_ok:
            return real_save(file, array, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(buffer, array, *args, **kwargs)
        file.write(buffer.getvalue()[: buffer.tell() // 2])
        raise no_space()

    return save


def assert_same_episodes(root: Path, reference: Path, episodes: list[int]) -> None:
    """Every array of `episodes` in `root` loads completely and equals `reference`'s."""
    got, want = open_dataset(root), open_dataset(reference)
    assert list(got.episodes) == episodes
    for index in episodes:
        for name in ARRAYS:
            np.testing.assert_array_equal(got.load(index, name), want.load(index, name), err_msg=f"{index} {name}")


def tiny_collect(out: Path, episodes: int) -> dict:
    return collect(FAULT_ENV, "waypoint", episodes, out, workers=1, episode_steps=FAULT_STEPS, progress=False)


def test_collection_writes_episodes_and_meta_atomically(tmp_path, atomic_spy):
    out = tmp_path / "d"
    tiny_collect(out, 1)
    atomic_spy.assert_atomic(out / "meta.json")
    episode = out / "episodes" / "000000"
    atomic_spy.assert_atomic(episode)
    synced = {Path(e[1]).name for e in atomic_spy.events if e[0] == "fsync"}
    assert {f"{name}.npy" for name in ARRAYS} <= synced, "every array is fsynced before the episode is renamed in"


def test_atomic_text_writes_fsync_then_rename(tmp_path, atomic_spy):
    worldjepa.atomic.write_text_atomic(tmp_path / "episodes.csv", "seed,episode\n")
    atomic_spy.assert_atomic(tmp_path / "episodes.csv")


def test_disk_full_mid_episode_keeps_only_complete_episodes_then_resumes(tmp_path, monkeypatch, fault_dataset):
    out = tmp_path / "d"
    # 4 arrays per episode: episode 0 lands, episode 1 fails in its second array.
    monkeypatch.setattr(np, "save", np_save_filling_the_disk(calls_ok=5))
    with pytest.raises(OSError) as err:
        tiny_collect(out, 3)
    assert err.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert not [p.name for p in (out / "episodes").iterdir() if p.name.startswith(".")], "half-written temp dir left"
    assert_same_episodes(out, fault_dataset, [0])

    summary = tiny_collect(out, 3)  # space is back: the same command finishes the job
    assert summary["skipped"] == 1 and summary["written"] == 2
    assert_same_episodes(out, fault_dataset, [0, 1, 2])


def test_disk_full_writing_meta_leaves_nothing_that_blocks_the_rerun(tmp_path, monkeypatch, fault_dataset):
    out = tmp_path / "d"
    monkeypatch.setattr(Path, "write_text", write_text_failing_at(1))
    with pytest.raises(OSError, match="No space left"):
        tiny_collect(out, 1)
    monkeypatch.undo()
    assert not (out / "meta.json").exists()
    assert [p.name for p in out.iterdir()] == [], "a temp file of the failed meta.json write is left"
    assert tiny_collect(out, 1)["written"] == 1
    assert_same_episodes(out, fault_dataset, [0])


def test_disk_full_in_atomic_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    worldjepa.atomic.write_json_atomic(path, {"episodes": 3})
    monkeypatch.setattr(Path, "write_text", write_text_failing_at(1))
    with pytest.raises(OSError, match="No space left"):
        worldjepa.atomic.write_json_atomic(path, {"episodes": 4})
    monkeypatch.undo()
    assert path.read_text() == '{\n  "episodes": 3\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


@contextlib.contextmanager
def tiny_filesystem(path: Path, size: str):
    """A tmpfs of `size` mounted at `path` (root only); skips the test where mounting is not allowed."""
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a real full disk needs root to mount a tiny tmpfs")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_real_full_disk_through_the_cli(tmp_path, fault_dataset):
    """A tmpfs that holds one 32 px episode: `worldjepa collect` stops with the ENOSPC fix, keeps the
    complete episode, and once space is freed the same command finishes identical data."""
    with tiny_filesystem(tmp_path / "disk", "160k") as disk:
        out = disk / "d"
        args = ["collect", f"out={out}", "episodes=3", f"episode_steps={FAULT_STEPS}", "env.kwargs.image_size=32",
                "workers=1", "progress=false"]
        proc = run_cli(*args)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        assert error_lines(proc)[-1].startswith("worldjepa collect: error: [Errno 28] No space left on device")
        assert "the disk is full: free some space" in proc.stderr and "rerun the same command" in proc.stderr
        done = list_episodes(out)
        assert len(done) < 3 and not [p for p in (out / "episodes").iterdir() if p.name.startswith(".")]
        if done:
            assert_same_episodes(out, fault_dataset, done)
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert_same_episodes(out, fault_dataset, [0, 1, 2])


@contextlib.contextmanager
def read_only_dir(path: Path):
    """`path` as a directory nobody can write into. chmod does not stop root, so as root use the
    immutable attribute (chattr +i), which does; skip where neither works."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        undo = ["chmod", "755", str(path)]
    else:
        chattr = shutil.which("chattr") and subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if not chattr or chattr.returncode:
            pytest.skip("running as root, where chmod does not block writes, and chattr +i is unavailable")
        undo = ["chattr", "-i", str(path)]
    try:
        with tempfile.TemporaryFile(dir=path):
            pytest.skip("could not make a read-only directory here")
    except OSError:
        pass
    try:
        yield path
    finally:
        subprocess.run(undo, check=True)


def test_read_only_output_dir_is_one_clear_line(tmp_path):
    with read_only_dir(tmp_path / "ro") as ro:
        for out in (ro, ro / "d"):  # an existing read-only dir, and a new dir inside one
            proc = run_cli("collect", f"out={out}", "episodes=1", "episode_steps=3", "env.kwargs.image_size=32")
            lines = error_lines(proc)
            assert proc.returncode == 1 and len(lines) == 1, proc.stderr[-3000:]
            assert lines[0].startswith(f"worldjepa collect: error: out={out} is not writable (")
            assert lines[0].endswith("): pass a writable out=PATH")
        assert list(ro.iterdir()) == []


@pytest.fixture
def dataset_copy(tmp_path, fault_dataset) -> Path:
    return Path(shutil.copytree(fault_dataset, tmp_path / "copy"))


def test_pickled_objects_in_a_chunk_run_no_code(dataset_copy, tmp_path):
    marker = tmp_path / "pwned"
    path = dataset_copy / "episodes" / "000002" / "actions.npy"
    payload = np.empty(FAULT_STEPS, dtype=object)
    payload[0] = CreatesFileWhenUnpickled(marker)
    np.save(path, payload, allow_pickle=True)
    with pytest.raises(DatasetError, match=r"000002/actions\.npy is truncated or corrupt.*allow_pickle.*rerun"):
        WindowDataset(dataset_copy, window=3)
    assert not marker.exists(), "loading the dataset executed code from a pickle"
    np.load(path, allow_pickle=True)  # the payload is live: an unsafe load would have created the file
    assert marker.exists()


@pytest.mark.parametrize("name", ["actions", "state"])
def test_non_finite_values_in_a_chunk_are_reported_by_file_and_row(dataset_copy, name):
    path = dataset_copy / "episodes" / "000004" / f"{name}.npy"
    array = np.load(path)
    array[7, 0] = np.nan if name == "actions" else np.inf
    np.save(path, array)
    with pytest.raises(DatasetError, match=rf"000004/{name}\.npy holds NaN or inf \(rows \[7\]\): delete .*000004"):
        WindowDataset(dataset_copy, window=3)
    with pytest.raises(DatasetError, match=rf"000004/{name}\.npy holds NaN or inf \(rows \[7\]\)"):
        open_dataset(dataset_copy).load(4, name)  # the one guard every reader (train, imitate, value) goes through


def episode_arrays(root: Path) -> dict[str, np.ndarray]:
    """Episode 0's arrays read straight from disk (no meta.json: write_episode alone wrote them)."""
    return {name: np.load(root / "episodes" / "000000" / f"{name}.npy") for name in ARRAYS}


_replay_envs = {}


@settings(max_examples=6, deadline=None)
@given(env_id=st.sampled_from(["worldjepa/TwoRoom-v0", "worldjepa/Reacher-v0", "worldjepa/Push-v0"]),
       policy=st.sampled_from(["random", "correlated"]), seed=st.integers(0, 2**31 - 1))
def test_recorded_actions_replay_to_the_recorded_states_and_pixels(env_id, policy, seed):
    """Written to disk and read back, an episode's actions replay exactly: from the same reset seed
    (states and pixels), and from its first recorded state alone (states), as dataset goals need."""
    if env_id not in _replay_envs:  # hypothesis calls this many times: build each env once
        _replay_envs[env_id] = make_env(env_id, {"image_size": 16, "max_episode_steps": 8})
    env = _replay_envs[env_id]
    with tempfile.TemporaryDirectory() as tmp:
        write_episode(tmp, 0, rollout_episode(env, make_policy({"name": policy}), seed))
        recorded = episode_arrays(Path(tmp))
    obs, info = env.reset(seed=seed)
    pixels, states = [obs["pixels"]], [info["state"]]
    for action in recorded["actions"]:
        obs, _, _, _, info = env.step(action)
        pixels.append(obs["pixels"])
        states.append(info["state"])
    np.testing.assert_array_equal(np.stack(states), recorded["state"])
    np.testing.assert_array_equal(np.stack(pixels), recorded["pixels"])

    _, info = env.reset(seed=seed + 1, options={"start_state": recorded["state"][0]})
    states = [info["state"]] + [env.step(a)[4]["state"] for a in recorded["actions"]]
    np.testing.assert_array_equal(np.stack(states), recorded["state"])
