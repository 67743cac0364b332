"""Checkpoints: a dict with the architecture, its config, the dataset metadata and the weights.

``MODEL`` arguments accept a checkpoint file, a folder of checkpoints (``backbone.pt`` plus optional
``<head>.pt`` for each registered head: refiner, stgru, netwarp, gcrf) or ``default`` (the model shipped inside
the package).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from edgeseg._fs import atomic_path
from edgeseg.errors import CheckpointError
from edgeseg.models.registry import build_model
from edgeseg.runtime.fusion import head_names

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "weights" / "default"
META_KEYS = ("class_names", "palette", "ignore_id", "mean", "std", "input_size")


def resolve_model_dir(model: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Return (backbone checkpoint, folder that may hold head checkpoints) for a MODEL argument."""
    if str(model) == "default":
        path = DEFAULT_DIR
    else:
        path = Path(model)
    if path.is_dir():
        backbone = path / "backbone.pt"
        if not backbone.is_file():
            raise CheckpointError(f"{path} holds no backbone.pt; pass a checkpoint file or a folder with backbone.pt")
        return backbone, path
    if not path.is_file():
        raise CheckpointError(f"model {model} not found: pass a checkpoint file, a folder of checkpoints or 'default'")
    return path, path.parent


def save_checkpoint(path: str | os.PathLike[str], model: torch.nn.Module, arch: str, config: dict[str, Any],
                    meta: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """Write a checkpoint atomically (temp file in the same folder, then rename)."""
    payload = {"arch": arch, "config": dict(config), **{k: meta[k] for k in META_KEYS},
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    if extra:
        payload.update(extra)
    atomic_torch_save(path, payload)


def atomic_torch_save(path: str | os.PathLike[str], obj: Any) -> None:
    """torch.save to a temp file in the same folder, then rename: never a half-written file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint dict (weights only, no pickled code) and check its keys."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} not found; pass an existing file") from None
    except Exception as exc:  # torch raises many types for corrupt files
        raise CheckpointError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}; "
                              "is it an edgeseg checkpoint that was fully written?") from None
    if not isinstance(ckpt, dict) or "arch" not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not an edgeseg checkpoint (no 'arch'/'state_dict'); "
                              "make one with `edgeseg train`")
    return ckpt


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Build the model a checkpoint describes, load its weights, return (model in eval mode, checkpoint)."""
    ckpt = read_checkpoint(path)
    model = build_model(ckpt["arch"], **ckpt.get("config", {}))
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"weights in {path} do not fit architecture {ckpt['arch']!r}: {first}") from None
    model.eval()
    return model, ckpt


def load_heads(folder: str | os.PathLike[str]) -> dict[str, tuple[torch.nn.Module, dict[str, Any]]]:
    """Load whichever registered heads' checkpoints (``<head>.pt``) a folder holds."""
    found = {}
    for name in head_names():
        p = Path(folder) / f"{name}.pt"
        if p.is_file():
            found[name] = load_checkpoint(p)
    return found
