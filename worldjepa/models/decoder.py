"""Pixel decoder of the generative world model: embeddings [N, D] -> frames [N, S, S, 3] in uint8 range."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvDecoder(nn.Module):
    """A linear map to a (S/2^L)^2 feature grid, then L stride-2 transposed convs back to S x S RGB.

    The default channels mirror the default `ConvEncoder`'s (16, 32, 64, 64) in reverse, so the
    decoder is about the encoder's size. The output passes a sigmoid scaled to [0, 255]: the same
    range as the uint8 frames it reconstructs, without ever leaving it.
    """

    def __init__(self, embed_dim: int = 128, image_size: int = 64, channels: tuple[int, ...] = (64, 64, 32, 16)) -> None:
        super().__init__()
        stride = 2 ** len(channels)
        if not channels or image_size % stride:
            raise ValueError(
                f"ConvDecoder got image_size={image_size} and {len(channels)} upsampling layers: the image size "
                f"must be a multiple of 2^layers = {stride}; pass model.decoder.channels with fewer entries"
            )
        self.image_size, self.grid, self.channels = image_size, image_size // stride, tuple(channels)
        self.head = nn.Linear(embed_dim, channels[0] * self.grid**2)
        layers: list[nn.Module] = []
        for in_ch, out_ch in zip(channels, (*channels[1:], 3)):
            layers += [nn.SiLU(), nn.ConvTranspose2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1)]
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """[N, D] -> float [N, S, S, 3] in [0, 255] (channels last, like the frames)."""
        grid = self.head(z).view(-1, self.channels[0], self.grid, self.grid)
        return torch.sigmoid(self.deconvs(grid)).permute(0, 2, 3, 1) * 255.0


def pixel_loss(decoded: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """MSE between decoded frames (float, [0, 255]) and uint8 frames of the same shape, on a [0, 1] scale."""
    return F.mse_loss(decoded.float() / 255.0, pixels.float() / 255.0)
