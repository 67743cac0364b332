"""Read and verify an exported bundle (manifest.json + ONNX graphs). Torch-free.

The manifest is the contract between export and runtime (DESIGN.md "Bundle manifest"):
format version, producer versions, source checkpoint + sha256, classes, input preprocessing, and
for each graph its file, precision, sha256, input/output names, shapes and dtypes.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeseg.errors import UsageError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ORT_X86 = "ort_x86"  # int8 twin with uint8 activations: the form ONNX Runtime's x86 kernels fuse
AUTO = "auto"


class BundleError(UsageError):
    """A bundle is missing, corrupt, or does not match its manifest."""


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
    manifest: dict[str, Any]

    @property
    def graphs(self) -> dict[str, dict[str, Any]]:
        return self.manifest["graphs"]

    @property
    def precision(self) -> str:
        return str(self.manifest.get("precision", "fp32"))

    def graph_path(self, key: str, verify: bool = True, variant: str | None = None) -> Path:
        """Path of graph ``key`` (or of one of its ``variants``, e.g. ``fp32``, ``ort_x86``).

        ``variant="auto"`` picks the file ONNX Runtime runs best on this CPU. With ``verify`` the file's
        sha256 must match the manifest.
        """
        if key not in self.graphs:
            raise BundleError(f"bundle {self.root} has no graph {key!r} (it has: {', '.join(sorted(map(str, self.graphs)))}); "
                              "re-export with the heads you need (edgeseg export --heads ...)")
        entry = self.graphs[key]
        variants = entry.get("variants", {})
        if variant == AUTO:
            variant = ORT_X86 if ORT_X86 in variants and _is_x86() else None
        if variant is not None:
            if variant not in variants:
                raise BundleError(f"graph {key!r} of {self.root} has no {variant!r} variant "
                                  f"(it has: {', '.join(sorted(variants)) or 'none'})")
            entry = variants[variant]
        path = self.root / entry["file"]
        if not path.is_file():
            raise BundleError(f"{path} listed in the manifest is missing; re-export the bundle")
        if verify and sha256_file(path) != entry["sha256"]:
            raise BundleError(f"{path} does not match the sha256 in {self.root / MANIFEST} (modified or corrupt); "
                              "re-export the bundle")
        return path


def _is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "x86", "i686")


def load_bundle(root: str | Path) -> Bundle:
    """Read ``root/manifest.json`` and check its format version."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(f"{root} is not an edgeseg bundle (no {MANIFEST}); make one with `edgeseg export`")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read {path}: {exc}; re-export the bundle") from None
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if not isinstance(version, int):
        raise BundleError(f"{path} has no integer format_version; re-export the bundle")
    if version > FORMAT_VERSION:
        raise BundleError(f"{path} has format version {version}, this edgeseg reads up to {FORMAT_VERSION}; "
                          "upgrade edgeseg (pip install -U edgeseg)")
    for key in ("graphs", "classes", "input"):
        if key not in manifest:
            raise BundleError(f"{path} lacks {key!r}; re-export the bundle")
    check_manifest(manifest, path)
    return Bundle(root, manifest)


def _is_file_ref(entry: Any) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("sha256"), str)


def _is_numbers(value: Any, n: int) -> bool:
    return isinstance(value, list) and len(value) == n and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                               for v in value)


def check_manifest(manifest: dict[str, Any], path: Path) -> None:
    """The structure the runtime relies on, so that a damaged or hand-edited manifest is a BundleError naming
    the key, never a TypeError somewhere later."""
    def bad(key: str, want: str) -> BundleError:
        return BundleError(f"{path}: {key} must be {want}; the manifest is damaged, re-export the bundle")
    graphs = manifest["graphs"]
    if not isinstance(graphs, dict) or not graphs:
        raise bad("'graphs'", "a non-empty object")
    for key, entry in graphs.items():
        if not _is_file_ref(entry):
            raise bad(f"graphs.{key}", "an object with string 'file' and 'sha256'")
        if not isinstance(entry.get("variants", {}), dict) or not all(_is_file_ref(v) for v in entry.get("variants", {}).values()):
            raise bad(f"graphs.{key}.variants", "an object of {file, sha256} objects")
        for io in ("inputs", "outputs"):
            items = entry.get(io)
            if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str)
                                                      and isinstance(i.get("shape"), list) for i in items):
                raise bad(f"graphs.{key}.{io}", "a list of {name, shape, dtype} objects")
    classes, inp = manifest["classes"], manifest["input"]
    if not isinstance(classes, dict) or not isinstance(classes.get("names"), list) or not classes["names"]:
        raise bad("classes.names", "a non-empty list")
    if not isinstance(classes.get("palette"), list) or not all(_is_numbers(c, 3) for c in classes["palette"]):
        raise bad("classes.palette", "a list of [r, g, b]")
    if not isinstance(inp, dict) or not _is_numbers(inp.get("size"), 2) or not _is_numbers(inp.get("mean"), 3) \
            or not _is_numbers(inp.get("std"), 3):
        raise bad("input", "an object with size [h, w], mean [3] and std [3]")
    engines = manifest.get("engines", {})
    if not isinstance(engines, dict) or not all(isinstance(e, dict) for e in engines.values()):
        raise bad("engines", "an object of engine records")
