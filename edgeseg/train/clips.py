"""Short video clips synthesised from one labelled image by random smooth motion.

Each frame is the image (and its labels, nearest neighbour) resampled through a camera motion that
accumulates over the clip (a homography: translation, zoom, rotation, slight perspective) plus a
smooth elastic field, with one or two occluders cut from another labelled image moving on top. This
gives the video heads real image content, exact labels on every frame, and motion that DIS flow
must estimate (imperfectly, as on real video).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class MotionConfig:
    max_shift: float = 8.0  # px per frame
    max_zoom: float = 0.03  # relative per frame
    max_rotate: float = 1.0  # degrees per frame
    perspective: float = 2e-5
    elastic: float = 2.5  # px amplitude, grows with the frame index
    occluders: tuple[int, int] = (0, 2)
    occluder_speed: float = 12.0  # px per frame


def _homography_step(rng: np.random.Generator, cfg: MotionConfig, w: int, h: int) -> np.ndarray:
    cx, cy = w / 2, h / 2
    a = np.deg2rad(rng.uniform(-cfg.max_rotate, cfg.max_rotate))
    s = 1.0 + rng.uniform(-cfg.max_zoom / 2, cfg.max_zoom)
    tx, ty = rng.uniform(-cfg.max_shift, cfg.max_shift, size=2)
    c, si = s * np.cos(a), s * np.sin(a)
    m = np.array([[c, -si, cx - c * cx + si * cy + tx], [si, c, cy - si * cx - c * cy + ty], [0, 0, 1]])
    m[2, :2] = rng.uniform(-cfg.perspective, cfg.perspective, size=2)
    return m


def _smooth_field(rng: np.random.Generator, h: int, w: int, amplitude: float) -> tuple[np.ndarray, np.ndarray]:
    coarse = rng.normal(0, amplitude, size=(2, 4, 5)).astype(np.float32)
    return (cv2.resize(coarse[0], (w, h), interpolation=cv2.INTER_CUBIC),
            cv2.resize(coarse[1], (w, h), interpolation=cv2.INTER_CUBIC))


def _occluder(rng: np.random.Generator, img: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut an elliptical patch (image, labels, mask) out of another labelled image."""
    h, w = lab.shape
    ph, pw = int(rng.uniform(0.15, 0.4) * h), int(rng.uniform(0.1, 0.3) * w)
    y, x = int(rng.integers(0, h - ph)), int(rng.integers(0, w - pw))
    mask = np.zeros((ph, pw), np.uint8)
    cv2.ellipse(mask, (pw // 2, ph // 2), (pw // 2, ph // 2), 0, 0, 360, 1, -1)
    return img[y:y + ph, x:x + pw], lab[y:y + ph, x:x + pw], mask


def synth_clip(img: np.ndarray, lab: np.ndarray, rng: np.random.Generator, frames: int = 4,
               cfg: MotionConfig = MotionConfig(), donor: tuple[np.ndarray, np.ndarray] | None = None,
               ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return ``frames`` RGB frames and label maps (same size as ``img``), frame 0 the least moved."""
    h, w = lab.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    pts = np.stack([xs.ravel(), ys.ravel(), np.ones(h * w, np.float32)])
    occ = []
    if donor is not None:
        for _ in range(int(rng.integers(cfg.occluders[0], cfg.occluders[1] + 1))):
            patch = _occluder(rng, *donor)
            pos = np.array([rng.uniform(0, w - patch[2].shape[1]), rng.uniform(0, h - patch[2].shape[0])])
            vel = rng.uniform(-cfg.occluder_speed, cfg.occluder_speed, size=2)
            occ.append((patch, pos, vel))
    m = np.eye(3)
    out_img, out_lab = [], []
    for t in range(frames):
        if t:
            m = _homography_step(rng, cfg, w, h) @ m
        src = m @ pts
        mx = (src[0] / src[2]).reshape(h, w).astype(np.float32)
        my = (src[1] / src[2]).reshape(h, w).astype(np.float32)
        if t:
            ex, ey = _smooth_field(rng, h, w, cfg.elastic * t ** 0.5)
            mx, my = mx + ex, my + ey
        fi = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        fl = cv2.remap(lab, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT101)
        for (pimg, plab, pmask), pos, vel in occ:
            x0, y0 = (pos + t * vel).round().astype(int)
            _paste(fi, fl, pimg, plab, pmask, x0, y0)
        out_img.append(fi)
        out_lab.append(fl)
    return out_img, out_lab


def _paste(img: np.ndarray, lab: np.ndarray, pimg: np.ndarray, plab: np.ndarray, pmask: np.ndarray, x0: int, y0: int) -> None:
    h, w = lab.shape
    ph, pw = pmask.shape
    ya, yb, xa, xb = max(0, y0), min(h, y0 + ph), max(0, x0), min(w, x0 + pw)
    if ya >= yb or xa >= xb:
        return
    m = pmask[ya - y0:yb - y0, xa - x0:xb - x0].astype(bool)
    img[ya:yb, xa:xb][m] = pimg[ya - y0:yb - y0, xa - x0:xb - x0][m]
    lab[ya:yb, xa:xb][m] = plab[ya - y0:yb - y0, xa - x0:xb - x0][m]
