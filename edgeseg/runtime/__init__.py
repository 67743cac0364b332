"""The torch-free runtime, in sub-packages by what they are (imports go down this list):

- ``fusion``: what a head is and the registry of heads (``fusion.spec.HEADS``), one spec module per head;
- ``operating_point``: the dataclasses an operating point is made of (profiles build them);
- ``engines``: the Engine protocol, the backend table (``engines.registry``) and one module per backend,
  the ``EngineSet`` that owns open engines, network I/O with its pre/post-processing, per-frame segmentation;
- ``motion``: DIS optical flow, the C propagation kernels (``csrc/``) and their NumPy reference;
- ``io``: sources, sinks, the live view, video options, the legend;
- ``pipeline``: the scheduler (``Pipeline``), refinement by tiles, stats, the ``Session`` that drives every
  frame loop and ``launch.open_session`` that builds one from URIs.

The bundle (manifest schema and reader) lives one layer down, in ``edgeseg.bundle``, so every layer reads it.
This package must import on a Jetson without torch; keep imports here light.
"""
