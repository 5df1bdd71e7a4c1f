"""Evaluation videos: agent | goal frames side by side with step, distance and outcome drawn in.

Text uses a built-in 3x5 bitmap font (no font files or extra dependencies); mp4 via imageio-ffmpeg.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from worldjepa.atomic import atomic_path

# 3x5 glyphs, rows top to bottom concatenated ("1" = ink).
_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001010010",
    "8": "111101111101111", "9": "111101111001111", "A": "010101111101101", "B": "110101110101110",
    "C": "011100100100011", "D": "110101101101110", "E": "111100110100111", "F": "111100110100100",
    "G": "011100101101011", "H": "101101111101101", "I": "111010010010111", "J": "001001001101010",
    "K": "101101110101101", "L": "100100100100111", "M": "101111111101101", "N": "110101101101101",
    "O": "010101101101010", "P": "110101110100100", "Q": "010101101110011", "R": "110101110101101",
    "S": "011100010001110", "T": "111010010010010", "U": "101101101101111", "V": "101101101101010",
    "W": "101101111111101", "X": "101101010101101", "Y": "101101010010010", "Z": "111001010100111",
    " ": "000000000000000", ".": "000000000000010", ":": "000010000010000", "=": "000111000111000",
    "-": "000000111000000", "/": "001001010100100", "?": "111001011000010",
}
_FONT = {c: np.array([int(b) for b in bits], dtype=bool).reshape(5, 3) for c, bits in _GLYPHS.items()}
WHITE, GREEN, RED = (255, 255, 255), (40, 220, 70), (235, 50, 50)


def draw_text(image: np.ndarray, text: str, x: int, y: int, scale: int = 2, color: Sequence[int] = WHITE) -> None:
    """Draw `text` (upper-cased; unknown characters become '?') into `image` in place, on a dark box.

    Anything past the image border is clipped rather than raising, so long labels on small panels are safe.
    """
    text = text.upper()
    h, w = image.shape[:2]
    box_w, box_h = (4 * len(text) + 1) * scale, 7 * scale
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + box_w, w), min(y + box_h, h)
    if x1 > x0 and y1 > y0:  # darken behind the text so it reads on any background
        image[y0:y1, x0:x1] = (image[y0:y1, x0:x1] * 0.35).astype(image.dtype)
    for i, char in enumerate(text):
        glyph = np.kron(_FONT.get(char, _FONT["?"]), np.ones((scale, scale), dtype=bool))
        gx, gy = x + (1 + 4 * i) * scale, y + scale
        sub = image[max(gy, 0) : gy + glyph.shape[0], max(gx, 0) : gx + glyph.shape[1]]
        sub[glyph[: sub.shape[0], : sub.shape[1]]] = color


def _border(image: np.ndarray, width: int, color: Sequence[int]) -> None:
    image[:width], image[-width:], image[:, :width], image[:, -width:] = color, color, color, color


def compose_frame(
    agent: np.ndarray, goal: np.ndarray, *, step: int, distance: float, outcome: bool | None = None, scale: int = 4
) -> np.ndarray:
    """One video frame [S*scale, 2*S*scale, 3]: agent view | goal image, nearest-upscaled.

    The agent panel shows the env step and the task distance; on the final frame (`outcome` set)
    it also gets SUCCESS/FAILURE and a green/red border.
    """
    if agent.shape != goal.shape or agent.ndim != 3:
        raise ValueError(f"agent {agent.shape} and goal {goal.shape} must be matching (S, S, 3) images")
    left, right = (np.repeat(np.repeat(p, scale, 0), scale, 1) for p in (agent, goal))
    text_scale = max(1, left.shape[1] // 128)
    pad = 2 * text_scale
    draw_text(left, f"STEP {step} DIST {distance:.3f}", pad, pad, text_scale)
    draw_text(right, "GOAL", pad, pad, text_scale)
    if outcome is not None:
        color = GREEN if outcome else RED
        _border(left, max(1, text_scale * 2), color)
        draw_text(left, "SUCCESS" if outcome else "FAILURE", pad, left.shape[0] - 11 * text_scale, text_scale, color)
    return np.concatenate([left, right], axis=1)


def episode_frames(
    pixels: Sequence[np.ndarray], goal: np.ndarray, distances: Sequence[float], success: bool, scale: int = 4
) -> np.ndarray:
    """All frames of one episode [T+1, H, W, 3]; the last one carries the outcome."""
    last = len(pixels) - 1
    return np.stack(
        [
            compose_frame(p, goal, step=t, distance=d, outcome=success if t == last else None, scale=scale)
            for t, (p, d) in enumerate(zip(pixels, distances))
        ]
    )


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 10) -> Path:
    """Atomically write frames [T, H, W, 3] uint8 as an H.264 mp4 (imageio-ffmpeg's bundled ffmpeg)."""
    import imageio.v2 as imageio

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"frames have shape {frames.shape}: expected [T, H, W, 3] with even H and W (yuv420p)")
    path = Path(path)
    with atomic_path(path) as tmp:
        # macro_block_size=1: keep the exact frame size (the default would rescale to multiples of 16).
        with imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, macro_block_size=1) as writer:
            for frame in frames:
                writer.append_data(frame)
    return path
