"""A plain dict of model constructors, filled by a decorator next to each definition (timm style), and the
contract a backbone keeps (``Backbone``)."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Protocol, runtime_checkable

from edgeseg.errors import CheckpointError

MODELS: dict[str, Callable[..., Any]] = {}
KINDS: dict[str, str] = {}  # name -> "backbone" | "head"


@runtime_checkable
class Backbone(Protocol):
    """What the runtime, the exporter and the heads rely on in a backbone (an nn.Module).

    ``forward(image) -> (logits, feats)``: class scores at 1/``logits_stride`` of the input and the
    features the refiner and NetWarp use at 1/``feat_stride``; ``classifier`` maps feats to logits
    (NetWarp starts from it). ``has_aux``: ``forward(image, aux=True)`` also returns auxiliary logits
    for training.
    """

    num_classes: int
    feat_channels: int
    logits_stride: int
    feat_stride: int
    has_aux: bool
    classifier: Any

    def __call__(self, image: Any) -> Any: ...


def register_model(name: str, kind: str = "head") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn`` (a class or factory returning an nn.Module) under ``name`` as a backbone or a head."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in MODELS:
            raise ValueError(f"model {name!r} registered twice")
        MODELS[name], KINDS[name] = fn, kind
        return fn

    return deco


def default_config(name: str) -> dict[str, Any]:
    """The keyword arguments of a registered model and their defaults."""
    params = inspect.signature(MODELS[name]).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def list_models(kind: str | None = None) -> dict[str, dict[str, Any]]:
    """What exists: registered model name -> default config, optionally only backbones or heads."""
    return {n: default_config(n) for n in sorted(MODELS) if kind is None or KINDS[n] == kind}


def build_model(name: str, **config: Any) -> Any:
    """Build the registered model ``name`` with keyword ``config``."""
    if name not in MODELS:
        raise CheckpointError(f"unknown architecture {name!r}; known: {', '.join(sorted(MODELS))} "
                              "(a checkpoint made by a newer edgeseg, or a model module that was not imported?)")
    return MODELS[name](**config)
