"""The torch-free runtime: preprocessing, engines, flow, kernels, the pipeline, sources and sinks.

This package must import on a Jetson without torch; keep imports here light.
"""
