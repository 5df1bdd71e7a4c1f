"""Tests for worldjepa.models: shapes, configs, the WorldModel protocol, EMA, gradients, learning, monitoring, probe."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from worldjepa.data.batch import Batch
from worldjepa.models import (JEPAWorldModel, ModelMeta, WorldModel, build_world_model, check_collapse, embedding_stats,
                              fit_linear_probe, fit_ridge, online_target_distance)
from worldjepa.models.predictors import normalize_embedding

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ENCODER_NAMES = ("cnn", "vit")
PREDICTOR_NAMES = ("mlp", "gru", "transformer")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from 2 threads, and 2-thread torch slows 10x+ when other processes share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def yaml_model_cfg(encoder: str = "cnn", predictor: str = "mlp", **encoder_overrides) -> dict:
    """The shipped yaml configs, as Hydra would compose them under `model`."""
    enc = OmegaConf.to_container(OmegaConf.load(CONFIGS / f"model/encoder/{encoder}.yaml"))
    pred = OmegaConf.to_container(OmegaConf.load(CONFIGS / f"model/predictor/{predictor}.yaml"))
    return {"encoder": {**enc, **encoder_overrides}, "predictor": pred}


def loss_cfg(**overrides) -> dict:
    return {**OmegaConf.to_container(OmegaConf.load(CONFIGS / "loss/default.yaml")), **overrides}


def tiny_model(encoder="cnn", predictor="mlp", image_size=32, history=2, frameskip=1, **loss):
    torch.manual_seed(0)
    return build_world_model(
        yaml_model_cfg(encoder, predictor, embed_dim=32), loss_cfg(**loss),
        image_size=image_size, action_dim=2, frameskip=frameskip, history=history,
    )


def make_batch(pixels: torch.Tensor, actions: torch.Tensor) -> Batch:
    """A Batch of windows [B, T, ...]: zero proprio and state, placeholder episode and step indices."""
    zeros, index = torch.zeros(*pixels.shape[:2], 4), torch.arange(len(pixels))
    return Batch(pixels=pixels, actions=actions, proprio=zeros, state=zeros.double(), episode=index, step=index)


def random_batch(b=4, t=4, size=32, action_dim=2) -> Batch:
    return make_batch(torch.randint(0, 256, (b, t, size, size, 3), dtype=torch.uint8),
                      torch.rand(b, t - 1, action_dim) * 2 - 1)


def moving_dot_batch(n: int, window: int, size: int = 32, seed: int = 0) -> Batch:
    """A soft white dot that each action (in [-1, 1]^2) moves by up to 0.1 of the frame."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(n, 2, generator=g) * 0.6 + 0.2
    actions = torch.rand(n, window - 1, 2, generator=g) * 2 - 1
    grid = (torch.arange(size) + 0.5) / size
    frames = []
    for t in range(window):
        d2 = (grid[None, None, :] - pos[:, None, 0:1]) ** 2 + (grid[None, :, None] - pos[:, None, 1:2]) ** 2
        img = (255 * torch.exp(-d2 / (2 * 0.1**2))).to(torch.uint8)
        frames.append(img[..., None].expand(-1, -1, -1, 3))
        if t < window - 1:
            pos = (pos + 0.1 * actions[:, t]).clamp(0.05, 0.95)
    return make_batch(torch.stack(frames, 1), actions)


# ----- shapes and configs -----


@pytest.mark.parametrize("encoder", ENCODER_NAMES)
@pytest.mark.parametrize("image_size", (32, 48, 64, 96))
def test_encode_shapes_for_all_tested_sizes(encoder, image_size):
    model = tiny_model(encoder, image_size=image_size)
    pixels = torch.randint(0, 256, (2, 3, image_size, image_size, 3), dtype=torch.uint8)
    assert model.encode(pixels).shape == (2, 3, 32)
    assert model.encode(pixels[0, 0]).shape == (32,)


@pytest.mark.parametrize("encoder", ENCODER_NAMES)
@pytest.mark.parametrize("predictor", PREDICTOR_NAMES)
def test_every_shipped_config_combo_trains_and_rolls_out(encoder, predictor):
    model = build_world_model(
        yaml_model_cfg(encoder, predictor), loss_cfg(), image_size=32, action_dim=2, frameskip=2, history=3
    )
    assert model.embed_dim == 128
    batch = random_batch(b=2, t=5, action_dim=4)  # frameskip 2 x action_dim 2
    loss, metrics = model.training_loss(batch, rollout_steps=2)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert all(isinstance(v, float) for v in metrics.values())
    assert {"loss", "tf_loss", "rollout_loss", "z_std"} <= metrics.keys()
    z_hist = model.encode(batch.pixels[:, :3])
    assert model.rollout(z_hist, torch.zeros(2, 7, 4)).shape == (2, 7, 128)


@pytest.mark.parametrize("encoder,size", [("cnn", 40), ("cnn", 16), ("vit", 36)])
def test_bad_image_size_names_allowed_sizes(encoder, size):
    with pytest.raises(ValueError, match=r"image_size=\d+.*32, 48, 64, 96"):
        tiny_model(encoder, image_size=size)


def test_bad_pixels_and_shapes_give_clear_errors():
    model = tiny_model()
    with pytest.raises(TypeError, match="uint8"):
        model.encode(torch.rand(2, 32, 32, 3))
    with pytest.raises(ValueError, match=r"expected \[\.\.\., 32, 32, 3\]"):
        model.encode(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"expected \[B, 2, 32\]"):
        model.rollout(torch.zeros(4, 3, 32), torch.zeros(4, 5, 2))
    with pytest.raises(ValueError, match=r"expected \[4, H, 2\]"):
        model.rollout(torch.zeros(4, 2, 32), torch.zeros(4, 5, 3))
    with pytest.raises(ValueError, match="set the dataset window to 5"):
        model.training_loss(random_batch(t=4), rollout_steps=3)
    with pytest.raises(ValueError, match="expected frameskip=1 x action_dim=2"):
        model.training_loss(random_batch(action_dim=4), rollout_steps=2)


def test_training_loss_under_bf16_autocast():
    model = tiny_model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, metrics = model.training_loss(random_batch(), rollout_steps=2)
    loss.backward()
    assert loss.dtype == torch.float32 and np.isfinite(metrics["vcreg_loss"])
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.predictor.parameters())


def test_unknown_names_and_keys_list_valid_ones():
    kwargs = dict(image_size=32, action_dim=2, frameskip=1, history=2)
    with pytest.raises(ValueError, match=r"model.encoder.name='resnet'.*\['cnn', 'vit'\]"):
        build_world_model({"encoder": {"name": "resnet"}, "predictor": {"name": "mlp"}}, {}, **kwargs)
    with pytest.raises(ValueError, match=r"\['gru', 'mlp', 'transformer'\]"):
        build_world_model({"encoder": {"name": "cnn"}, "predictor": {"name": "lstm"}}, {}, **kwargs)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['widht'\].*width"):
        build_world_model({"encoder": {"name": "cnn"}, "predictor": {"name": "transformer", "widht": 8}}, {}, **kwargs)
    with pytest.raises(ValueError, match=r"loss.distance='cosine'"):
        build_world_model(yaml_model_cfg(), {"distance": "cosine"}, **kwargs)


def test_stored_config_has_defaults_filled_in():
    model = build_world_model(
        {"encoder": {"name": "cnn"}, "predictor": {"name": "mlp"}}, None,
        image_size=32, action_dim=2, frameskip=1, history=2,
    )
    assert model.meta.config["model"]["encoder"] == yaml_model_cfg()["encoder"]
    assert model.meta.config["loss"] == loss_cfg()


def test_jepa_model_is_a_world_model_and_its_meta_matches_its_dimensions():
    model = tiny_model(history=3, frameskip=2)
    assert isinstance(model, JEPAWorldModel) and isinstance(model, WorldModel)
    assert isinstance(model.meta, ModelMeta) and model.meta.env_id is None and model.meta.train_horizon is None
    assert (model.meta.image_size, model.meta.action_dim, model.meta.frameskip, model.meta.history) == (
        model.image_size, model.action_dim, model.frameskip, model.history) == (32, 2, 2, 3)


# ----- target encoder -----


def test_ema_update_is_exact():
    model = tiny_model()
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(torch.randn_like(p))
    before = [p.clone() for p in model.target_encoder.parameters()]
    model.update_target(0.9)
    for old, new, online in zip(before, model.target_encoder.parameters(), model.encoder.parameters()):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * online)
    with pytest.raises(ValueError, match="momentum"):
        model.update_target(1.5)


def test_no_gradient_reaches_target_encoder():
    model = tiny_model(vcreg={"enabled": True}, inverse_dynamics={"enabled": True})
    before = copy.deepcopy(model.target_encoder.state_dict())
    optim = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    loss, _ = model.training_loss(random_batch(), rollout_steps=2)
    loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in model.target_encoder.parameters())
    assert all(p.grad is not None for p in model.encoder.parameters())
    optim.step()
    for key, value in model.target_encoder.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_target_encoder_stays_in_eval_mode():
    model = tiny_model().train()
    assert model.encoder.training and not model.target_encoder.training


# ----- learning and rollout -----


def test_default_loss_learns_moving_dot_dynamics():
    """Loss halves AND open-loop rollouts beat copying the last embedding on held-out videos."""
    torch.manual_seed(0)
    model = build_world_model(
        yaml_model_cfg(embed_dim=32, channels=[32, 32, 32]), loss_cfg(),
        image_size=32, action_dim=2, frameskip=1, history=2,
    )
    data, held_out = moving_dot_batch(512, window=4), moving_dot_batch(128, window=4, seed=1)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(150):
        idx = torch.randint(0, 512, (16,))
        loss, metrics = model.training_loss(make_batch(data.pixels[idx], data.actions[idx]), rollout_steps=2)
        optim.zero_grad()
        loss.backward()
        optim.step()
        model.update_target(0.95)
        losses.append(metrics["loss"])
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:3]), losses[::10]
    assert metrics["z_std"] > 0.1, "embeddings collapsed instead of learning"
    with torch.no_grad():
        z = model.encode(held_out.pixels)
        rollout_err = (model.rollout(z[:, :2], held_out.actions[:, 1:]) - z[:, 2:]).pow(2).mean()
        copy_err = (z[:, 1:2] - z[:, 2:]).pow(2).mean()
    assert rollout_err < 0.5 * copy_err, (rollout_err, copy_err)


def test_rollout_equals_repeated_step():
    model = tiny_model("cnn", "gru", history=3).eval()
    z = torch.randn(5, 3, 32)
    actions = torch.randn(5, 4, 2)
    hist, expected = z, []
    for h in range(4):
        nxt = model.predictor.step(hist, actions[:, h])
        expected.append(nxt)
        hist = torch.cat([hist[:, 1:], nxt[:, None]], 1)
    torch.testing.assert_close(model.rollout(z, actions), torch.stack(expected, 1))


def test_untrained_predictor_is_identity_on_normalised_embeddings():
    model = tiny_model("cnn", "transformer")
    z = torch.randn(4, 2, 32)
    pred = model.rollout(z, torch.randn(4, 3, 2))
    # equal up to the LayerNorm eps, which each re-normalisation applies again
    torch.testing.assert_close(pred, normalize_embedding(z[:, -1:]).expand(-1, 3, -1), atol=1e-4, rtol=1e-4)


# ----- monitoring and probe -----


def test_collapse_detector_fires_on_collapsed_model_not_random():
    healthy = embedding_stats(torch.randn(64, 32))
    assert check_collapse(healthy, threshold=0.05) is None
    assert healthy["effective_rank"] > 20
    model = tiny_model()
    pixels = random_batch(b=16, t=1).pixels[:, 0]
    with torch.no_grad():
        model.target_encoder.head.weight.zero_()  # constant output whatever the frame
    collapsed = embedding_stats(model.encode(pixels))
    message = check_collapse(collapsed, threshold=0.05)
    assert message is not None and "COLLAPSE" in message and "vcreg" in message
    assert collapsed["std_mean"] < 1e-5 and collapsed["effective_rank"] < 1.01


def test_embedding_stats_effective_rank_and_online_target_distance():
    g = torch.Generator().manual_seed(0)
    line = torch.randn(200, 1, generator=g) * torch.randn(1, 16, generator=g)
    assert embedding_stats(line)["effective_rank"] == pytest.approx(1.0, abs=1e-3)
    assert embedding_stats(torch.randn(2000, 16, generator=g))["effective_rank"] > 15
    z = torch.randn(10, 8, generator=g)
    assert online_target_distance(z, z) == 0.0
    assert online_target_distance(z + 1.0, z) == pytest.approx(1.0)


def test_linear_probe_r2():
    rng = np.random.default_rng(0)
    z_train, z_test = rng.normal(size=(500, 16)), rng.normal(size=(500, 16))
    w = rng.normal(size=(16, 3))
    r2 = fit_linear_probe(z_train, z_train @ w + 1.0, z_test, z_test @ w + 1.0)
    assert r2.shape == (3,) and np.all(r2 > 0.999)
    noise = fit_linear_probe(z_train, rng.normal(size=(500, 2)), z_test, rng.normal(size=(500, 2)))
    assert np.all(np.abs(noise) < 0.1)
    # torch inputs and 1-D targets work too
    r2_torch = fit_linear_probe(torch.tensor(z_train), torch.tensor(z_train[:, 0]), torch.tensor(z_test), z_test[:, 0])
    assert r2_torch.shape == (1,) and r2_torch[0] > 0.999


def test_ridge_recovers_a_linear_map_in_raw_units_whatever_the_feature_scale():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(400, 5)) * np.array([1e-3, 1.0, 50.0, 2.0, 0.1]) + 3.0  # scaled, offset features
    w, b = rng.normal(size=(5, 2)) / np.array([1e-3, 1.0, 50.0, 2.0, 0.1])[:, None], np.array([0.5, -2.0])
    weight, bias = fit_ridge(z, z @ w + b, ridge=1e-8)
    assert weight.shape == (5, 2) and bias.shape == (2,)
    np.testing.assert_allclose(z @ weight + bias, z @ w + b, atol=1e-5)
    with pytest.raises(ValueError, match="one target row per embedding"):
        fit_ridge(z, z[:10] @ w)
