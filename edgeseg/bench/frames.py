"""Frames for a sweep, decoded once into memory (so every operating point sees the same frames and no
decode noise), with the names labels are matched by, and the ground-truth labels that match them."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edgeseg.data.folders import list_images
from edgeseg.errors import UsageError
from edgeseg.runtime.io.sources import SourceError, Status, open_source


@dataclass
class Clip:
    source: str
    frames: list[np.ndarray]
    names: list[str]
    fps: float = 0.0
    labels: dict[int, np.ndarray] = field(default_factory=dict)  # frame index -> HxW uint8 ground truth

    @property
    def labelled(self) -> int:
        return len(self.labels)


def load_clip(source: str, limit: int | None = None, progress: bool = False) -> Clip:
    """Decode up to ``limit`` frames of ``source`` (any source URI that ends: file, folder, sample); ``progress``: a
    labelled bar on stderr while decoding."""
    src = open_source(source)
    if src.live:
        src.close()
        raise UsageError(f"{source} is a live source; profile a recorded clip or a folder so that every operating "
                         "point sees the same frames (record one with edgeseg run --sink clip.mp4)")
    frames, names = [], []
    bar = tqdm(total=limit, desc=f"decoding frames ({Path(source).name or source})", unit="frame", file=sys.stderr,
               dynamic_ncols=True, disable=not progress)
    try:
        while limit is None or len(frames) < limit:
            r = src.read()
            if r.status is not Status.FRAME:
                if r.status is Status.ERROR and not frames:
                    raise SourceError(f"{source}: {r.reason}")
                break  # a damaged tail: profile the frames before it
            if frames and r.frame.shape != frames[0].shape:
                raise UsageError(f"{source}: frame {r.name} is {r.frame.shape[1]}x{r.frame.shape[0]}, the first was "
                                 f"{frames[0].shape[1]}x{frames[0].shape[0]}; profile a clip of one frame size")
            frames.append(r.frame)
            names.append(r.name)
            bar.update()
    finally:
        src.close()
        if bar.total is not None and bar.n < bar.total:  # the clip was shorter than the limit: end the bar full
            bar.total = bar.n
        bar.close()
    if not frames:
        raise SourceError(f"{source} gave no frames")
    return Clip(source, frames, names, fps=src.fps)


def attach_labels(clip: Clip, folder: str | Path) -> Clip:
    """Ground truth from ``folder``: the label image whose stem equals a frame's name (``0016E5_07959`` for
    ``0016E5_07959.png``, ``000123`` for frame 123 of a video)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"--labels {folder} is not a folder of label images")
    by_stem = {p.stem: p for p in list_images(folder)}
    for i, name in enumerate(clip.names):
        path = by_stem.get(name)
        if path is None:
            continue
        label = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if label is None:
            raise UsageError(f"cannot decode label image {path}")
        if label.shape != clip.frames[i].shape[:2]:
            raise UsageError(f"label {path} is {label.shape[1]}x{label.shape[0]} but its frame is "
                             f"{clip.frames[i].shape[1]}x{clip.frames[i].shape[0]}")
        clip.labels[i] = label
    if not clip.labels:
        raise UsageError(f"no label in {folder} matches a frame of {clip.source} by name (frames are named like "
                         f"{clip.names[0]!r}); labels are matched to frames by file stem")
    return clip
