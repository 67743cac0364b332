"""Frames in and out: source and sink URIs, video options, the live view, the legend drawn on overlays."""
