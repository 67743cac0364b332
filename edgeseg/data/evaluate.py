"""Evaluate any per-frame predictor (torch, ONNX Runtime, ...) on an image/label folder pair."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from edgeseg.data.folders import paired_samples, read_label, read_rgb
from edgeseg.data.metrics import ConfusionMatrix
from edgeseg.errors import DatasetError


def evaluate_folder(predict: Callable[[np.ndarray], np.ndarray], images: str | Path, labels: str | Path,
                    class_names: Sequence[str], ignore_id: int | None, progress: bool = True) -> dict:
    """Predict every image, compare with its label; returns {"miou", "per_class", "frames", ...} in percent."""
    samples = paired_samples(images, labels)
    cm = ConfusionMatrix(len(class_names), ignore_id)
    for s in tqdm(samples, desc="eval", unit="frame", disable=not progress):
        rgb = read_rgb(s.image)
        truth = read_label(s.label)  # type: ignore[arg-type]
        if truth.shape != rgb.shape[:2]:
            raise DatasetError(f"label {s.label} is {truth.shape}, image {s.image} is {rgb.shape[:2]}; labels must match their images")
        cm.update(predict(rgb), truth)
    iou = cm.iou()
    return {
        "miou": round(100.0 * cm.miou(), 2),
        "per_class": {n: (None if np.isnan(v) else round(100.0 * float(v), 2)) for n, v in zip(class_names, iou)},
        "pixel_accuracy": round(100.0 * cm.pixel_accuracy(), 2),
        "frames": len(samples),
    }
