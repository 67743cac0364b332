"""Read and verify an exported bundle (manifest.json + ONNX graphs). Torch-free.

The manifest is the contract between export and runtime; its schema is ``edgeseg.bundle.manifest``.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from pathlib import Path

from edgeseg.bundle.manifest import FORMAT_VERSION, BundleError, GraphEntry, Manifest

__all__ = ["AUTO", "FORMAT_VERSION", "MANIFEST", "ORT_X86", "Bundle", "BundleError", "graph_key", "load_bundle", "sha256_file"]

MANIFEST = "manifest.json"
ORT_X86 = "ort_x86"  # int8 twin with uint8 activations: the form ONNX Runtime's x86 kernels fuse
AUTO = "auto"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def graph_key(name: str, downscale: float = 1.0) -> str:
    """Manifest key of a graph: ``backbone`` at D=1.0, ``backbone@0.5`` at D=0.5."""
    return name if downscale == 1.0 else f"{name}@{downscale:g}"


@dataclass(frozen=True)
class Bundle:
    root: Path
    manifest: Manifest

    @property
    def graphs(self) -> dict[str, GraphEntry]:
        return self.manifest.graphs

    @property
    def precision(self) -> str:
        return self.manifest.precision

    def graph_path(self, key: str, verify: bool = True, variant: str | None = None) -> Path:
        """Path of graph ``key`` (or of one of its ``variants``, e.g. ``fp32``, ``ort_x86``).

        ``variant="auto"`` picks the file ONNX Runtime runs best on this CPU. With ``verify`` the file's
        sha256 must match the manifest.
        """
        if key not in self.graphs:
            raise BundleError(f"bundle {self.root} has no graph {key!r} (it has: {', '.join(sorted(map(str, self.graphs)))}); "
                              "re-export with the heads you need (edgeseg export --heads ...)")
        entry = self.graphs[key]
        file, sha = entry.file, entry.sha256
        if variant == AUTO:
            variant = ORT_X86 if ORT_X86 in entry.variants and _is_x86() else None
        if variant is not None:
            if variant not in entry.variants:
                raise BundleError(f"graph {key!r} of {self.root} has no {variant!r} variant "
                                  f"(it has: {', '.join(sorted(entry.variants)) or 'none'})")
            file, sha = entry.variants[variant].file, entry.variants[variant].sha256
        path = self.root / file
        if not path.is_file():
            raise BundleError(f"{path} listed in the manifest is missing; re-export the bundle")
        if verify and sha256_file(path) != sha:
            raise BundleError(f"{path} does not match the sha256 in {self.root / MANIFEST} (modified or corrupt); "
                              "re-export the bundle")
        return path


def _is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "x86", "i686")


def load_bundle(root: str | Path) -> Bundle:
    """Read and validate ``root/manifest.json`` (format 1 or 2)."""
    root = Path(root)
    path = root / MANIFEST
    if not root.exists():
        raise BundleError(f"bundle {root} does not exist; make one with `edgeseg export`")
    if not path.is_file():
        raise BundleError(f"{root} is not an edgeseg bundle (no {MANIFEST}); make one with `edgeseg export`")
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read {path}: {exc}; re-export the bundle") from None
    return Bundle(root, Manifest.from_json(doc, path))
