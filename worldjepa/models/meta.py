"""`ModelMeta`: what a world-model checkpoint records, and the check that it fits an env."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from worldjepa import __version__
from worldjepa.checkpoint import CheckpointError

# What a world model is trained to do (`model.objective`): predict target-encoder embeddings (JEPA) or
# decode predicted embeddings into the true next frames (a generative model, worldjepa.models.reconstruction).
OBJECTIVES = ("jepa", "reconstruction")
DEFAULT_OBJECTIVE = "jepa"

@dataclass(kw_only=True)
class ModelMeta:
    """Everything needed to rebuild a world model, plus the provenance the trainer fills in.

    Checkpoints store it as a plain dict (`to_dict`), so they load with torch's weights_only=True.
    """

    env_id: str | None = None  # the training dataset's env; None until trained on one
    image_size: int
    action_dim: int  # the env's; a latent step takes frameskip * action_dim values
    frameskip: int
    history: int
    train_horizon: int | None = None  # the rollout_steps it was trained with
    config: dict[str, Any]  # model and loss configs, defaults filled in; a trained model adds the run's config
    dataset: dict[str, Any] | None = None  # the training dataset's meta and path
    worldjepa_version: str = __version__

    @property
    def objective(self) -> str:
        """The training objective recorded in the model config (checkpoints older than it are JEPA)."""
        return self.config.get("model", {}).get("objective", DEFAULT_OBJECTIVE)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy as a plain dict (what checkpoints store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, meta: Mapping[str, Any], source: str = "checkpoint") -> ModelMeta:
        """Inverse of `to_dict`; a CheckpointError naming the missing keys when `meta` lacks any."""
        missing = [f.name for f in fields(cls) if f.name not in meta]
        if missing:
            raise CheckpointError(
                f"{source}: its meta lacks {missing}: the file is damaged or from an incompatible "
                "worldjepa version; retrain"
            )
        return cls(**{f.name: meta[f.name] for f in fields(cls)})


def check_compatible(
    meta: ModelMeta, *, env_id: str | None = None, image_size: int | None = None, action_dim: int | None = None
) -> None:
    """Raise CheckpointError if a model's meta does not fit the env it is about to be used on.

    Only the given arguments are checked; a meta without env_id (never trained on a dataset) skips that check.
    """
    if env_id is not None and meta.env_id is not None and meta.env_id != env_id:
        raise CheckpointError(
            f"checkpoint was trained on {meta.env_id} but env is {env_id}: pass a checkpoint trained on that env"
        )
    if image_size is not None and meta.image_size != image_size:
        raise CheckpointError(
            f"checkpoint was trained on {meta.image_size}px frames but env renders "
            f"{image_size}px: make the env with image_size={meta.image_size}"
        )
    if action_dim is not None and meta.action_dim != action_dim:
        raise CheckpointError(
            f"checkpoint was trained with action_dim={meta.action_dim} but env has "
            f"action_dim={action_dim}: pass a checkpoint trained on that env"
        )
