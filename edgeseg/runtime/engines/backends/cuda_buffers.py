"""Pinned host + device buffers and a CUDA stream through cuda-python's runtime API (no torch, no CuPy).

The TensorRT backend binds one ``IoBuffer`` per engine tensor: inputs are copied into page-locked host
memory, sent with ``cudaMemcpyAsync`` on the engine's stream, and outputs come back the same way, so one
inference is a single stream of copies + kernels and one synchronisation.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from edgeseg.errors import UsageError
from edgeseg.runtime.engines.backends.tensorrt_env import check_cuda, import_cudart


class CudaStream:
    """One CUDA stream; ``handle`` is the integer TensorRT's ``execute_async_v3`` takes."""

    def __init__(self) -> None:
        self.cudart = import_cudart()
        self.stream = check_cuda(self.cudart.cudaStreamCreate())
        self.handle = int(self.stream)

    def synchronize(self) -> None:
        check_cuda(self.cudart.cudaStreamSynchronize(self.stream))

    def close(self) -> None:
        if self.stream is not None:
            check_cuda(self.cudart.cudaStreamDestroy(self.stream))
            self.stream = None


class IoBuffer:
    """A tensor of fixed shape and dtype in pinned host memory (``host``, a NumPy view) and on the device (``device``)."""

    def __init__(self, shape: tuple[int, ...], dtype: Any):
        self.cudart = import_cudart()
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        self._host_ptr = int(check_cuda(self.cudart.cudaMallocHost(self.nbytes)))
        try:
            self.device = int(check_cuda(self.cudart.cudaMalloc(self.nbytes)))
        except BaseException:
            check_cuda(self.cudart.cudaFreeHost(self._host_ptr))
            raise
        raw = (ctypes.c_ubyte * self.nbytes).from_address(self._host_ptr)
        self.host = np.frombuffer(raw, dtype=self.dtype).reshape(self.shape)

    def upload(self, array: np.ndarray, stream: CudaStream) -> None:
        """Copy ``array`` into the pinned buffer, then (asynchronously) to the device."""
        if array.shape != self.shape:
            raise UsageError(f"input of shape {array.shape} given to an engine tensor of shape {self.shape}")
        self.upload_part(array, stream)

    def upload_part(self, array: np.ndarray, stream: CudaStream) -> None:
        """``upload`` into the start of a buffer made for the largest size (a frame of any size up to it)."""
        flat = np.asarray(array).reshape(-1)
        if flat.size * self.dtype.itemsize > self.nbytes:
            raise UsageError(f"{flat.size} items given to a buffer of {self.nbytes // self.dtype.itemsize}")
        np.copyto(self.host.reshape(-1)[:flat.size], flat, casting="same_kind")
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        check_cuda(self.cudart.cudaMemcpyAsync(self.device, self._host_ptr, flat.size * self.dtype.itemsize, kind,
                                               stream.stream))

    def download(self, stream: CudaStream) -> None:
        """Queue the device -> pinned host copy; ``host`` holds the result after ``stream.synchronize()``."""
        self.download_part(self.shape, stream)

    def download_part(self, shape: tuple[int, ...], stream: CudaStream) -> np.ndarray:
        """Queue the copy of the first ``shape`` items back; returns their host view (valid after synchronising)."""
        count = int(np.prod(shape, dtype=np.int64))
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        check_cuda(self.cudart.cudaMemcpyAsync(self._host_ptr, self.device, count * self.dtype.itemsize, kind,
                                               stream.stream))
        return self.host.reshape(-1)[:count].reshape(shape)

    def close(self) -> None:
        if self._host_ptr:
            self.host = np.empty(0, self.dtype)  # drop the view before the memory goes
            check_cuda(self.cudart.cudaFree(self.device))
            check_cuda(self.cudart.cudaFreeHost(self._host_ptr))
            self._host_ptr = self.device = 0
