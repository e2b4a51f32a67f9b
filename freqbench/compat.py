"""The one place where freqbench deals with third-party packages' import-time quirks.

robustbench 1.1.1 imports ``autoattack`` (the GitHub package) while PyPI ships the same code
as ``pyautoattack``: freqbench installs a module ``autoattack`` that aliases it (see
``autoattack.py`` at the repository root), so ``import robustbench`` works. Only robustbench's
model zoo and loader are used here, never its ``eval.benchmark`` (written for the GitHub API).

Third-party warnings that say nothing to a freqbench user (a deprecation inside torch, a
setuptools notice inside robustbench) are filtered by :func:`quiet_third_party_warnings`,
matched by message and category only: the command line calls it unless ``--verbose``.
"""

from __future__ import annotations

import warnings

#: (message regex, category) of warnings raised while importing freqbench's dependencies.
THIRD_PARTY_NOISE = (
    # torch 2.9+ warns on every import of torchvision and timm, which use torch.jit.interface
    (r"`torch\.jit\.interface` is deprecated", FutureWarning),
    # robustbench.loaders imports pkg_resources (setuptools < 81 is pinned for it)
    (r"pkg_resources is deprecated as an API", UserWarning),
)


def quiet_third_party_warnings() -> None:
    """Ignore the warnings of :data:`THIRD_PARTY_NOISE` in this process."""
    for message, category in THIRD_PARTY_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)


def import_robustbench():
    """``robustbench.utils`` (its model zoo and ``load_model``)."""
    import robustbench.utils

    return robustbench.utils
