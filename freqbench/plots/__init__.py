"""Figures for reports and leaderboards. Matplotlib runs headless (Agg) everywhere."""

import matplotlib

matplotlib.use("Agg")
