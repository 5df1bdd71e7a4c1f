"""Tests for worldjepa.checkpoint and WorldModel.save/load: round trip, safety, clear errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from worldjepa.checkpoint import CheckpointError, check_compatible, load_checkpoint, save_checkpoint
from worldjepa.models import WorldModel, build_world_model

KWARGS = dict(image_size=32, action_dim=2, frameskip=1, history=2)


def make_model(hidden: int = 32, embed_dim: int = 16) -> WorldModel:
    torch.manual_seed(0)
    model_cfg = {"encoder": {"name": "cnn", "embed_dim": embed_dim}, "predictor": {"name": "mlp", "hidden": hidden}}
    return build_world_model(model_cfg, {}, **KWARGS)


class MakesFileWhenUnpickled:
    """A pickle payload that, if unpickled unsafely, creates `path`."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_round_trip_gives_identical_outputs(tmp_path):
    model = make_model()
    with torch.no_grad():  # make online != target so both must be restored
        for p in model.encoder.parameters():
            p.add_(0.1)
    model.meta.update(env_id="worldjepa/Reacher-v0", train_horizon=2, dataset={"episodes": 3})
    optim = torch.optim.Adam(model.parameters())
    model.training_loss(_batch(), rollout_steps=1)[0].backward()
    optim.step()
    state = {"step": 7, "optim": optim.state_dict(), "rng": torch.get_rng_state(),
             "np_rng": np.random.default_rng(0).bit_generator.state}
    model.save(tmp_path / "last.pt", training_state=state)

    loaded = WorldModel.load(tmp_path / "last.pt")
    pixels = _batch().pixels
    torch.testing.assert_close(loaded.encode(pixels), model.encode(pixels), rtol=0, atol=0)
    z, actions = model.encode(pixels[:, :2]), torch.randn(4, 3, 2)
    torch.testing.assert_close(loaded.rollout(z, actions), model.eval().rollout(z, actions), rtol=0, atol=0)
    torch.testing.assert_close(loaded.encoder(pixels[:, 0]), model.encoder(pixels[:, 0]), rtol=0, atol=0)
    assert loaded.meta == model.meta and not loaded.training

    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["training_state"]["step"] == 7 and ckpt["training_state"]["np_rng"] == state["np_rng"]
    optim.load_state_dict(ckpt["training_state"]["optim"])
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp files left behind


def test_save_overwrites_atomically_and_refuses_unloadable_state(tmp_path):
    model = make_model()
    path = tmp_path / "ckpt.pt"
    model.save(path, training_state={"step": 1})
    with pytest.raises(CheckpointError, match="weights_only"):
        model.save(path, training_state={"step": 2, "bad": MakesFileWhenUnpickled(tmp_path / "x")})
    assert load_checkpoint(path)["training_state"] == {"step": 1}  # old file intact
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temp file, and the payload never ran


def test_load_weights_into_different_config_names_differing_keys(tmp_path):
    make_model(embed_dim=16).save(tmp_path / "a.pt")
    other = make_model(embed_dim=24)
    with pytest.raises(CheckpointError, match=r"different model config.*embed_dim: 16 vs 24.*head\.weight"):
        other.load_weights(load_checkpoint(tmp_path / "a.pt"))


def test_load_with_config_inconsistent_with_weights_is_clear(tmp_path):
    make_model(hidden=32).save(tmp_path / "a.pt")
    ckpt = torch.load(tmp_path / "a.pt", weights_only=True)
    ckpt["meta"]["config"]["model"]["predictor"]["hidden"] = 48  # weights still have hidden=32
    torch.save(ckpt, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match=r"different model config.*predictor\.net"):
        WorldModel.load(tmp_path / "b.pt")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_arbitrary_pickle_is_rejected_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"format": "worldjepa-checkpoint", "x": MakesFileWhenUnpickled(marker)}, f)
    with pytest.raises(CheckpointError, match="not a readable worldjepa checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        WorldModel.load(tmp_path / "evil.pt")
    assert not marker.exists()
    # the payload is live: an unsafe load would have created the file
    with open(tmp_path / "evil.pt", "rb") as f:
        pickle.load(f)
    assert marker.exists()


def test_truncated_text_missing_and_foreign_files(tmp_path):
    make_model().save(tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.pt").write_text("hello\n")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    for name in ("trunc.pt", "notes.pt"):
        with pytest.raises(CheckpointError, match="not a readable worldjepa checkpoint"):
            load_checkpoint(tmp_path / name)
    with pytest.raises(CheckpointError, match="not a worldjepa checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        WorldModel.load(tmp_path / "missing.pt")
    assert issubclass(CheckpointError, ValueError)


def test_wrong_format_version(tmp_path):
    ckpt = torch.load(_saved(tmp_path), weights_only=True)
    ckpt["format_version"] = 99
    torch.save(ckpt, tmp_path / "v99.pt")
    with pytest.raises(CheckpointError, match="format_version 99.*reads version 1"):
        load_checkpoint(tmp_path / "v99.pt")


def test_check_compatible(tmp_path):
    meta = load_checkpoint(_saved(tmp_path, env_id="worldjepa/Reacher-v0"))["meta"]
    check_compatible(meta, env_id="worldjepa/Reacher-v0", image_size=32, action_dim=2)
    with pytest.raises(
        CheckpointError,
        match="trained on worldjepa/Reacher-v0 but env is worldjepa/Push-v0: pass a checkpoint trained on that env",
    ):
        check_compatible(meta, env_id="worldjepa/Push-v0")
    with pytest.raises(CheckpointError, match="32px.*image_size=32"):
        check_compatible(meta, image_size=64)
    with pytest.raises(CheckpointError, match="action_dim=2 but env has action_dim=3"):
        check_compatible(meta, action_dim=3)


def _saved(tmp_path, env_id=None):
    model = make_model()
    model.meta["env_id"] = env_id
    save_checkpoint(tmp_path / "c.pt", model=model)
    return tmp_path / "c.pt"


def _batch():
    g = torch.Generator().manual_seed(1)
    pixels = torch.randint(0, 256, (4, 3, 32, 32, 3), dtype=torch.uint8, generator=g)
    return type("Batch", (), {"pixels": pixels, "actions": torch.rand(4, 2, 2, generator=g)})()
