"""Command-line interface: one module per verb, dispatched by ``edgeseg.cli.main``."""
