"""freqbench: RobustBench-style evaluation of image classifiers, seen through the frequency domain."""

__version__ = "0.1.0"
