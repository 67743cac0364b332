"""``package.module:factory`` import specs: build a PyTorch module from its own code, load its weights strictly,
and reduce whatever it returns (a tensor, torchvision's dict, a Hugging Face output with ``.logits``, a tuple)
to the one tensor edgeseg deploys."""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from edgeseg.errors import UsageError

SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def is_import_spec(text: str) -> bool:
    return SPEC.match(text) is not None and not Path(text).exists()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def parse_kwargs(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--kwargs is not valid JSON ({exc}); write e.g. '{{\"num_classes\": 11, \"weights\": null}}'") from None
    if not isinstance(value, dict):
        raise UsageError("--kwargs must be a JSON object of keyword arguments, e.g. '{\"num_classes\": 11}'")
    return value


def build_module(spec: str, kwargs_json: str | None, weights: str | None) -> torch.nn.Module:
    """Import ``package.module:factory``, call it with ``--kwargs`` and load ``--weights`` strictly; eval mode."""
    module_name, factory_path = spec.split(":", 1)
    kwargs = parse_kwargs(kwargs_json)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # a module in the current folder imports, as with ``python -m`` (uvicorn does the same)
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise UsageError(f"{spec}: module {module_name!r} does not import ({_one_line(exc)})") from None
    for part in factory_path.split("."):
        if not hasattr(target, part):
            raise UsageError(f"{spec}: module {module_name!r} has no {factory_path!r}")
        target = getattr(target, part)
    try:
        model = target(**kwargs)
    except Exception as exc:
        raise UsageError(f"{spec}: the factory raised {_one_line(exc)} (kwargs {json.dumps(kwargs)})") from None
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"{spec} returned a {type(model).__name__}, not a torch.nn.Module")
    if weights:
        load_weights(model, Path(weights))
    return model.eval()


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """A state_dict, or a checkpoint holding one under state_dict / model / model_state_dict, loaded strictly."""
    if not path.is_file():
        raise UsageError(f"--weights {path}: no such file")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UsageError(f"--weights {path}: cannot read it as a PyTorch state_dict ({_one_line(exc)})") from None
    if isinstance(state, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UsageError(f"--weights {path}: not a state_dict (a mapping of parameter names to tensors)")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise UsageError(f"--weights {path} do not fit the model: {detail[:300]}") from None


def named_outputs(out: Any) -> dict[str, torch.Tensor]:
    """Whatever a module returned, as named tensors: tensor -> ``output``; mapping -> its keys; ``.logits``; tuple -> indices."""
    if isinstance(out, torch.Tensor):
        return {"output": out}
    if isinstance(out, Mapping):
        return {str(k): v for k, v in out.items() if isinstance(v, torch.Tensor)}
    if isinstance(getattr(out, "logits", None), torch.Tensor):
        return {"logits": out.logits}
    if isinstance(out, (tuple, list)):
        return {str(i): v for i, v in enumerate(out) if isinstance(v, torch.Tensor)}
    raise UsageError(f"the model returned a {type(out).__name__}; edgeseg needs a tensor, a dict, a tuple or an object with .logits")


class SelectOutput(torch.nn.Module):
    """The wrapped module, returning only the output edgeseg deploys (what ``named_outputs`` calls ``name``)."""

    def __init__(self, model: torch.nn.Module, name: str):
        super().__init__()
        self.model, self.name = model, name

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.model(image)
        if isinstance(out, torch.Tensor):
            return out
        if isinstance(out, Mapping):
            return out[self.name]
        if isinstance(out, (tuple, list)):
            return out[int(self.name)]
        return out.logits
