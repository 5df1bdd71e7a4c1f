"""Build a world model (JEPA or reconstruction) from Hydra model/loss configs (or plain dicts), or load one from a checkpoint."""

from __future__ import annotations

import inspect
import os
from typing import Any, Mapping

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from worldjepa.checkpoint import CheckpointError, load_checkpoint
from worldjepa.models.decoder import ConvDecoder
from worldjepa.models.encoders import ConvEncoder, ViTEncoder
from worldjepa.models.losses import InverseDynamicsConfig, LossConfig, VCRegConfig
from worldjepa.models.meta import DEFAULT_OBJECTIVE, OBJECTIVES, ModelMeta
from worldjepa.models.predictors import GRUPredictor, MLPPredictor, Predictor, TransformerPredictor
from worldjepa.models.reconstruction import ReconstructionWorldModel
from worldjepa.models.world_model import JEPAWorldModel

ENCODERS: dict[str, type[nn.Module]] = {"cnn": ConvEncoder, "vit": ViTEncoder}
PREDICTORS: dict[str, type[Predictor]] = {
    "mlp": MLPPredictor,
    "gru": GRUPredictor,
    "transformer": TransformerPredictor,
}
DECODERS: dict[str, type[nn.Module]] = {"conv": ConvDecoder}


def build_world_model(
    model_cfg: Mapping | DictConfig,
    loss_cfg: Mapping | DictConfig | None,
    *,
    image_size: int,
    action_dim: int,
    frameskip: int,
    history: int,
) -> JEPAWorldModel:
    """Select encoder/predictor by `model_cfg.encoder.name` / `model_cfg.predictor.name`, and the
    training objective by `model_cfg.objective` (jepa, the default, or reconstruction, which adds
    `model_cfg.decoder` and trains without the JEPA-only VCReg and inverse dynamics).

    `action_dim` is the env's; the predictor sees frameskip * action_dim per latent step.
    The stored config has every constructor default filled in, so a checkpoint rebuilds the same
    model even if code defaults change later.
    """
    model_cfg, loss_cfg = _plain(model_cfg), _plain(loss_cfg)
    if history < 1 or frameskip < 1 or action_dim < 1:
        raise ValueError(
            f"history={history}, frameskip={frameskip}, action_dim={action_dim}: all must be >= 1"
        )
    objective = model_cfg.get("objective", DEFAULT_OBJECTIVE)
    if objective not in OBJECTIVES:
        raise ValueError(f"model.objective={objective!r} is unknown: use one of {OBJECTIVES}")
    enc_cfg = _resolve(ENCODERS, model_cfg.get("encoder", {}), "model.encoder", skip={"image_size"})
    pred_cfg = _resolve(
        PREDICTORS, model_cfg.get("predictor", {}), "model.predictor",
        skip={"embed_dim", "action_dim", "history"},
    )
    loss = LossConfig.from_dict(loss_cfg)
    embed_dim = enc_cfg["embed_dim"]
    encoder = ENCODERS[enc_cfg["name"]](image_size=image_size, **_kwargs(enc_cfg))
    predictor = PREDICTORS[pred_cfg["name"]](
        embed_dim=embed_dim, action_dim=frameskip * action_dim, history=history, **_kwargs(pred_cfg)
    )
    stored: dict[str, Any] = {"objective": objective, "encoder": enc_cfg, "predictor": pred_cfg}
    sizes = {"image_size": image_size, "action_dim": action_dim, "frameskip": frameskip, "history": history,
             "embed_dim": embed_dim}
    if objective == DEFAULT_OBJECTIVE:
        return JEPAWorldModel(encoder, predictor, **sizes, loss=loss, config={"model": stored, "loss": loss.to_dict()})
    dec_cfg = _resolve(DECODERS, model_cfg.get("decoder", {"name": "conv"}), "model.decoder",
                       skip={"embed_dim", "image_size"})
    decoder = DECODERS[dec_cfg["name"]](embed_dim=embed_dim, image_size=image_size, **_kwargs(dec_cfg))
    # Pixels cannot collapse, and PlaNet/Dreamer have neither term: the stored config says they are off.
    loss.vcreg, loss.inverse_dynamics = VCRegConfig(enabled=False), InverseDynamicsConfig(enabled=False)
    return ReconstructionWorldModel(encoder, predictor, decoder, **sizes, loss=loss,
                                    config={"model": {**stored, "decoder": dec_cfg}, "loss": loss.to_dict()})


def load_world_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> JEPAWorldModel:
    """Rebuild the model from a checkpoint's stored config and load its weights (eval mode)."""
    ckpt = load_checkpoint(path, kind="world_model", map_location=map_location)
    meta = ModelMeta.from_dict(ckpt["meta"], source=str(path))
    try:
        model = build_world_model(
            with_legacy_defaults(meta.config["model"]), meta.config["loss"], image_size=meta.image_size, action_dim=meta.action_dim,
            frameskip=meta.frameskip, history=meta.history,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: cannot rebuild the model from its stored config ({e}): "
            "the checkpoint is damaged or from an incompatible worldjepa version; retrain"
        ) from e
    model.load_weights(ckpt, source=path)
    model.meta = meta
    return model.to(map_location).eval()


def with_legacy_defaults(model_cfg: dict[str, Any]) -> dict[str, Any]:
    """A stored model config with the values its encoder had before keys it lacks were added (see LEGACY_DEFAULTS)."""
    encoder = model_cfg.get("encoder", {})
    legacy = getattr(ENCODERS.get(encoder.get("name")), "LEGACY_DEFAULTS", {})
    return {**model_cfg, "encoder": {**legacy, **encoder}}


def _plain(cfg: Mapping | DictConfig | None) -> dict[str, Any]:
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg or {})


def _resolve(registry: dict[str, type], cfg: dict, where: str, skip: set[str]) -> dict[str, Any]:
    """Validate name and keys against the constructor; return the config with defaults filled in."""
    name = cfg.get("name")
    if name not in registry:
        raise ValueError(f"{where}.name={name!r} is unknown: valid names are {sorted(registry)}")
    params = {
        p.name: list(p.default) if isinstance(p.default, tuple) else p.default
        for p in inspect.signature(registry[name].__init__).parameters.values()
        if p.name != "self" and p.name not in skip
    }
    unknown = sorted(set(cfg) - set(params) - {"name"})
    if unknown:
        raise ValueError(
            f"unknown key(s) {unknown} in {where} (name={name}): valid keys are {sorted(params)}"
        )
    return {"name": name, **params, **{k: v for k, v in cfg.items() if k != "name"}}


def _kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items() if k != "name"}
