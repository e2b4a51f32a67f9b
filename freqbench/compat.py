"""The one place where freqbench patches a third-party package to import.

robustbench 1.1.1 imports ``autoattack`` (the GitHub package), but PyPI ships the same code
as ``pyautoattack``. Only robustbench's model zoo and loader are used here, never its
``eval.benchmark`` (whose ``autoattack`` calls use the old API), so an alias is enough.
"""

from __future__ import annotations

import sys


def import_robustbench():
    import pyautoattack
    import pyautoattack.state

    sys.modules.setdefault("autoattack", pyautoattack)
    sys.modules.setdefault("autoattack.state", pyautoattack.state)
    import robustbench.utils

    return robustbench.utils
