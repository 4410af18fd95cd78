"""Issue 16: chapter 14's few-step table, W2 / floor at 1, 2, 4 and 8 NFE, every model trained here.

Six models, each trained in this process with chapter 14's own functions (``fmtutor.course.ch14``,
which call ``fmtutor.fewstep`` and ``fmtutor.shortcut``) into an empty temporary model cache, so
nothing is loaded: chapter 5's plain model, chapter 7's minibatch-OT recipe, reflow, reflow
distilled to 1 and to 2 Euler steps, and the shortcut model. Each training call is timed on its
own (wall and this process's CPU seconds; the pairs' ODE solve counts towards reflow and
distillation). Then every model samples 2,000 points per reference set from the same seeded noise
with k network evaluations (Euler for the velocity models, the shortcut model's own k steps of
d = 1/k), and W2 to each reference set is averaged and divided by the i.i.d. noise floor.
"""

__all__ = ["NFES", "MODELS", "run_fewstep"]

import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import fmtutor as fm

from .common import N_EVAL, Clock

#: The numbers of network evaluations of the table.
NFES = (1, 2, 4, 8)
#: The rows, in the order they are trained.
MODELS = ("plain", "minibatch OT", "reflow", "distilled, 1", "distilled, 2", "shortcut")


def _euler(model: Any) -> Callable[[torch.Tensor, int], torch.Tensor]:
    return lambda x0, k: fm.solvers.solve(model, x0, method="euler", n_steps=k).x


def _train_all(log: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    from fmtutor.course import cache, ch14

    makers = {
        "plain": lambda: cache.moons_model(verbose=False),
        "minibatch OT": lambda: ch14.ot_model(verbose=False),
        "reflow": lambda: ch14.reflow_model(verbose=False),
        "distilled, 1": lambda: ch14.distilled_model(1, verbose=False),
        "distilled, 2": lambda: ch14.distilled_model(2, verbose=False),
        "shortcut": lambda: ch14.shortcut_model(verbose=False),
    }
    samplers, times = {}, {}
    for name in MODELS:
        with Clock() as clock:
            got = makers[name]()
        if got.status != "trained":
            raise RuntimeError(f"{name}: expected a fresh training run, got {got.status}")
        m = got.model
        samplers[name] = (
            (lambda x0, k, m=m: fm.shortcut.shortcut_sample(m, x0, k))
            if name == "shortcut"
            else _euler(m)
        )
        times[name] = {"wall_s": clock.wall_s, "cpu_s": clock.cpu_s}
        log(f"  {name}: trained in {clock.wall_s:.1f} s wall, {clock.cpu_s:.1f} s CPU")
    return samplers, times


def run_fewstep(
    refs: list[torch.Tensor], floor: float, n_sets: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Train the six models side by side, then W2 / floor per model and NFE (n_sets reference sets).

    Returns:
        {"nfes", "models", "n_sets", "floor", "train": name -> {wall_s, cpu_s},
         "w2": name -> [mean W2 per NFE], "ratio": name -> [W2 / floor per NFE]}.
    """
    old = os.environ.get("FMTUTOR_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FMTUTOR_CACHE"] = tmp
        try:
            samplers, times = _train_all(log)
        finally:
            if old is None:
                os.environ.pop("FMTUTOR_CACHE", None)
            else:
                os.environ["FMTUTOR_CACHE"] = old
    sets = refs[:n_sets]
    w2: dict[str, list[float]] = {}
    with torch.no_grad():
        for name in MODELS:
            per_k = []
            for k in NFES:
                vals = []
                for r, ref in enumerate(sets):
                    x0 = torch.randn(N_EVAL, 2, generator=fm.data.make_generator(70_000 + r))
                    vals.append(fm.metrics.wasserstein2(samplers[name](x0, k), ref))
                per_k.append(float(np.mean(vals)))
            w2[name] = per_k
            log(f"  {name}: W2 / floor " + " ".join(f"{v / floor:.2f}" for v in per_k))
    return {
        "nfes": list(NFES),
        "models": list(MODELS),
        "n_sets": len(sets),
        "floor": floor,
        "train": times,
        "w2": w2,
        "ratio": {k: [v / floor for v in vs] for k, vs in w2.items()},
    }
