"""Checkpoints: a dict with the architecture, its config, the dataset metadata and the weights.

``MODEL`` arguments accept a checkpoint file, a folder of checkpoints (``backbone.pt`` plus optional
``<head>.pt`` for each registered head: refiner, stgru, netwarp, gcrf) or ``default`` (the model shipped inside
the package).
"""

from __future__ import annotations

import os
import pickle
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
    with atomic_path(path, make_folder=True) as tmp:  # the --out folder named is made
        torch.save(obj, tmp)


ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since 1.6
PICKLE_MAGIC = b"\x80"  # torch.save's legacy format: a pickle (protocol 2+)
WHAT_TO_PASS = "pass an edgeseg checkpoint (.pt from `edgeseg train`), a folder with backbone.pt, 'default' or a bundle folder"


def looks_like_onnx(head: bytes) -> bool:
    """Whether a file's first bytes are an ONNX ModelProto's: field 1 (ir_version), a small varint, comes first."""
    return len(head) >= 2 and head[0] == 0x08 and 0 < head[1] < 0x40


def not_a_checkpoint(path: str | os.PathLike[str]) -> str | None:
    """Why the file ``path`` is not an edgeseg checkpoint and what to pass instead, when its name or first bytes say
    that it is something else (an ONNX graph, a bundle's file, text); None for what torch.save may have written."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None  # torch.load reports it
    bundle = path.parent if (path.parent / "manifest.json").is_file() else None
    if path.suffix.lower() == ".onnx" or looks_like_onnx(head):
        if bundle is not None:
            return f"{path} is a graph of the bundle {bundle}, not an edgeseg checkpoint: pass the bundle folder {bundle}"
        rename = "" if path.suffix.lower() == ".onnx" else " (named *.onnx)"
        return (f"{path} is an ONNX file, not an edgeseg checkpoint or bundle: export it first with "
                f"`edgeseg export {path}{rename} --classes camvid|cityscapes|FILE --out BUNDLE`, then pass BUNDLE")
    if head.startswith(ZIP_MAGIC) or head.startswith(PICKLE_MAGIC):
        return None
    if bundle is not None:
        return f"{path} is a file of the bundle {bundle}, not an edgeseg checkpoint: pass the bundle folder {bundle}"
    what = "an empty file" if not head else "not a file torch.save wrote"
    return f"cannot read checkpoint {path}: {what}; {WHAT_TO_PASS}"


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint dict (weights only, no pickled code) and check its keys."""
    other = not_a_checkpoint(path)
    if other is not None:
        raise CheckpointError(other)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} not found; pass an existing file") from None
    except pickle.UnpicklingError as exc:
        if "weights_only" not in str(exc):
            raise CheckpointError(f"cannot read checkpoint {path}: {_first_line(exc)}; is it an edgeseg checkpoint that "
                                  "was fully written?") from None
        raise CheckpointError(f"{path} holds pickled Python objects (e.g. a whole module saved with torch.save(model)), "
                              "which edgeseg does not unpickle (that can run code); save the model's state_dict and export it "
                              "with `edgeseg export package.module:factory --weights FILE`, or "
                              f"{WHAT_TO_PASS}") from None
    except Exception as exc:  # torch raises many types for corrupt files
        raise CheckpointError(f"cannot read checkpoint {path}: {_first_line(exc)}; "
                              "is it an edgeseg checkpoint that was fully written?") from None
    if not isinstance(ckpt, dict) or "arch" not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not an edgeseg checkpoint (no 'arch'/'state_dict'); "
                              "make one with `edgeseg train`")
    return ckpt


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


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
