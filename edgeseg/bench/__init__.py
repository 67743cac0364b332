"""The profiler: every operating point on the same frames in one process (``edgeseg profile``)."""
