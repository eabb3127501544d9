"""Makes `tests.*` helpers importable as modules of the test tree."""
