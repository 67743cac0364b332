"""Torch models and their registry. Importing this package registers every architecture."""

from edgeseg.models import gcrf, icnet, netwarp, refiner, stgru  # noqa: F401  (fills MODELS)
from edgeseg.models.registry import MODELS, Backbone, build_model, list_models, register_model

__all__ = ["MODELS", "Backbone", "build_model", "list_models", "register_model"]
