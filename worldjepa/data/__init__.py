"""Datasets of MuJoCo rollouts: collection, the on-disk format, and training windows.

Exports resolve lazily so collection workers, which only need ``collector``, never import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Batch": "worldjepa.data.batch",
    "WindowDataset": "worldjepa.data.windows",
    "split_episodes": "worldjepa.data.windows",
    "open_dataset": "worldjepa.data.format",
    "DatasetError": "worldjepa.data.format",
    "collect": "worldjepa.data.collector",
}
__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from worldjepa.data.batch import Batch
    from worldjepa.data.collector import collect
    from worldjepa.data.format import DatasetError, open_dataset
    from worldjepa.data.windows import WindowDataset, split_episodes


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'worldjepa.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
