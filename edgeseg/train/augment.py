"""Image + label augmentation for backbone training (numpy / OpenCV, labels by nearest neighbour)."""

from __future__ import annotations

import cv2
import numpy as np


def random_scale_crop(img: np.ndarray, lab: np.ndarray, rng: np.random.Generator, crop: tuple[int, int],
                      scale: tuple[float, float], ignore_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Rescale by a random factor, then take a random crop (padding with ignore where too small)."""
    s = float(rng.uniform(*scale))
    h, w = lab.shape
    nh, nw = max(8, int(round(h * s))), max(8, int(round(w * s)))
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    lab = cv2.resize(lab, (nw, nh), interpolation=cv2.INTER_NEAREST)
    ch, cw = crop
    ph, pw = max(0, ch - nh), max(0, cw - nw)
    if ph or pw:
        img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        lab = cv2.copyMakeBorder(lab, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=ignore_id)
    y = int(rng.integers(0, img.shape[0] - ch + 1))
    x = int(rng.integers(0, img.shape[1] - cw + 1))
    return img[y:y + ch, x:x + cw], lab[y:y + ch, x:x + cw]


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation jitter and occasional blur, on RGB uint8."""
    x = img.astype(np.float32)
    x = x * rng.uniform(0.75, 1.25) + rng.uniform(-20, 20)
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.75, 1.25) + mean
    gray = x.mean(axis=2, keepdims=True)
    x = (x - gray) * rng.uniform(0.7, 1.3) + gray
    out = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(out, (3, 3), 0)
    return out


def augment(img: np.ndarray, lab: np.ndarray, rng: np.random.Generator, crop: tuple[int, int],
            scale: tuple[float, float] = (0.5, 1.75), ignore_id: int = 255) -> tuple[np.ndarray, np.ndarray]:
    """Scale + crop + horizontal flip + photometric jitter."""
    img, lab = random_scale_crop(img, lab, rng, crop, scale, ignore_id)
    if rng.random() < 0.5:
        img, lab = img[:, ::-1], lab[:, ::-1]
    return photometric(np.ascontiguousarray(img), rng), np.ascontiguousarray(lab)


def class_weights(labels: list[np.ndarray], num_classes: int) -> np.ndarray:
    """Square root of median-frequency balancing: rare classes count more, without ENet's extremes."""
    counts = np.zeros(num_classes, np.float64)
    for lab in labels:
        counts += np.bincount(lab.reshape(-1), minlength=256)[:num_classes]
    freq = counts / max(counts.sum(), 1)
    freq = np.where(freq > 0, freq, freq[freq > 0].min() if (freq > 0).any() else 1.0)
    return np.sqrt(np.median(freq) / freq).astype(np.float32)
