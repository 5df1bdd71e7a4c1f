"""Pixel encoders: uint8 images [..., S, S, 3] -> embeddings [..., D].

`ConvEncoder` (default, fast on CPU) and a small `ViTEncoder`. Both normalise pixels internally.
"""

from __future__ import annotations

import torch
from torch import nn

# Sizes the encoders are tested with; others work if they satisfy the divisibility rule below.
TESTED_IMAGE_SIZES = (32, 48, 64, 96)


def pixels_to_float(pixels: torch.Tensor, image_size: int) -> torch.Tensor:
    """uint8 [N, S, S, 3] -> float [N, 3, S, S] in [-0.5, 0.5], with a clear error on bad input."""
    if pixels.dtype != torch.uint8:
        raise TypeError(
            f"pixels have dtype {pixels.dtype}, expected torch.uint8: pass raw uint8 frames, "
            "the encoder normalises them itself"
        )
    if tuple(pixels.shape[-3:]) != (image_size, image_size, 3):
        raise ValueError(
            f"pixels have shape {tuple(pixels.shape)}, expected [..., {image_size}, {image_size}, 3]: "
            f"this model was built for {image_size}px RGB frames (channels last)"
        )
    return pixels.permute(0, 3, 1, 2).float().div_(255.0).sub_(0.5)


class ConvEncoder(nn.Module):
    """4x4 convs, the first with stride `stem_stride`, the rest stride 2 (S -> S/16 by default) + a linear head.

    Flattening (rather than global pooling) keeps *where* things are, which is what the
    planning tasks (positions of a ball, arm, block) are about.

    The stem: a 3-channel conv at full resolution runs far below the CPU's peak, so the default
    patchifies (stem_stride 4: non-overlapping 4x4 patches, then two stride-2 convs); it trains 2x
    faster than the overlapping stride-2 stem at the same held-out quality
    (benchmarks/results/roofline.json).
    """

    # Checkpoints written before `stem_stride` existed store no value for it: they had this stem.
    LEGACY_DEFAULTS = {"stem_stride": 2}

    def __init__(
        self,
        image_size: int = 64,
        embed_dim: int = 128,
        channels: tuple[int, ...] = (32, 64, 64),
        stem_stride: int = 4,
    ) -> None:
        super().__init__()
        if stem_stride not in (2, 4):
            raise ValueError(f"ConvEncoder got stem_stride={stem_stride}: use 2 (overlapping) or 4 (patchify)")
        stride = stem_stride * 2 ** (len(channels) - 1)
        if image_size % stride or not 2 * stride <= image_size <= 8 * stride:
            raise ValueError(
                f"ConvEncoder got image_size={image_size}, but it needs a multiple of {stride} "
                f"between {2 * stride} and {8 * stride} (tested: {TESTED_IMAGE_SIZES}): "
                "collect the dataset with env image_size set to one of these"
            )
        self.image_size = image_size
        layers: list[nn.Module] = []
        in_ch = 3
        for i, ch in enumerate(channels):
            step = stem_stride if i == 0 else 2
            layers += [nn.Conv2d(in_ch, ch, kernel_size=4, stride=step, padding=(4 - step) // 2), nn.SiLU()]
            in_ch = ch
        self.convs = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(in_ch * (image_size // stride) ** 2, embed_dim)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 [N, S, S, 3] -> [N, embed_dim] (not normalised; the world model does that)."""
        return self.head(self.convs(pixels_to_float(pixels, self.image_size)))


class ViTEncoder(nn.Module):
    """Small ViT: non-overlapping patches -> pre-norm transformer -> mean-pooled token."""

    def __init__(
        self,
        image_size: int = 64,
        embed_dim: int = 128,
        patch_size: int = 8,
        width: int = 128,
        depth: int = 3,
        heads: int = 4,
    ) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(
                f"ViTEncoder got image_size={image_size}, not divisible by patch_size={patch_size} "
                f"(tested: {TESTED_IMAGE_SIZES} with patch_size 8): pick a patch_size that divides "
                "the image size, or collect the dataset at one of the tested sizes"
            )
        self.image_size = image_size
        num_patches = (image_size // patch_size) ** 2
        self.patchify = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size)
        self.pos = nn.Parameter(torch.randn(1, num_patches, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=4 * width, dropout=0.0, activation="gelu",
            batch_first=True, norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, embed_dim)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 [N, S, S, 3] -> [N, embed_dim]."""
        tokens = self.patchify(pixels_to_float(pixels, self.image_size)).flatten(2).transpose(1, 2)
        tokens = self.blocks(tokens + self.pos)
        return self.head(self.norm(tokens).mean(dim=1))
