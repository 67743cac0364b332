"""Build the C propagation kernels (no torch, no CUDA, no NumPy headers: plain buffer protocol + pthreads).

All other metadata lives in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("edgeseg.runtime._kernels", ["edgeseg/runtime/csrc/kernels.c"],
                             extra_compile_args=["-O3", "-std=c99", "-fno-fast-math", "-Wall"],
                             extra_link_args=["-lpthread"])])
