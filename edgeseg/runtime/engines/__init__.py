"""Engines: the protocol, the backend table, the backends, the EngineSet, network I/O and its pre/post-processing."""
