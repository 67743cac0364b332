"""Torch models and their registry. Importing this package registers every architecture."""

from edgeseg.models import gcrf, icnet, netwarp, refiner, stgru  # noqa: F401  (fills MODELS)
from edgeseg.models.registry import MODELS, build_model, register_model

__all__ = ["MODELS", "build_model", "register_model"]
