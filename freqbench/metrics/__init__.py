"""Metrics: pure functions of a model and data that return plain numbers (and arrays for plots)."""
