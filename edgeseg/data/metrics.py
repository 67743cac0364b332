"""Segmentation metrics from a confusion matrix (ignore id respected)."""

from __future__ import annotations

import numpy as np


class ConfusionMatrix:
    """Accumulates a ``num_classes`` x ``num_classes`` confusion matrix (rows: truth, cols: prediction)."""

    def __init__(self, num_classes: int, ignore_id: int | None = None):
        self.num_classes = num_classes
        self.ignore_id = ignore_id
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: np.ndarray, truth: np.ndarray) -> None:
        if pred.shape != truth.shape:
            raise ValueError(f"prediction shape {pred.shape} != label shape {truth.shape}")
        t = truth.reshape(-1).astype(np.int64)
        p = pred.reshape(-1).astype(np.int64)
        keep = (t >= 0) & (t < self.num_classes)  # drops the ignore id (and anything out of range)
        if self.ignore_id is not None:
            keep &= t != self.ignore_id
        p = np.clip(p[keep], 0, self.num_classes - 1)
        self.matrix += np.bincount(t[keep] * self.num_classes + p, minlength=self.num_classes**2).reshape(
            self.num_classes, self.num_classes)

    def iou(self) -> np.ndarray:
        """Per-class IoU in [0, 1]; NaN for a class absent from both truth and prediction."""
        tp = np.diag(self.matrix).astype(np.float64)
        denom = self.matrix.sum(0) + self.matrix.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)

    def miou(self) -> float:
        """Mean IoU over classes present in truth or prediction, in [0, 1]."""
        return float(np.nanmean(self.iou()))

    def pixel_accuracy(self) -> float:
        total = self.matrix.sum()
        return float(np.diag(self.matrix).sum() / total) if total else float("nan")
