"""``autoattack`` for packages that import AutoAttack by its GitHub name: robustbench 1.1.1's
``robustbench.eval`` does (``import robustbench`` fails without it), while PyPI ships the same
code as ``pyautoattack``. freqbench installs this module beside itself; a real ``autoattack``
package, when installed, takes precedence (a package folder wins over a module of the same
name). freqbench itself calls ``pyautoattack``; robustbench's ``eval.benchmark``, written for
the GitHub API, is not used.
"""

import sys

import pyautoattack
import pyautoattack.state
from pyautoattack import *  # noqa: F403  (the package's public names, as the GitHub one has)
from pyautoattack import AutoAttack

sys.modules[f"{__name__}.state"] = pyautoattack.state

__all__ = ["AutoAttack"]
