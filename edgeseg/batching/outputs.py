"""What ``edgeseg batch`` writes for each video, and how a finished video is recognised.

``DIR/<key>/`` holds the labels in one of three formats and ``stats.json``, the done marker. A video is written
into ``DIR/.<key>.tmp-<id>/`` and only then renamed to ``DIR/<key>`` with ``stats.json`` already in it, so a
worker killed mid-video leaves a temporary folder (swept at the next start or retry) and never a partial output.

- ``png``: ``labels/NNNNNN.png`` (class ids; a folder of frames keeps its frames' stems), exactly the files
  ``edgeseg run --sink FOLDER/`` writes in sync mode.
- ``npz``: ``labels.npz``, one array per frame, by the same names: ``np.load(f)["000042"]``.
- ``zstd``: ``labels.zst``, every frame's HxW uint8 labels back to back, zstd-compressed (``zstandard``); ``stats.json``
  has ``frame_size`` [H, W]: ``np.frombuffer(zstandard.ZstdDecompressor().stream_reader(open(f, "rb")).read(),
  np.uint8).reshape(-1, H, W)``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg._fs import atomic_write_text
from edgeseg._json import dumps
from edgeseg.errors import MissingDependencyError, UsageError
from edgeseg.runtime.io.sinks import LabelFolderSink, Sink, SinkError

FORMATS = ("png", "npz", "zstd")
MARKER = "stats.json"
TEMP = ".tmp-"


class CountingSink(Sink):
    """Forwards every frame to ``inner`` and counts its pixels per class (the video's class fractions)."""

    def __init__(self, inner: Sink):
        self.inner, self.pixels = inner, np.zeros(256, np.int64)  # labels are uint8
        self.frame_size: tuple[int, int] | None = None

    def write(self, rgb: np.ndarray, labels: np.ndarray, index: int, name: str = "") -> None:
        import cv2  # its histogram: 0.3 ms for a 960x540 frame where np.bincount takes 1.7
        self.pixels += cv2.calcHist([labels], [0], None, [256], [0, 256]).ravel().astype(np.int64)
        self.frame_size = self.frame_size or (int(labels.shape[0]), int(labels.shape[1]))
        self.inner.write(rgb, labels, index, name)

    def close(self) -> None:
        self.inner.close()

    def fractions(self, names: list[str]) -> dict[str, float]:
        total = max(1, int(self.pixels.sum()))
        out = {n: round(int(self.pixels[i]) / total, 6) for i, n in enumerate(names) if self.pixels[i]}
        other = int(self.pixels[len(names):].sum())
        if other:
            out["other"] = round(other / total, 6)  # ignore / unlabelled ids beyond the named classes
        return out


class NpzSink(Sink):
    """``labels.npz`` written frame by frame (a ZIP of .npy members, what ``np.savez_compressed`` makes)."""

    def __init__(self, path: Path):
        self.zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED)

    def write(self, rgb: np.ndarray, labels: np.ndarray, index: int, name: str = "") -> None:
        try:
            with self.zip.open(f"{name or f'{index:06d}'}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(labels), allow_pickle=False)
        except OSError as exc:
            raise SinkError(f"cannot write {self.zip.filename}: {exc.strerror or exc}") from None

    def close(self) -> None:
        try:
            self.zip.close()
        except OSError as exc:
            raise SinkError(f"cannot write {self.zip.filename}: {exc.strerror or exc}") from None


class ZstdSink(Sink):
    """``labels.zst``: the frames' labels back to back in one zstd stream (one frame size per video)."""

    @staticmethod
    def require() -> None:
        """A MissingDependencyError when zstandard is not installed."""
        try:
            import zstandard  # noqa: F401
        except ImportError:
            raise MissingDependencyError("--format zstd needs zstandard: pip install 'edgeseg[batch]'") from None

    def __init__(self, path: Path, level: int = 3):
        self.require()
        import zstandard
        self.path, self.file = path, open(path, "wb")
        self.stream = zstandard.ZstdCompressor(level=level).stream_writer(self.file)
        self.size: tuple[int, ...] | None = None

    def write(self, rgb: np.ndarray, labels: np.ndarray, index: int, name: str = "") -> None:
        if self.size is not None and labels.shape != self.size:
            raise SinkError(f"frame {index} is {labels.shape[1]}x{labels.shape[0]}, earlier ones "
                            f"{self.size[1]}x{self.size[0]}: --format zstd needs one frame size (use png or npz)")
        self.size = labels.shape
        try:
            self.stream.write(np.ascontiguousarray(labels, np.uint8).tobytes())
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        try:
            self.stream.close()  # flushes the frame and closes the file
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {exc.strerror or exc}") from None


def label_sink(fmt: str, folder: Path) -> Sink:
    """The writer of ``fmt`` into a video's (temporary) output folder."""
    if fmt == "png":
        return LabelFolderSink(folder / "labels")
    if fmt == "npz":
        return NpzSink(folder / "labels.npz")
    if fmt == "zstd":
        return ZstdSink(folder / "labels.zst")
    raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def new_temp(out: Path, key: str) -> Path:
    """A fresh temporary folder for ``key``; earlier ones of the same video (a killed attempt) are removed first."""
    for stale in out.glob(f".{key}{TEMP}*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out / f".{key}{TEMP}{uuid.uuid4().hex[:12]}"
    tmp.mkdir(parents=True)
    return tmp


def sweep(out: Path) -> int:
    """Remove every temporary folder and file (and attempt count) left in ``out`` by a run that was killed or
    interrupted; returns how many."""
    # also the attempt counts: they count the deaths of one job's workers, and a new job starts afresh
    stale = [p for p in out.glob(".*") if TEMP in p.name or p.name.endswith((".tmp", ".attempts"))] if out.is_dir() else []
    for p in stale:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    return len(stale)


def publish(tmp: Path, out: Path, key: str, stats: dict[str, Any]) -> Path:
    """Write ``stats`` (the marker) into ``tmp`` last, then make ``tmp`` the video's output folder in one rename; an
    older output of the video (another bundle or profile, or --redo) is replaced."""
    atomic_write_text(tmp / MARKER, dumps(stats))
    final = out / key
    old = None
    if final.exists():
        old = out / f".{key}{TEMP}old-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_marker(out: Path, key: str) -> dict[str, Any] | None:
    """The done marker of ``key``'s output, or None (not done, or unreadable: then it is done again)."""
    try:
        marker = json.loads((out / key / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None
