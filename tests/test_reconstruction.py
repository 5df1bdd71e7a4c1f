"""Tests for the objectives beside JEPA: the reconstruction (generative) world model, and EMA-only JEPA's collapse flag."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import train_cfg
from omegaconf import OmegaConf
from test_models import loss_cfg, make_batch, moving_dot_batch, one_thread, yaml_model_cfg  # noqa: F401 (autouse fixture)

from worldjepa.checkpoint import load_checkpoint, save_checkpoint
from worldjepa.models import JEPAWorldModel, WorldModel, build_world_model, check_collapse, embedding_stats, load_world_model
from worldjepa.models.decoder import ConvDecoder
from worldjepa.models.predictors import normalize_embedding
from worldjepa.models.reconstruction import ReconstructionWorldModel

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def reconstruction_model(embed_dim: int = 32) -> ReconstructionWorldModel:
    torch.manual_seed(0)
    model_cfg = {**yaml_model_cfg(embed_dim=embed_dim, channels=[32, 32, 32]), "objective": "reconstruction",
                 "decoder": {"name": "conv", "channels": [32, 32, 16, 8]}}
    return build_world_model(model_cfg, loss_cfg(), image_size=32, action_dim=2, frameskip=1, history=2)


def train_steps(model: JEPAWorldModel, steps: int, lr: float, momentum: float = 0.99) -> list[dict[str, float]]:
    """`steps` AdamW steps on moving-dot windows (history 2 + 2 rollout steps); the metrics of each."""
    data = moving_dot_batch(256, window=4)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    history = []
    for _ in range(steps):
        idx = torch.randint(0, 256, (16,))
        loss, metrics = model.training_loss(make_batch(data.pixels[idx], data.actions[idx]), rollout_steps=2)
        optim.zero_grad()
        loss.backward()
        optim.step()
        model.update_target(momentum)
        history.append(metrics)
    return history


@pytest.mark.parametrize("image_size", [32, 64])
def test_decoder_maps_embeddings_to_frames_in_uint8_range(image_size):
    decoder = ConvDecoder(embed_dim=16, image_size=image_size)
    frames = decoder(torch.randn(5, 16) * 10)
    assert frames.shape == (5, image_size, image_size, 3) and frames.dtype == torch.float32
    assert 0.0 <= frames.min() and frames.max() <= 255.0
    with pytest.raises(ValueError, match="multiple of 2\\^layers = 16"):
        ConvDecoder(embed_dim=16, image_size=40)


def test_reconstruction_model_records_its_objective_and_drops_the_jepa_regularisers():
    model = reconstruction_model()
    assert isinstance(model, ReconstructionWorldModel) and isinstance(model, WorldModel)
    assert model.meta.objective == "reconstruction" and model.meta.config["model"]["decoder"]["channels"] == [32, 32, 16, 8]
    assert not model.meta.config["loss"]["vcreg"]["enabled"] and model.inverse_dynamics is None
    assert model.decode(torch.randn(2, 3, 32)).shape == (2, 3, 32, 32, 3)
    with pytest.raises(ValueError, match="model.objective='pixels' is unknown"):
        build_world_model({**yaml_model_cfg(), "objective": "pixels"}, None, image_size=32, action_dim=2, frameskip=1,
                          history=2)


def test_reconstruction_loss_falls_on_moving_dot_and_its_target_encoder_is_the_online_one():
    model = reconstruction_model()
    history = train_steps(model, steps=40, lr=3e-3)
    first, last = history[0], history[-1]
    assert last["loss"] < 0.5 * first["loss"], [m["loss"] for m in history[::5]]
    assert last["rollout_loss"] < 0.5 * first["rollout_loss"] and last["frames_loss"] < 0.5 * first["frames_loss"]
    # No EMA: planning's `encode` (the target encoder) is exactly the encoder the loss trained.
    pixels = moving_dot_batch(8, window=1, seed=1).pixels[:, 0]
    with torch.no_grad():
        torch.testing.assert_close(model.encode(pixels), normalize_embedding(model.encoder(pixels)))


def test_reconstruction_checkpoint_round_trip_and_old_checkpoints_load_as_jepa(tmp_path):
    model = reconstruction_model().eval()
    model.save(tmp_path / "rec.pt")
    loaded = load_world_model(tmp_path / "rec.pt")
    assert type(loaded) is ReconstructionWorldModel and loaded.meta.objective == "reconstruction"
    pixels = moving_dot_batch(4, window=1).pixels[:, 0]
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(pixels), model.encode(pixels))
        torch.testing.assert_close(loaded.decode(loaded.encode(pixels)), model.decode(model.encode(pixels)))
    # A checkpoint written before `model.objective` existed has none in its config: it is a JEPA model.
    jepa = build_world_model(yaml_model_cfg(embed_dim=32), loss_cfg(), image_size=32, action_dim=2, frameskip=1, history=2)
    meta = jepa.meta.to_dict()
    del meta["config"]["model"]["objective"]
    save_checkpoint(tmp_path / "old.pt", kind="world_model", meta=meta, state_dict=jepa.state_dict())
    old = load_world_model(tmp_path / "old.pt")
    assert type(old) is JEPAWorldModel and old.meta.objective == "jepa"


def test_ema_only_collapses_and_the_monitor_flags_it_where_the_default_loss_does_not():
    """The shipped loss=ema_only config and collapse threshold, on the moving-dot toy: the EMA target and the
    predictor alone leave every frame on (nearly) one embedding; VCReg and inverse dynamics spread them."""
    ema_only = train_cfg(Path("unused"), Path("unused"), "loss=ema_only")
    assert not ema_only.loss.vcreg.enabled and not ema_only.loss.inverse_dynamics.enabled
    threshold = OmegaConf.load(CONFIGS / "train.yaml").collapse.threshold
    frames = moving_dot_batch(64, window=1, seed=1).pixels[:, 0]
    flags = {}
    for name, loss in (("ema_only", ema_only.loss), ("default", loss_cfg())):
        torch.manual_seed(0)
        model = build_world_model(yaml_model_cfg(embed_dim=64, channels=[16, 32, 32, 32], stem_stride=2), loss,
                                  image_size=32, action_dim=2, frameskip=1, history=2)
        train_steps(model, steps=60, lr=1e-3)
        with torch.no_grad():
            flags[name] = check_collapse(embedding_stats(normalize_embedding(model.encoder(frames))), threshold)
    assert flags["ema_only"] is not None and "EMBEDDING COLLAPSE" in flags["ema_only"], flags
    assert flags["default"] is None, flags


def test_train_cli_trains_a_reconstruction_model_and_logs_the_collapse_flag(fault_dataset, tmp_path, caplog):
    from worldjepa.training.train import run

    metrics = run(train_cfg(fault_dataset, tmp_path / "rec", "steps=4", "model.objective=reconstruction",
                            "model.decoder.channels=[4,4,4,4]", "collapse.threshold=10", "collapse.after=0"))
    assert {"train/frames_loss", "train/latent_loss"} <= set(metrics["train"])
    assert metrics["train"]["collapse/collapsed"] == 1.0  # every check warns at threshold 10
    assert "no term that spreads embeddings" in caplog.text and "vcreg" not in caplog.text  # no JEPA advice
    checkpoint = load_checkpoint(tmp_path / "rec" / "last.pt", kind="world_model")
    assert checkpoint["meta"]["config"]["model"]["objective"] == "reconstruction"
    assert type(load_world_model(tmp_path / "rec" / "last.pt")) is ReconstructionWorldModel
