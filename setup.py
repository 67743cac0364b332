"""Build the C propagation kernels (no torch, no CUDA, no NumPy headers: plain buffer protocol + pthreads).

The extension is optional: without a C compiler (or the Python headers) the install still succeeds and
the runtime uses the NumPy reference kernels, slower, saying so once (``edgeseg doctor`` too).
All other metadata lives in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("edgeseg.runtime.motion._kernels", ["edgeseg/runtime/motion/csrc/kernels.c"],
                             extra_compile_args=["-O3", "-std=c99", "-fno-fast-math", "-ffp-contract=off", "-Wall"],
                             extra_link_args=["-lpthread"], optional=True)])
