"""JEPA world models: encoders, predictors, the WorldModel, its builder, monitoring and probes."""

from worldjepa.models.build import ENCODERS, PREDICTORS, build_world_model
from worldjepa.models.encoders import ConvEncoder, ViTEncoder
from worldjepa.models.losses import LossConfig
from worldjepa.models.monitoring import CollapseError, check_collapse, embedding_stats, online_target_distance
from worldjepa.models.predictors import GRUPredictor, MLPPredictor, Predictor, TransformerPredictor
from worldjepa.models.probe import fit_linear_probe, fit_ridge
from worldjepa.models.world_model import WorldModel

__all__ = [
    "ENCODERS",
    "PREDICTORS",
    "CollapseError",
    "ConvEncoder",
    "GRUPredictor",
    "LossConfig",
    "MLPPredictor",
    "Predictor",
    "TransformerPredictor",
    "ViTEncoder",
    "WorldModel",
    "build_world_model",
    "check_collapse",
    "embedding_stats",
    "fit_linear_probe",
    "fit_ridge",
    "online_target_distance",
]
