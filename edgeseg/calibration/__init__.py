"""Calibration and parity feeds: plain iterables of {input name: ndarray} built from real frames."""
