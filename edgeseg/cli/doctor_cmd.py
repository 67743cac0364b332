"""``edgeseg doctor``: what this machine offers edgeseg (versions, providers, TensorRT/CUDA, cameras, kernels)."""

from __future__ import annotations

import argparse
import glob
import importlib.metadata
import importlib.util
import os
import platform


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-cameras", action="store_true", help="do not probe /dev/video* devices")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def video_io_rows() -> list[tuple[str, str]]:
    """What this OpenCV can read and write: GStreamer (gst://, csi://), FFmpeg (files, rtsp://), H.264 files."""
    import tempfile

    import cv2

    from edgeseg.runtime.io.sources import opencv_has
    gst = ("yes (gst:// and csi:// sources work)" if opencv_has("GStreamer") else
           "NO: gst:// and csi:// cannot open (pip's opencv-python has no GStreamer; on a Jetson use JetPack's OpenCV: "
           "apt install python3-opencv, then pip uninstall opencv-python-headless)")
    ffmpeg = "yes (video files, rtsp://, http://)" if opencv_has("FFMPEG") else "NO: video files and network streams cannot open"
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # a failed probe is an answer, not an error
    try:
        with tempfile.TemporaryDirectory() as folder:  # the encoder is asked, not assumed: a writer that opens has it
            writer = cv2.VideoWriter(f"{folder}/probe.mp4", cv2.VideoWriter_fourcc(*"avc1"), 10, (64, 64))
            h264 = writer.isOpened()
            writer.release()
    finally:
        cv2.utils.logging.setLogLevel(level)
    return [("opencv GStreamer", gst), ("opencv FFmpeg", ffmpeg),
            ("H.264 video output", "yes (--codec avc1)" if h264 else "no H.264 encoder in this OpenCV: .mp4 is written as "
             "MPEG-4 Part 2 (mp4v); JetPack's OpenCV with GStreamer has one")]


def run(args: argparse.Namespace) -> int:
    import cv2
    import onnxruntime as ort

    from edgeseg import __version__
    from edgeseg.errors import EdgesegError, MissingDependencyError
    from edgeseg.runtime.engines.backends.tensorrt_env import (
        current_gpu,
        driver_cuda_version,
        import_tensorrt,
        package_version,
        tensorrt_cuda_major,
        version_mismatches,
    )
    from edgeseg.runtime.engines.registry import BACKEND_TABLE, best_backend
    from edgeseg.runtime.motion import kernels

    rows = [("edgeseg", __version__), ("python", platform.python_version()), ("platform", platform.platform()),
            ("cpu cores", str(os.cpu_count())), ("numpy", _version("numpy")), ("opencv", cv2.__version__),
            ("onnxruntime", ort.__version__), ("onnxruntime providers", ", ".join(ort.get_available_providers())),
            ("C kernels", "built" if kernels.BACKEND == "c" else "NOT built (NumPy fallback, slower)"),
            ("torch", _version("torch") if importlib.util.find_spec("torch") else "not installed (not needed to run)")]
    try:
        trt = import_tensorrt()
        rows.append(("tensorrt", trt.__version__))
    except MissingDependencyError as exc:
        rows.append(("tensorrt", f"unavailable: {str(exc).split(';')[0]}"))
    trt_cuda = tensorrt_cuda_major()
    rows += [("TensorRT built for CUDA", str(trt_cuda) if trt_cuda else "unknown (JetPack's, or not installed)"),
             ("CUDA driver supports", driver_cuda_version() or "no NVIDIA driver found"),
             ("cuda-python", package_version("cuda-python") or "not installed")]
    try:
        gpu = current_gpu()
        rows.append(("CUDA GPU", f"{gpu.name} (compute capability {gpu.compute_capability})"))
    except EdgesegError as exc:
        rows.append(("CUDA GPU", f"unavailable: {str(exc).split(';')[0]}"))
    rows += [("MISMATCH", problem) for problem in version_mismatches()]
    for b in BACKEND_TABLE.values():  # one line per backend, from the backend table
        where = ("on a GPU here" if b.on_gpu() else "CPU only here") if b.available() else "not available here"
        rows.append((f"backend {b.name}", f"{where}: {b.summary}"))
    rows.append(("default backend", best_backend()))
    rows += video_io_rows()
    if not args.no_cameras:
        cams = sorted(glob.glob("/dev/video*"))
        found = []
        for dev in cams:
            cap = cv2.VideoCapture(dev, cv2.CAP_V4L2)
            found.append(f"{dev} ({'opens' if cap.isOpened() else 'cannot open'})")
            cap.release()
        rows.append(("cameras", ", ".join(found) or "none found (/dev/video* absent)"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0
