"""Calibration feeds -> a TensorRT IInt8EntropyCalibrator2 with a cache file (TensorRT 10, JetPack 6).

UNVERIFIED here (no TensorRT, no GPU). TensorRT 11 removed implicit INT8 calibration; there the
bundle's explicit Q/DQ graphs (``ort_qdq``) carry the quantization instead. The class is created on
first use so that importing this module needs neither tensorrt nor cuda-python.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from edgeseg._fs import atomic_path
from edgeseg.runtime.backends.tensorrt_env import check_cuda, import_cudart, import_tensorrt


def entropy_calibrator(feeds: Iterable[dict[str, np.ndarray]], cache_file: str | Path) -> Any:
    """An IInt8EntropyCalibrator2 that serves ``feeds`` (batch 1) and reads/writes ``cache_file``.

    With a cache present TensorRT skips calibration and the feeds are never read.
    """
    import_tensorrt()
    import tensorrt as trt

    cudart = import_cudart()
    cache_path = Path(cache_file)

    class FeedCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self._feeds = iter(feeds)
            self._device: dict[str, tuple[int, int]] = {}  # name -> (pointer, bytes)

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> list[int]:
            feed = next(self._feeds, None)
            if feed is None:  # an empty list tells TensorRT that calibration data is exhausted
                self.release()
                return []
            pointers = []
            for name in names:
                host = np.ascontiguousarray(feed[name], dtype=np.float32)
                ptr, size = self._device.get(name, (0, 0))
                if size < host.nbytes:
                    if ptr:
                        check_cuda(cudart.cudaFree(ptr))
                    ptr, size = int(check_cuda(cudart.cudaMalloc(host.nbytes))), host.nbytes
                    self._device[name] = (ptr, size)
                check_cuda(cudart.cudaMemcpy(ptr, host.ctypes.data, host.nbytes,
                                             cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
                pointers.append(ptr)
            return pointers

        def read_calibration_cache(self) -> bytes | None:
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            with atomic_path(cache_path) as tmp:
                tmp.write_bytes(bytes(cache))

        def release(self) -> None:
            for ptr, _ in self._device.values():
                check_cuda(cudart.cudaFree(ptr))
            self._device.clear()

    return FeedCalibrator()
