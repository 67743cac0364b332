"""Torch models and their registry. Importing this package registers every architecture: each module here
other than the shared machinery below is a model module (``@register_model``) and is imported, so a new model
(a backbone, or a head's network) is one file dropped here."""

import importlib
import pkgutil

from edgeseg.models.registry import MODELS, Backbone, build_model, list_models, register_model

_MACHINERY = {"registry", "checkpoint", "predict", "layers", "warp"}  # not models: imported where used
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _MACHINERY):
    importlib.import_module(f"{__name__}.{_module}")  # fills MODELS

__all__ = ["MODELS", "Backbone", "build_model", "list_models", "register_model"]
