"""World models: the WorldModel protocol, JEPA and reconstruction models, their builder, loader and meta, monitoring, probes."""

from worldjepa.models.build import DECODERS, ENCODERS, PREDICTORS, build_world_model, load_world_model
from worldjepa.models.decoder import ConvDecoder
from worldjepa.models.encoders import ConvEncoder, ViTEncoder
from worldjepa.models.losses import LossConfig
from worldjepa.models.meta import OBJECTIVES, ModelMeta, check_compatible
from worldjepa.models.monitoring import CollapseError, check_collapse, embedding_stats, online_target_distance
from worldjepa.models.predictors import GRUPredictor, MLPPredictor, Predictor, TransformerPredictor
from worldjepa.models.probe import fit_linear_probe, fit_ridge
from worldjepa.models.protocol import WorldModel
from worldjepa.models.reconstruction import ReconstructionWorldModel
from worldjepa.models.world_model import JEPAWorldModel

__all__ = [
    "DECODERS",
    "ENCODERS",
    "OBJECTIVES",
    "PREDICTORS",
    "CollapseError",
    "ConvDecoder",
    "ConvEncoder",
    "GRUPredictor",
    "JEPAWorldModel",
    "LossConfig",
    "MLPPredictor",
    "ModelMeta",
    "Predictor",
    "ReconstructionWorldModel",
    "TransformerPredictor",
    "ViTEncoder",
    "WorldModel",
    "build_world_model",
    "check_collapse",
    "check_compatible",
    "embedding_stats",
    "fit_linear_probe",
    "fit_ridge",
    "load_world_model",
    "online_target_distance",
]
