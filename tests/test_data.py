"""Tests for the dataset format, training windows, batches and `inspect`, on synthetic episodes."""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from worldjepa.data import Batch, DatasetError, WindowDataset, open_dataset, split_episodes
from worldjepa.data.format import (
    FORMAT_VERSION,
    clean_temp_dirs,
    create_or_check_meta,
    list_episodes,
    write_episode,
)
from worldjepa.data.inspect import run as inspect_run

S, A, P, D = 4, 2, 4, 4
META = {
    "env_id": "worldjepa/TwoRoom-v0", "env_kwargs": {}, "action_repeat": 5, "image_size": S,
    "action_dim": A, "proprio_dim": P, "state_dim": D, "policy": {"name": "random"}, "seed": 0,
    "worldjepa_version": "test",
}


def synthetic_episode(index: int, frames: int, crosses: bool = False) -> dict[str, np.ndarray]:
    """Arrays whose values encode (episode, time), so a window's source is checkable.

    pixels[t] == (10 * index + t) % 256; actions[t] == [1000 * index + t, -t]; proprio x goes
    from -0.5 to +0.5 (crosses x = 0) when ``crosses``, else stays at -0.5.
    """
    t = np.arange(frames)
    pixels = np.broadcast_to(((10 * index + t) % 256).astype(np.uint8)[:, None, None, None], (frames, S, S, 3))
    actions = np.stack([1000.0 * index + t[:-1], -t[:-1]], axis=1).astype(np.float32)
    proprio = np.zeros((frames, P), np.float32)
    proprio[:, 0] = np.linspace(-0.5, 0.5, frames) if crosses else -0.5
    proprio[:, 1] = t / frames
    state = np.stack([1000.0 * index + t] * D, axis=1)
    return {"pixels": pixels.copy(), "actions": actions, "proprio": proprio, "state": state}


def make_dataset(root: Path, lengths: list[int], crossing: set[int] = frozenset()) -> Path:
    create_or_check_meta(root, META)
    for index, frames in enumerate(lengths):
        write_episode(root, index, synthetic_episode(index, frames, crosses=index in crossing))
    return root


def test_roundtrip_arrays_and_meta(tmp_path):
    root = make_dataset(tmp_path / "d", [5, 7])
    store = open_dataset(root)
    assert store.episodes == (0, 1)
    meta = json.loads((root / "meta.json").read_text())
    assert meta["format"] == "worldjepa-dataset" and meta["format_version"] == FORMAT_VERSION
    expected = synthetic_episode(1, 7)
    for name, array in expected.items():
        loaded = store.load(1, name)
        assert loaded.dtype == array.dtype
        np.testing.assert_array_equal(loaded, array)


def test_window_shapes_dtypes_and_frameskip_values(tmp_path):
    lengths = [9, 12]
    root = make_dataset(tmp_path / "d", lengths)
    window, skip = 3, 2
    ds = WindowDataset(root, window=window, frameskip=skip)
    span = (window - 1) * skip + 1
    assert len(ds) == sum(n - span + 1 for n in lengths)
    for i in range(len(ds)):
        item = ds[i]
        e, s = int(item["episode"]), int(item["step"])
        raw = synthetic_episode(e, lengths[e])
        assert item["pixels"].shape == (window, S, S, 3) and item["pixels"].dtype == torch.uint8
        assert item["actions"].shape == (window - 1, skip * A) and item["actions"].dtype == torch.float32
        assert item["proprio"].shape == (window, P) and item["proprio"].dtype == torch.float32
        assert item["state"].shape == (window, D) and item["state"].dtype == torch.float64
        np.testing.assert_array_equal(item["pixels"].numpy(), raw["pixels"][s : s + span : skip])
        np.testing.assert_array_equal(item["state"].numpy(), raw["state"][s : s + span : skip])
        for j in range(window - 1):  # frameskip actions between sampled frames j and j+1, in order
            chunk = np.concatenate([raw["actions"][s + j * skip + k] for k in range(skip)])
            np.testing.assert_array_equal(item["actions"][j].numpy(), chunk)


def test_window_longer_than_episodes_is_a_clear_error(tmp_path):
    root = make_dataset(tmp_path / "d", [5, 6])
    with pytest.raises(ValueError, match=r"spans 11 frames.*longest episode.*has 6.*window <= 3"):
        WindowDataset(root, window=6, frameskip=2)
    with pytest.raises(ValueError, match="window=0"):
        WindowDataset(root, window=0)


def test_short_episodes_are_skipped_not_windowed(tmp_path):
    root = make_dataset(tmp_path / "d", [3, 8])
    ds = WindowDataset(root, window=5)
    assert ds.episodes == [1] and len(ds) == 4


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(2, 14), min_size=1, max_size=5),
    window=st.integers(1, 5),
    frameskip=st.integers(1, 3),
)
def test_windows_never_cross_episodes(lengths, window, frameskip):
    span = (window - 1) * frameskip + 1
    with tempfile.TemporaryDirectory() as tmp:
        root = make_dataset(Path(tmp) / "d", lengths)
        expected = {(e, s) for e, n in enumerate(lengths) for s in range(n - span + 1)}
        if not expected:
            with pytest.raises(ValueError, match="longest episode"):
                WindowDataset(root, window, frameskip)
            return
        ds = WindowDataset(root, window, frameskip)
        seen = set()
        for i in range(len(ds)):
            item = ds[i]
            e, s = int(item["episode"]), int(item["step"])
            assert s + span <= lengths[e]
            # every frame and action really comes from episode e (values encode the episode)
            assert torch.all(item["state"][:, 0] // 1000 == e)
            assert item["actions"].numel() == 0 or torch.all(item["actions"][:, 0::2] // 1000 == e)
            seen.add((e, s))
        assert seen == expected and len(ds) == len(expected)


def test_temp_dirs_are_ignored_then_cleaned(tmp_path):
    root = make_dataset(tmp_path / "d", [5, 5])
    episodes = root / "episodes"
    dead = episodes / ".tmp-000002-999999999-deadbeef"  # a killed writer's half episode
    dead.mkdir()
    (dead / "pixels.npy").write_bytes(b"\x93NUMPY partial")
    live = episodes / f".tmp-000003-{os.getpid()}-cafecafe"  # a writer still running
    live.mkdir()
    assert list_episodes(root) == [0, 1]
    assert len(WindowDataset(root, window=2)) == 8
    assert clean_temp_dirs(root) == 1
    assert not dead.exists() and live.exists()


@pytest.mark.parametrize("name", ["pixels", "actions"])
def test_truncated_npy_names_the_file_and_fix(tmp_path, name):
    root = make_dataset(tmp_path / "d", [6, 6])
    path = root / "episodes" / "000001" / f"{name}.npy"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DatasetError, match=rf"000001/{name}\.npy is truncated or corrupt.*delete .*000001.*rerun"):
        WindowDataset(root, window=2)


def test_inconsistent_episode_lengths_are_reported(tmp_path):
    root = make_dataset(tmp_path / "d", [6, 6])
    np.save(root / "episodes" / "000000" / "proprio.npy", np.zeros((5, P), np.float32))
    with pytest.raises(DatasetError, match=r"000000/proprio\.npy has 5 rows, expected 6 for 6 frames: delete"):
        WindowDataset(root, window=2)


def test_open_dataset_errors_say_what_and_how(tmp_path):
    with pytest.raises(DatasetError, match="does not exist.*worldjepa collect"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(DatasetError, match="no meta.json.*worldjepa collect"):
        open_dataset(tmp_path / "plain")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "meta.json").write_text(json.dumps({"format": "lance"}))
    with pytest.raises(DatasetError, match="format 'lance'"):
        open_dataset(tmp_path / "foreign")
    newer = tmp_path / "newer"
    create_or_check_meta(newer, META)
    meta = json.loads((newer / "meta.json").read_text())
    (newer / "meta.json").write_text(json.dumps({**meta, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(DatasetError, match="format_version 2.*upgrade worldjepa"):
        open_dataset(newer)
    empty = tmp_path / "empty"
    create_or_check_meta(empty, META)
    with pytest.raises(DatasetError, match="no complete episodes"):
        open_dataset(empty)
    assert issubclass(DatasetError, ValueError)


def test_meta_mismatch_and_foreign_dir_refused(tmp_path):
    root = make_dataset(tmp_path / "d", [4])
    assert create_or_check_meta(root, META)["image_size"] == S  # same collection: accepted
    with pytest.raises(DatasetError, match=r"image_size: dataset has 4, this run asks for 64.*new out=PATH.*delete"):
        create_or_check_meta(root, {**META, "image_size": 64})
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not a worldjepa dataset"):
        create_or_check_meta(foreign, META)
    hydra_only = tmp_path / "hydra_only"  # what the CLI leaves in `out` before a command runs
    (hydra_only / ".hydra").mkdir(parents=True)
    (hydra_only / ".hydra" / "config.yaml").write_text("x: 1")
    (hydra_only / "inspect").mkdir()
    (hydra_only / "inspect" / "cli.log").write_text("")
    assert create_or_check_meta(hydra_only, META)["env_id"] == META["env_id"]


def test_write_episode_rejects_bad_arrays_and_keeps_existing(tmp_path):
    root = make_dataset(tmp_path / "d", [4])
    bad = synthetic_episode(1, 4)
    bad["actions"] = bad["actions"][:-1]
    with pytest.raises(ValueError, match="'actions' has 2 rows, expected 3"):
        write_episode(root, 1, bad)
    assert write_episode(root, 0, synthetic_episode(0, 4)) is False  # already there: untouched
    assert list_episodes(root) == [0]
    assert not any(p.name.startswith(".tmp") for p in (root / "episodes").iterdir())


def test_split_episodes_is_disjoint_deterministic_and_checked(tmp_path):
    root = make_dataset(tmp_path / "d", [3] * 10)
    train, val = split_episodes(root, 0.2, seed=1)
    assert len(val) == 2 and sorted(train + val) == list(range(10))
    assert (train, val) == split_episodes(root, 0.2, seed=1)
    assert split_episodes(root, 0.0) == (list(range(10)), [])
    ds = WindowDataset(root, window=2, episodes=val)
    assert {int(ds[i]["episode"]) for i in range(len(ds))} == set(val)
    with pytest.raises(ValueError, match="val_fraction"):
        split_episodes(root, 1.0)
    with pytest.raises(ValueError, match=r"episodes \[42\] are not in"):
        WindowDataset(root, window=2, episodes=[42])


def test_batch_collate_dataloader_and_to(tmp_path):
    root = make_dataset(tmp_path / "d", [8, 8])
    ds = WindowDataset(root, window=4, frameskip=2)
    batch = next(iter(DataLoader(ds, batch_size=3, shuffle=False, collate_fn=Batch.collate)))
    assert isinstance(batch, Batch) and len(batch) == 3
    assert batch.pixels.shape == (3, 4, S, S, 3) and batch.pixels.dtype == torch.uint8
    assert batch.actions.shape == (3, 3, 2 * A)
    assert batch.episode.tolist() == [0, 0, 1] and batch.step.tolist() == [0, 1, 0]
    moved = batch.to("cpu")
    assert torch.equal(moved.pixels, batch.pixels) and moved.state.dtype == torch.float64


def test_pickled_dataset_drops_open_memmaps(tmp_path):
    root = make_dataset(tmp_path / "d", [64] * 4)
    ds = WindowDataset(root, window=2)
    before = len(pickle.dumps(ds))
    for i in range(0, len(ds), 63):
        ds[i]  # opens every episode's pixel memmap
    assert len(pickle.dumps(ds)) == before  # spawn-started workers get paths, not pixel copies
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[70]["pixels"], ds[70]["pixels"])


def test_inspect_writes_images_and_reports_counts(tmp_path):
    root = make_dataset(tmp_path / "d", [10, 10, 10, 10], crossing={1, 3})
    cfg = {
        "path": str(root), "out": None, "sheet_episodes": 3, "sheet_frames": 4, "gif_episodes": 2,
        "gif_fps": 10, "coverage_dims": [0, 1], "coverage_bins": 4, "coverage_bounds": [[-1, 1], [0, 1]],
    }
    summary = inspect_run(cfg)
    assert summary["episodes"] == 4 and summary["frames"] == 40 and summary["steps"] == 36
    assert summary["door_crossing_fraction"] == 0.5
    assert summary["action"]["max"][1] == 0.0 and summary["action"]["min"][1] == -8.0
    assert 0 < summary["coverage"]["occupancy"] <= 0.5
    sheet = iio.imread(root / "inspect" / "contact_sheet.png")
    assert sheet.shape == (3 * S + 2, 4 * S + 3, 3)
    gif = iio.imread(root / "inspect" / "episodes.gif", index=None)
    assert gif.shape[0] == 10 and gif.shape[1:3] == (S, 2 * S + 1)
    assert json.loads((root / "inspect" / "summary.json").read_text())["episodes"] == 4
