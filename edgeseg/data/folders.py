"""CamVid-style datasets: a folder of images and a folder of label PNGs matched by file stem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeseg.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")


def list_images(folder: str | Path) -> list[Path]:
    """Image files of ``folder``, sorted by name. Raises DatasetError if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} does not exist or is not a folder; pass an existing folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}; pass a folder that holds images")
    return files


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image as HxWx3 uint8 RGB or raise DatasetError."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(f"cannot read image {path}: missing, truncated or not an image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_label(path: str | Path) -> np.ndarray:
    """Read a label PNG of class ids as HxW uint8 or raise DatasetError."""
    lab = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if lab is None:
        raise DatasetError(f"cannot read label image {path}: missing, truncated or not an image")
    if lab.ndim == 3:
        raise DatasetError(f"label image {path} has {lab.shape[2]} channels; labels must be single-channel class ids")
    return lab.astype(np.uint8)


@dataclass(frozen=True)
class Sample:
    image: Path
    label: Path | None


def paired_samples(images: str | Path, labels: str | Path | None) -> list[Sample]:
    """Match images to labels by file stem. Every image must have a label when ``labels`` is given."""
    imgs = list_images(images)
    if labels is None:
        return [Sample(p, None) for p in imgs]
    by_stem = {p.stem: p for p in list_images(labels)}
    missing = [p.name for p in imgs if p.stem not in by_stem]
    if missing:
        raise DatasetError(f"{len(missing)} image(s) in {images} have no label with the same stem in {labels} "
                           f"(first: {missing[0]}); pass matching folders")
    return [Sample(p, by_stem[p.stem]) for p in imgs]


class FolderDataset:
    """Images + labels from two folders (CamVid layout: ``train/`` and ``trainannot/``)."""

    def __init__(self, images: str | Path, labels: str | Path | None):
        self.samples = paired_samples(images, labels)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        s = self.samples[i]
        return read_rgb(s.image), (read_label(s.label) if s.label is not None else None)

    def load_all(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Every image and label in memory (CamVid train is ~190 MB)."""
        pairs = [self[i] for i in range(len(self))]
        return [p[0] for p in pairs], [p[1] for p in pairs if p[1] is not None]
