"""edgeseg: deploy real-time video semantic segmentation to edge devices.

Importing the package is cheap on purpose: heavy dependencies (torch, onnx, tensorrt) are imported
only by the subpackages that need them.
"""

__version__ = "0.1.0"
