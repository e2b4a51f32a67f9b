"""The built-in metrics: each module here declares one metric as ``SPEC`` (found by scanning)."""
