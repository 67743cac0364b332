"""Calibration feeds: plain iterables of ``{input name: ndarray}`` built from any frame source.

Frames go through exactly the runtime's preprocessing (``edgeseg.runtime.engines.preprocess``), so the
statistics a quantizer collects are those the deployed graph will see. Thin adapters turn a feed list
into an ONNX Runtime ``CalibrationDataReader`` (``ort_qdq``) or a TensorRT calibrator (``tensorrt``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from edgeseg.calibration.frames import read_frames
from edgeseg.runtime.engines.preprocess import preprocess


def image_feeds(source: str | Path, size: tuple[int, int], mean: Sequence[float], std: Sequence[float],
                limit: int | None = None, skip: int = 0, input_name: str = "image") -> Iterator[dict[str, np.ndarray]]:
    """``{input_name: 1x3xHxW float32}`` for up to ``limit`` frames of ``source``, after skipping ``skip``."""
    for i, rgb in enumerate(read_frames(source, None if limit is None else skip + limit)):
        if i >= skip:
            yield {input_name: preprocess(rgb, size, mean, std)}
