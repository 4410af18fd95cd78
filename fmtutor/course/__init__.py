"""The course around the math: live figures, plots, exercises, the model cache, a module a chapter.

A chapter's first code cell imports what it uses and calls ``setup()`` once::

    import fmtutor as fm
    from fmtutor.course import ch05, setup
    setup()

Nothing here is needed to use the math in ``fmtutor``; this layer imports matplotlib and ipywidgets.
"""

from __future__ import annotations

__all__ = ["Setup", "setup", "tr", "cache_dir", "cjk_font", "CACHE_ENV", "CJK_FONTS"]

import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from cycler import cycler

from fmtutor.course.i18n import set_language, tr
from fmtutor.course.plots import OKABE_ITO
from fmtutor.device import default_device

try:
    from IPython import get_ipython
except ImportError:  # plain Python without IPython: figures go wherever MPLBACKEND says
    get_ipython = None

#: The environment variable naming the folder of the chapters' model cache (default ``.cache``).
CACHE_ENV = "FMTUTOR_CACHE"

#: Fonts with Chinese glyphs for figures, best first (Debian: ``apt install fonts-wqy-microhei``).
CJK_FONTS = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
    "Heiti SC",
    "Arial Unicode MS",
)


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
    """The chapters' model cache folder: ``$FMTUTOR_CACHE``, or ``.cache`` beside the notebook.

    A translated chapter (run in ``notebooks/zh/``) shares the English chapters' ``../.cache``: the
    same code trains the same models, so both editions load one set of files.
    """
    if CACHE_ENV in os.environ:
        return Path(os.environ[CACHE_ENV])
    here = Path.cwd()
    if here.name in ("zh",) and here.parent.name == "notebooks":
        return Path("..") / ".cache"
    return Path(".cache")


def cjk_font() -> str | None:
    """The first installed font of ``CJK_FONTS`` (it has Chinese glyphs), or None if none is."""
    from matplotlib import font_manager

    def first() -> str | None:
        installed = {f.name for f in font_manager.fontManager.ttflist}
        return next((name for name in CJK_FONTS if name in installed), None)

    found = first()
    if found is None:  # installed after matplotlib cached its font list: look at the system's fonts
        for path in font_manager.findSystemFonts():
            if any(k in Path(path).name.lower() for k in ("wqy", "cjk", "sourcehan", "notosanssc")):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError):  # a font file matplotlib cannot read
                    continue
        found = first()
    return found


def setup(
    seed: int = 0,
    threads: int = 1,
    device: str = "cpu",
    dpi: int = 80,
    verbose: bool = True,
    lang: str = "en",
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
        lang: the language of the course's messages, labels and figure text: 'en' or 'zh'. For 'zh',
            figures fall back to a font with Chinese glyphs (``cjk_font``); without one, a warning
            says what to install.

    Returns:
        The Setup that was applied.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads: expected a positive int, got {threads!r}")
    if device not in ("cpu", "cuda", "mps", "auto"):
        raise ValueError(f"device: expected 'cpu', 'cuda', 'mps' or 'auto', got {device!r}")
    set_language(lang)  # checks lang before anything changes
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
    if lang == "zh":
        font = cjk_font()
        if font is None:
            import warnings

            warnings.warn(
                "no font with Chinese glyphs found: figures will show boxes for Chinese text. "
                "Install one (Debian/Ubuntu: apt install fonts-wqy-microhei; see the README), "
                "then restart the kernel.",
                stacklevel=2,
            )
        else:  # the CJK font first: a label with $math$ draws its text in the first font only
            plt.rcParams["font.family"] = [font, "DejaVu Sans"]
    else:
        plt.rcParams["font.family"] = plt.rcParamsDefault["font.family"]
    chosen = Setup(seed, torch.get_num_threads(), str(default_device()), cache_dir())
    if verbose:
        print(
            tr(
                "fmtutor setup: seed {seed}, {threads} CPU thread(s), device {device}, "
                "model cache {cache}/",
                seed=seed,
                threads=chosen.threads,
                device=chosen.device,
                cache=chosen.cache,
            )
        )
    return chosen
