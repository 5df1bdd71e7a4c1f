"""Tests for the ConvEncoder's stem option: the patchify stem's shapes, and old checkpoints rebuilding the old stem."""

from __future__ import annotations

import pytest
import torch

from worldjepa.models import build_world_model, load_world_model
from worldjepa.models.encoders import ConvEncoder

PREDICTOR = {"name": "mlp", "hidden": 16, "depth": 1}


def test_patchify_stem_downsamples_by_four_then_halves():
    encoder = ConvEncoder(image_size=64, embed_dim=8, channels=(4, 6, 5), stem_stride=4)
    convs = [m for m in encoder.convs if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [4, 2, 2]
    assert convs[0].padding == (0, 0)  # non-overlapping patches
    assert encoder.head.in_features == 5 * 4 * 4  # 64 / (4 * 2 * 2) = 4
    pixels = torch.randint(0, 256, (3, 64, 64, 3), dtype=torch.uint8)
    assert encoder(pixels).shape == (3, 8)


def test_patchify_stem_sees_each_patch_alone():
    """Changing one 4x4 patch changes only the stem's output at that patch's position."""
    encoder = ConvEncoder(image_size=32, embed_dim=8, channels=(4, 4), stem_stride=4)
    stem = encoder.convs[0]
    pixels = torch.zeros(1, 32, 32, 3, dtype=torch.uint8)
    changed = pixels.clone()
    changed[0, 8:12, 4:8] = 255  # the patch at row 2, column 1
    x, y = (p.permute(0, 3, 1, 2).float() for p in (pixels, changed))
    moved = (stem(y) - stem(x)).abs().sum(dim=(0, 1)) > 0
    assert moved.nonzero().tolist() == [[2, 1]]


def test_stem_stride_outside_two_and_four_is_refused():
    with pytest.raises(ValueError, match="stem_stride=3"):
        ConvEncoder(image_size=64, stem_stride=3)


def test_image_size_rule_counts_the_stem():
    with pytest.raises(ValueError, match="multiple of 32"):
        ConvEncoder(image_size=48, channels=(4, 4, 4, 4), stem_stride=4)


def test_a_config_without_stem_stride_rebuilds_the_overlapping_stem(tmp_path):
    """Checkpoints written before the option existed store no stem_stride: they must load as trained."""
    encoder = {"name": "cnn", "embed_dim": 8, "channels": [4, 4, 4, 4], "stem_stride": 2}
    model = build_world_model({"encoder": encoder, "predictor": PREDICTOR}, None,
                              image_size=32, action_dim=2, frameskip=1, history=1)
    model.meta.config["model"]["encoder"].pop("stem_stride")
    model.save(tmp_path / "old.pt")
    loaded = load_world_model(tmp_path / "old.pt")
    assert loaded.encoder.convs[0].stride == (2, 2)
    pixels = torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8)
    assert torch.equal(loaded.encode(pixels), model.eval().encode(pixels))


def test_the_default_encoder_is_the_patchify_stem():
    encoder = build_world_model({"encoder": {"name": "cnn"}, "predictor": PREDICTOR}, None,
                                image_size=64, action_dim=2, frameskip=1, history=1).encoder
    assert encoder.convs[0].stride == (4, 4) and encoder.head.in_features == 64 * 4 * 4
