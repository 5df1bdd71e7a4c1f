"""``worldjepa inspect PATH``: summarise a dataset (sizes, action stats, coverage) and show its frames.

Writes ``summary.json``, a contact sheet PNG (rows = episodes, columns = time) and a GIF of a few
episodes side by side into ``out`` (default ``PATH/inspect``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
from omegaconf import DictConfig, OmegaConf

from worldjepa.atomic import atomic_path, write_json_atomic
from worldjepa.data.format import EpisodeStore, open_dataset
from worldjepa.errors import check_positive_int

_SEPARATOR = 255  # white gutter between tiles


def _spread(items: tuple[int, ...] | list[int], count: int) -> list[int]:
    """Up to ``count`` evenly spaced elements of ``items`` (first and last included)."""
    picks = np.linspace(0, len(items) - 1, min(count, len(items))).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


def occupancy(points: np.ndarray, bins: int, bounds: np.ndarray) -> float:
    """Fraction of the cells of a ``bins x bins`` grid over ``bounds [[lo, hi], [lo, hi]]`` visited."""
    hist, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=bins, range=bounds)
    return float((hist > 0).mean())


def door_crossing_fraction(proprio: list[np.ndarray]) -> float:
    """Fraction of episodes whose x position (proprio dim 0) changes sign: the ball went through the door."""
    crossed = [np.any(np.diff(np.sign(p[:, 0][p[:, 0] != 0])) != 0) for p in proprio]
    return float(np.mean(crossed))


def summarize(store: EpisodeStore, coverage_dims: list[int], coverage_bins: int, coverage_bounds: Any) -> dict:
    """Counts, per-dim action statistics and state-space coverage of a whole dataset, every episode checked
    (a damaged one is refused, naming its file, even when the sheet and GIF would not show it)."""
    episodes = [store.load_episode(i)[1] for i in store.episodes]
    actions = [episode["actions"] for episode in episodes]
    proprio = [episode["proprio"] for episode in episodes]
    lengths = np.array([len(p) for p in proprio])
    all_actions = np.concatenate(actions)
    summary: dict[str, Any] = {
        "path": str(store.root),
        "env_id": store.meta["env_id"],
        "image_size": store.meta["image_size"],
        "episodes": len(store.episodes),
        "frames": int(lengths.sum()),
        "steps": int(len(all_actions)),
        "episode_length": {"min": int(lengths.min()), "max": int(lengths.max()), "mean": float(lengths.mean())},
        "action": {
            stat: getattr(np, stat)(all_actions, axis=0).round(4).tolist() for stat in ("mean", "std", "min", "max")
        },
    }
    if coverage_dims:
        if len(coverage_dims) != 2 or max(coverage_dims) >= store.meta["proprio_dim"]:
            raise ValueError(
                f"coverage_dims={coverage_dims} must name 2 of the {store.meta['proprio_dim']} proprio dims "
                "(position-like ones, e.g. [0, 1]), or be [] to skip coverage"
            )
        points = np.concatenate(proprio)[:, coverage_dims].astype(np.float64)
        bounds = (
            np.asarray(coverage_bounds, dtype=np.float64)
            if coverage_bounds is not None
            else np.stack([points.min(axis=0), points.max(axis=0)], axis=1)
        )
        summary["coverage"] = {
            "proprio_dims": list(coverage_dims),
            "bins": coverage_bins,
            "bounds": bounds.round(4).tolist(),
            "occupancy": occupancy(points, coverage_bins, bounds),
        }
    if "TwoRoom" in store.meta["env_id"]:
        summary["door_crossing_fraction"] = door_crossing_fraction(proprio)
    return summary


def _tile(images: list[np.ndarray], axis: int) -> np.ndarray:
    """Concatenate images along ``axis`` (0 rows, 1 columns) with a 1-pixel gutter."""
    gutter_shape = list(images[0].shape)
    gutter_shape[axis] = 1
    gutter = np.full(gutter_shape, _SEPARATOR, dtype=np.uint8)
    parts = [part for image in images for part in (image, gutter)][:-1]
    return np.concatenate(parts, axis=axis)


def contact_sheet(store: EpisodeStore, episodes: list[int], frames: int) -> np.ndarray:
    """One row per episode of ``frames`` evenly spaced frames, as one uint8 image."""
    rows = []
    for index in episodes:
        pixels = store.load(index, "pixels", mmap=True)
        rows.append(_tile([pixels[t] for t in _spread(list(range(len(pixels))), frames)], axis=1))
    return _tile(rows, axis=0)


def side_by_side_video(store: EpisodeStore, episodes: list[int]) -> np.ndarray:
    """Frames ``[T, S, n*S + gutters, 3]`` playing ``episodes`` next to each other (shortest length)."""
    clips = [store.load(index, "pixels", mmap=True) for index in episodes]
    length = min(len(clip) for clip in clips)
    return np.stack([_tile([clip[t] for clip in clips], axis=1) for t in range(length)])


def _print_summary(summary: dict) -> None:
    lengths = summary["episode_length"]
    print(
        f"dataset {summary['path']} ({summary['env_id']}, {summary['image_size']}px): "
        f"{summary['episodes']} episodes, {summary['frames']} frames, {summary['steps']} steps "
        f"(episode length {lengths['min']}-{lengths['max']})"
    )
    action = summary["action"]
    for dim in range(len(action["mean"])):
        print(
            f"  action[{dim}]: mean {action['mean'][dim]:+.3f}  std {action['std'][dim]:.3f}  "
            f"min {action['min'][dim]:+.3f}  max {action['max'][dim]:+.3f}"
        )
    if "coverage" in summary:
        cov = summary["coverage"]
        print(
            f"  coverage: {cov['occupancy']:.1%} of a {cov['bins']}x{cov['bins']} grid over proprio dims "
            f"{cov['proprio_dims']} in {cov['bounds']}"
        )
    if "door_crossing_fraction" in summary:
        print(f"  episodes crossing the door: {summary['door_crossing_fraction']:.1%}")
    print(f"  wrote {summary['contact_sheet']} and {summary['gif']}")


def _write_image(path: Path, image: np.ndarray, **kwargs: Any) -> None:
    with atomic_path(path) as tmp:  # the temp name keeps the extension, so imageio picks the same format
        iio.imwrite(tmp, image, **kwargs)


def run(cfg: DictConfig | dict) -> dict:
    """CLI entry (``worldjepa inspect PATH``): print and return the summary, write the images."""
    for key in ("sheet_episodes", "sheet_frames", "gif_episodes", "gif_fps", "coverage_bins"):
        check_positive_int(key, cfg[key])
    cfg = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    store = open_dataset(cfg["path"])
    out = Path(cfg.get("out") or Path(cfg["path"]) / "inspect")
    summary = summarize(store, list(cfg["coverage_dims"]), cfg["coverage_bins"], cfg.get("coverage_bounds"))
    out.mkdir(parents=True, exist_ok=True)  # only now: a refused dataset leaves no empty out dir behind
    sheet_path, gif_path = out / "contact_sheet.png", out / "episodes.gif"
    sheet = contact_sheet(store, _spread(store.episodes, cfg["sheet_episodes"]), cfg["sheet_frames"])
    _write_image(sheet_path, sheet)
    video = side_by_side_video(store, _spread(store.episodes, cfg["gif_episodes"]))
    _write_image(gif_path, video, duration=1000 / cfg["gif_fps"], loop=0)
    summary |= {"contact_sheet": str(sheet_path), "gif": str(gif_path)}
    write_json_atomic(out / "summary.json", summary)
    _print_summary(summary)
    return summary
