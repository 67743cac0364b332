"""A plain dict of model constructors, filled by a decorator next to each definition (timm style)."""

from __future__ import annotations

from typing import Any, Callable

from edgeseg.errors import CheckpointError

MODELS: dict[str, Callable[..., Any]] = {}


def register_model(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn`` (a class or factory returning an nn.Module) under ``name``."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in MODELS:
            raise ValueError(f"model {name!r} registered twice")
        MODELS[name] = fn
        return fn

    return deco


def build_model(name: str, **config: Any) -> Any:
    """Build the registered model ``name`` with keyword ``config``."""
    if name not in MODELS:
        raise CheckpointError(f"unknown architecture {name!r}; known: {', '.join(sorted(MODELS))}. "
                              "Was the checkpoint made by a newer edgeseg?")
    return MODELS[name](**config)
