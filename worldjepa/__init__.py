"""worldjepa: JEPA world models and latent planning for MuJoCo tasks.

The public API resolves lazily, so `import worldjepa.envs` (and collection workers) never pay for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "WorldModel": "worldjepa.models.protocol",
    "JEPAWorldModel": "worldjepa.models.world_model",
    "load_world_model": "worldjepa.models.build",
    "LatentAgent": "worldjepa.planning.agent",
    "LatentCost": "worldjepa.planning.costs",
    "EvalResults": "worldjepa.evaluation.results",
    "evaluate": "worldjepa.evaluation.plan",
    "make_agent": "worldjepa.evaluation.plan",
}
__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from worldjepa.evaluation.plan import evaluate, make_agent
    from worldjepa.evaluation.results import EvalResults
    from worldjepa.models.build import load_world_model
    from worldjepa.models.protocol import WorldModel
    from worldjepa.models.world_model import JEPAWorldModel
    from worldjepa.planning.agent import LatentAgent
    from worldjepa.planning.costs import LatentCost


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'worldjepa' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
