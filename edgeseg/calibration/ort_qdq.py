"""Static INT8 quantization with ONNX Runtime into explicit Q/DQ graphs (what TensorRT 10 and 11 consume).

The bundle's int8 graph is in the form TensorRT's guidance asks for: symmetric per-tensor int8 activations
(zero point 0), symmetric per-channel (axis 0) int8 weights, float biases (TensorRT rejects a
DequantizeLinear of INT32, which quantized biases need), and Q/DQ only on the inputs of the weighted layers
(Conv, ConvTranspose, MatMul, Gemm) and on both inputs of Adds, so TensorRT can fuse them; everything else
stays float and TensorRT picks its precision. ONNX Runtime runs it fused on ARM. ONNX Runtime's x86 CPU kernels
only fuse Q/DQ pairs with uint8 activations (int8 ones run as dequantize + fp32 op + quantize, slower
than fp32), so the bundle also holds a twin calibrated on the same feeds with asymmetric uint8
activations, which ONNX Runtime picks on x86. Both are gated separately.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Iterable

import numpy as np

from edgeseg._lazy import lazy_import
from edgeseg.errors import UsageError

METHODS = ("minmax", "entropy", "percentile")
TENSORRT_OPS = ["Conv", "ConvTranspose", "MatMul", "Gemm", "Add"]  # weighted layers, and residual Adds (both inputs)


def quantize_qdq(src: Path, dst: Path, feeds: Iterable[dict[str, np.ndarray]], method: str = "minmax",
                 activations: str = "int8") -> None:
    """Calibrate ``src`` on ``feeds`` and write a Q/DQ graph to ``dst``.

    ``activations="int8"``: the TensorRT form (see module doc).
    ``activations="uint8"``: asymmetric uint8 activations on every op ONNX Runtime quantizes, quantized biases:
    the form ONNX Runtime's x86 kernels fuse (see module doc).
    Weights are always symmetric int8 per output channel.
    """
    if method not in METHODS:
        raise UsageError(f"unknown calibration method {method!r}; choose one of {', '.join(METHODS)}")
    if activations not in ("int8", "uint8"):
        raise UsageError(f"activations must be int8 or uint8, not {activations!r}")
    symmetric = activations == "int8"
    q = lazy_import("onnxruntime.quantization", "pip install onnxruntime")
    feed_list = list(feeds)
    if not feed_list:
        raise UsageError(f"no calibration frames for {src.name}; pass a longer --calib source")

    class Reader(q.CalibrationDataReader):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            self._it = iter(feed_list)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    methods = {"minmax": q.CalibrationMethod.MinMax, "entropy": q.CalibrationMethod.Entropy,
               "percentile": q.CalibrationMethod.Percentile}
    # The quantizer logs one line per tensor; the export shows its own progress.
    logging.getLogger("root").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):
        q.quantize_static(str(src), str(dst), Reader(), quant_format=q.QuantFormat.QDQ, per_channel=True,
                          activation_type=q.QuantType.QInt8 if symmetric else q.QuantType.QUInt8,
                          weight_type=q.QuantType.QInt8, calibrate_method=methods[method],
                          op_types_to_quantize=TENSORRT_OPS if symmetric else None,
                          extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True,
                                         "CalibMovingAverage": method == "minmax", "QuantizeBias": not symmetric})

