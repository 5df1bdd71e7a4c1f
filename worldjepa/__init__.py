"""worldjepa: JEPA world models and latent planning for MuJoCo tasks."""

__version__ = "0.1.0"
