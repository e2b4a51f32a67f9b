"""Where a freqbench repository keeps things, relative to its root (the current folder)."""

ZOO_DIR = "model_zoo"  # model_zoo/<dataset>/<name>.toml, weights/, configs/, grid.toml
GRID_FILE = "grid.toml"
RECORDS_DIR = "leaderboards"  # leaderboards/<dataset>/<name>.json and the generated pages
SCRATCH_RECORDS_DIR = "runs/records"  # where `freqbench evaluate` writes by default
