"""torch -> ONNX bundles with a numeric parity gate (needs the [export] extra)."""
