"""Whole keyframes on TensorRT (``DeviceKeyframes``): the bundle's ``pre`` engine, the backbone engine and the
``post`` engine queued on one CUDA stream, each reading the previous one's output where it lies on the device.
The frame goes up once as uint8 through a pinned buffer, uint8 labels come back; scores and features only when
refinement needs them. The same chain as ONNX Runtime's (``edgeseg.runtime.engines.device_chain``), with TensorRT's
explicit memory: the pre/post engines take any frame size up to ``FRAME_MAX`` (their optimisation profile).

UNVERIFIED here: no TensorRT, no GPU (type-checked against tensorrt-stubs).
"""

from __future__ import annotations

import numpy as np

from edgeseg.bundle.manifest import KEYFRAME_FRAME as FRAME  # the keyframe graphs' tensors, named once
from edgeseg.bundle.manifest import KEYFRAME_LABELS as LABELS
from edgeseg.bundle.manifest import KEYFRAME_SIZE as SIZE
from edgeseg.errors import EdgesegError
from edgeseg.runtime.engines.backends.cuda_buffers import IoBuffer
from edgeseg.runtime.engines.backends.tensorrt_backend import TensorRTEngine
from edgeseg.runtime.engines.backends.tensorrt_build import FRAME_MAX, FRAME_MIN
from edgeseg.runtime.engines.network_io import KeyOutput, NetworkIO


class TensorRTKeyframes:
    """The backbone engine with the pre and post engines around it: ``infer`` as the backbone's, ``keyframe`` the
    whole chain."""

    def __init__(self, backbone: TensorRTEngine, pre: TensorRTEngine, post: TensorRTEngine):
        self.engine, self.pre, self.post = backbone, pre, post
        self.wraps = backbone  # device_chain.wrapped
        self.backend, self.inputs, self.output_names = backbone.backend, backbone.inputs, backbone.output_names
        # post's frame size: a shape tensor that TensorRT reads from host memory (or a device tensor, if it chose so),
        # in the type the engine gives it
        self._size_host = np.zeros(2, post.dtype(SIZE))
        self._buffers: list[IoBuffer] = []
        try:  # the largest frame and label map the profile takes; a smaller frame uses the start of each buffer
            self._frame = self._buffer((1, *FRAME_MAX, 3), np.uint8)
            self._labels = self._buffer((1, *FRAME_MAX), np.uint8)
            self._size = None if SIZE in post.on_host else self._buffer((2,), self._size_host.dtype)
        except BaseException:
            self._free()
            raise

    def _buffer(self, shape: tuple[int, ...], dtype: np.dtype | type) -> IoBuffer:
        self._buffers.append(IoBuffer(shape, dtype))
        return self._buffers[-1]

    def _free(self) -> None:
        for buf in self._buffers:
            buf.close()
        self._buffers.clear()

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.engine.infer(feed)

    def keyframe(self, rgb: np.ndarray, io: NetworkIO, keep: bool) -> KeyOutput | None:
        """``DeviceKeyframes``: the chain, or None for a frame it does not take (not uint8 RGB, or a size outside
        the engines' profile)."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            return None
        h, w = rgb.shape[:2]
        if not (FRAME_MIN[0] <= h <= FRAME_MAX[0] and FRAME_MIN[1] <= w <= FRAME_MAX[1]):
            return None
        scores = io.output.name
        try:  # shapes the profile does not take: the host path runs this frame
            self.pre.set_shape(FRAME, (1, h, w, 3))
            self.post.set_shape(scores, self.engine.shape(scores))
        except EdgesegError:
            return None
        stream = self.engine.stream
        self._frame.upload_part(np.ascontiguousarray(rgb), stream)
        self.pre.bind(FRAME, self._frame.device)
        self.pre.bind(io.input.name, self.engine.address(io.input.name))
        self.pre.enqueue(stream)
        self.engine.enqueue(stream)
        self.post.bind(scores, self.engine.address(scores))
        self._size_host[:] = (h, w)
        if self._size is None:
            self.post.bind(SIZE, self._size_host.ctypes.data)
        else:
            self._size.upload(self._size_host, stream)
            self.post.bind(SIZE, self._size.device)
        self.post.bind(LABELS, self._labels.device)
        self.post.enqueue(stream)
        labels = self._labels.download_part((h, w), stream)
        outs = self.engine.fetch(self.output_names if keep else [])  # synchronises the stream
        labels = labels.copy()
        if not keep:
            return KeyOutput(None, None, None, frame_labels=labels)
        feats = outs[io.features][0] if io.features else None
        return KeyOutput(np.ascontiguousarray(outs[scores][0], dtype=np.float32), None, feats, frame_labels=labels)

    def close(self) -> None:
        """Release the pre/post engines and the chain's buffers (the backbone engine belongs to its opener)."""
        self._free()
        self.pre.close()
        self.post.close()
