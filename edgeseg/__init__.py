"""edgeseg: deploy real-time video semantic segmentation to edge devices.

    import edgeseg
    with edgeseg.Segmenter("bundle", profile="evs07") as seg:
        result = seg(frame_rgb)            # labels, keyframe, overlay()

``Segmenter``, ``Result``, ``Propagator`` and ``batch`` (many videos, ``edgeseg batch``) are loaded on first use,
so importing the package stays cheap:
no torch, no onnxruntime, no OpenCV until they are asked for.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Propagator", "Result", "Segmenter", "__version__", "batch"]

_LAZY = {"Segmenter": "edgeseg.api", "Result": "edgeseg.api", "Propagator": "edgeseg.runtime.pipeline.core",
         "batch": "edgeseg.batching.job"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgeseg' has no attribute {name!r}")
