"""The course around the math: live figures, plots, exercises, the model cache, a module a chapter.

A chapter's first code cell imports what it uses and calls ``setup()`` once::

    import fmtutor as fm
    from fmtutor.course import ch05, setup
    setup()

Nothing here is needed to use the math in ``fmtutor``; this layer imports matplotlib and ipywidgets.
"""

from __future__ import annotations

__all__ = ["Setup", "setup", "cache_dir", "CACHE_ENV"]

import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from cycler import cycler

from fmtutor.course.plots import OKABE_ITO
from fmtutor.device import default_device

try:
    from IPython import get_ipython
except ImportError:  # plain Python without IPython: figures go wherever MPLBACKEND says
    get_ipython = None

#: The environment variable naming the folder of the chapters' model cache (default ``.cache``).
CACHE_ENV = "FMTUTOR_CACHE"


@dataclass(frozen=True)
class Setup:
    """What ``setup`` chose: the seed, torch's CPU threads, the device, the cache folder."""

    seed: int
    threads: int
    device: str
    cache: Path

    def _ipython_display_(self) -> None:
        """Show nothing when a notebook cell ends with ``setup()``: its printed line says it all."""


def cache_dir() -> Path:
    """The chapters' model cache folder: ``$FMTUTOR_CACHE``, or ``.cache`` beside the notebook."""
    return Path(os.environ.get(CACHE_ENV, ".cache"))


def setup(
    seed: int = 0, threads: int = 1, device: str = "cpu", dpi: int = 80, verbose: bool = True
) -> Setup:
    """Prepare a chapter: seed torch, pin CPU threads, choose the device, inline figures at ``dpi``.

    The course's 2-D networks are tiny: every operation is so small that one CPU thread is fastest,
    and a GPU only adds transfer time (bench/RESULTS.md), so the chapters run on the CPU by default.
    ``device`` sets ``FMTUTOR_DEVICE``, which ``fmtutor.default_device()`` reads.

    Args:
        seed: the global torch seed (each random draw in the course also takes its own seed).
        threads: torch's CPU threads.
        device: 'cpu', 'cuda', 'mps' or 'auto' (the best available).
        dpi: resolution of inline figures.
        verbose: print one line saying what was set.

    Returns:
        The Setup that was applied.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads: expected a positive int, got {threads!r}")
    if device not in ("cpu", "cuda", "mps", "auto"):
        raise ValueError(f"device: expected 'cpu', 'cuda', 'mps' or 'auto', got {device!r}")
    if device == "auto":
        os.environ.pop("FMTUTOR_DEVICE", None)
    else:
        os.environ["FMTUTOR_DEVICE"] = device
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    shell = get_ipython() if get_ipython is not None else None
    if shell is not None:  # in plain Python, figures go wherever MPLBACKEND says
        try:
            shell.run_line_magic("matplotlib", "inline")
        except (ImportError, NotImplementedError):  # no inline backend: as in plain Python
            pass
    plt.rcParams["figure.dpi"] = dpi
    plt.rcParams["axes.prop_cycle"] = cycler(color=list(OKABE_ITO.values()))  # colour-blind safe
    chosen = Setup(seed, torch.get_num_threads(), str(default_device()), cache_dir())
    if verbose:
        print(
            f"fmtutor setup: seed {seed}, {chosen.threads} CPU thread(s), device {chosen.device}, "
            f"model cache {chosen.cache}/"
        )
    return chosen
