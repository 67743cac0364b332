"""Engine backends, one module each, imported lazily by name."""
