"""Chapter 14 (few steps): reflow, distilled, OT and shortcut models, the NFE widget, exercises."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import torch
from torch import Tensor

from fmtutor._validate import check_callable, check_points
from fmtutor.couplings import minibatch_ot_coupling
from fmtutor.course import cache
from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.i18n import tr
from fmtutor.course.plots import scatter
from fmtutor.course.widgets import LivePlot
from fmtutor.data import make_generator, two_moons
from fmtutor.fewstep import distill, reflow_pairs, train_on_pairs
from fmtutor.metrics import wasserstein2
from fmtutor.recipes import train_2d
from fmtutor.shortcut import ShortcutMLP, shortcut_targets, train_shortcut
from fmtutor.solvers import solve

__all__ = [
    "RECIPE",
    "OT_SETTINGS",
    "reflow_model",
    "distilled_model",
    "ot_model",
    "pool_ot_model",
    "SHORTCUT",
    "shortcut_model",
    "reference_pairs",
    "check_pairs",
    "reference_distill_loss",
    "check_distill_loss",
    "reference_shortcut_target",
    "check_shortcut_target",
    "nfe_widget",
]

#: The chapter's few-step recipe: pairs from chapter 5's model, reflow, then k-step distillation.
RECIPE: dict[str, Any] = {
    "pairs": 2048,
    "ode_steps": 50,
    "reflow_steps": 600,
    "distill_steps": 300,
    "batch_size": 256,
    "lr_reflow": 3e-3,
    "lr_distill": 1e-3,
    "seed": 10,
}
#: Chapter 7's OT training budget (1000 steps, batch 128, lr 1e-2), here on two moons: pairs fixed
#: once on the pool (pool_ot_model, the chapter's row) or re-paired at every batch (ot_model).
OT_SETTINGS: dict[str, Any] = {"steps": 1000, "batch_size": 128, "lr": 1e-2}
#: The shortcut model: chapter 5's weights, fresh noise against a pool of two-moons data, a quarter
#: of each batch on self-consistency with d = 2^-k, k < levels (fmtutor.shortcut.train_shortcut).
SHORTCUT: dict[str, Any] = {
    "pool": 20000,
    "steps": 2000,
    "batch_size": 256,
    "lr": 3e-3,
    "sc_fraction": 0.25,
    "levels": 7,
    "seed": 20,
}


def _config(what: str) -> dict[str, Any]:
    return {"chapter": 14, "model": what, "recipe": RECIPE, "plain": cache._moons_config()}


def _pairs(model: Callable[..., Tensor], seed: int) -> tuple[Tensor, Tensor]:
    x_0 = torch.randn(RECIPE["pairs"], 2, generator=make_generator(seed))
    return reflow_pairs(model, x_0, n_steps=RECIPE["ode_steps"])


def reflow_model(verbose: bool = True) -> cache.CachedModel:
    """Chapter 5's model, trained on its own pairs (x_0, psi_1(x_0)) (fmtutor.fewstep): cached."""

    def train() -> Any:
        plain = cache.moons_model(verbose=False).model
        x_0, z_1 = _pairs(plain, RECIPE["seed"])
        model = copy.deepcopy(plain)
        res = train_on_pairs(
            model, x_0, z_1, RECIPE["reflow_steps"], RECIPE["batch_size"], RECIPE["lr_reflow"]
        )
        return model, {"seconds": res.seconds, "losses": res.losses}

    return cache.cached("14_reflow.pt", train, _config("reflow"), verbose=verbose)


def distilled_model(n_steps: int, verbose: bool = True) -> cache.CachedModel:
    """The reflow model distilled so that n_steps Euler steps land on its own pairs: cached."""

    def train() -> Any:
        teacher = reflow_model(verbose=False).model
        x_0, z_1 = _pairs(teacher, RECIPE["seed"] + 1)
        model = copy.deepcopy(teacher)
        res = distill(
            model,
            x_0,
            z_1,
            n_steps,
            RECIPE["distill_steps"],
            RECIPE["batch_size"],
            RECIPE["lr_distill"],
        )
        return model, {"seconds": res.seconds, "losses": res.losses}

    cfg = {**_config("distilled"), "n_steps": n_steps}
    return cache.cached(f"14_distill_{n_steps}.pt", train, cfg, verbose=verbose)


def ot_model(verbose: bool = True) -> cache.CachedModel:
    """Chapter 7's minibatch OT (OT_SETTINGS, an assignment per batch) on two moons: cached.

    bench/fewstep.py trains it; the chapter's table shows pool_ot_model instead.
    """
    settings = {**OT_SETTINGS, "coupling": minibatch_ot_coupling}

    def train() -> Any:
        model, res = train_2d(two_moons, progress=False, **settings)
        return model, {"seconds": res.seconds, "losses": res.losses}

    cfg = cache.recipe_config(two_moons, seed=0, **settings)
    return cache.cached("14_moons_ot.pt", train, cfg, verbose=verbose)


def pool_ot_model(verbose: bool = True) -> cache.CachedModel:
    """train_2d(two_moons, coupling='ot', **OT_SETTINGS): chapter 7's pairs fixed once on the pool.

    Cached; extra['seconds'] is the whole call, the pool's pairing included.
    """
    settings = {**OT_SETTINGS, "coupling": "ot"}

    def train() -> Any:
        start = time.perf_counter()
        model, res = train_2d(two_moons, progress=False, **settings)
        return model, {"seconds": time.perf_counter() - start, "losses": res.losses}

    cfg = cache.recipe_config(two_moons, seed=0, **settings)
    return cache.cached("14_moons_pool_ot.pt", train, cfg, verbose=verbose)


def shortcut_model(verbose: bool = True) -> cache.CachedModel:
    """A shortcut model s(x, t, d) started from chapter 5's model (ShortcutMLP.from_mlp): cached."""

    def train() -> Any:
        model = ShortcutMLP.from_mlp(cache.moons_model(verbose=False).model)
        seed = SHORTCUT["seed"]
        x_1 = two_moons(SHORTCUT["pool"], seed=seed)
        x_0 = torch.randn(SHORTCUT["pool"], 2, generator=make_generator(seed + 1))
        keys = ("steps", "batch_size", "lr", "sc_fraction", "levels")
        res = train_shortcut(model, x_0, x_1, seed=seed + 2, **{k: SHORTCUT[k] for k in keys})
        return model, {"seconds": res.seconds, "losses": res.losses}

    cfg = {"chapter": 14, "model": "shortcut", "settings": SHORTCUT, "plain": cache._moons_config()}
    return cache.cached("14_shortcut.pt", train, cfg, verbose=verbose)


def reference_pairs(model: Callable[..., Tensor], x0: Tensor, n_steps: int) -> Tensor:
    """z_1 = psi_1(x0): n_steps Euler steps of h = 1/n from t = 0 (solvers.solve), (B, d)."""
    return solve(model, x0, method="euler", n_steps=n_steps).x


def _field(x: Tensor, t: Any) -> Tensor:  # a bent field: rotation whose speed grows with t
    t = torch.as_tensor(t, dtype=x.dtype)
    t = t.reshape(-1, 1) if t.ndim else t
    return torch.stack([-x[:, 1], x[:, 0]], 1) * (1 + 2 * t) + 0.5


def _euler(model: Callable[..., Tensor], x: Tensor, times: Tensor) -> Tensor:
    for a, b in zip(times[:-1], times[1:]):
        x = x + (b - a) * model(x, a)
    return x


def check_pairs(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check make_pairs(model, x0, n_steps) -> z_1 (B, d): Euler from t = 0 to 1."""
    g = torch.Generator().manual_seed(5)
    x0 = torch.randn(6, 2, generator=g, dtype=torch.float64)
    cases = [(_field, x0, 4), (_field, x0, 3)]
    mistakes = {
        tr("you integrated from t = 1 down to 0: the pairs start at the noise, t = 0."): (
            lambda m, x, n: _euler(m, x, torch.linspace(1, 0, n + 1, dtype=x.dtype))
        ),
        tr("that is one Euler step: take n_steps steps of h = 1 / n_steps."): (
            lambda m, x, n: x + m(x, torch.tensor(0.0, dtype=x.dtype))
        ),
        tr("the field gets the time t = k h, not the step number k."): lambda m, x, n: _euler(
            lambda y, t: m(y, t * n), x, torch.linspace(0, 1, n + 1, dtype=x.dtype)
        ),
        tr("return the end points z_1, not the displacement z_1 - x0."): (
            lambda m, x, n: reference_pairs(m, x, n) - x
        ),
    }
    return check_function(student, reference_pairs, cases, mistakes, verbose=verbose)


def reference_distill_loss(model: Callable[..., Tensor], x0: Tensor, x1: Tensor) -> Tensor:
    """L_1 = mean_i || x0_i + u(x0_i, 0) - x1_i ||^2 (sum over coordinates), a scalar.

    This is fmtutor.fewstep.distill_loss(model, x0, x1, n_steps=1).
    """
    t0 = torch.zeros(x0.shape[0], dtype=x0.dtype)
    return ((x0 + model(x0, t0) - x1) ** 2).sum(1).mean()


def check_distill_loss(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check distill_loss(model, x0, x1) -> scalar: one Euler step from x0 against x1."""
    g = torch.Generator().manual_seed(6)
    x0 = torch.randn(8, 2, generator=g, dtype=torch.float64)
    x1 = torch.randn(8, 2, generator=g, dtype=torch.float64) + 2.0
    z = torch.zeros(8, dtype=torch.float64)
    mistakes = {
        tr("the one step starts at t = 0: call the model at t = 0, not t = 1."): (
            lambda m, a, b: ((a + m(a, z + 1) - b) ** 2).sum(1).mean()
        ),
        tr("you compared the velocity with x1; one Euler step lands at x0 + u(x0, 0)."): (
            lambda m, a, b: ((m(a, z) - b) ** 2).sum(1).mean()
        ),
        tr(
            "sum the squares over the coordinates (||.||^2), then average over the batch: "
            "your loss is divided by d."
        ): lambda m, a, b: ((a + m(a, z) - b) ** 2).mean(),
        tr("square the distance: mean ||x0 + u - x1||^2, not mean ||x0 + u - x1||."): (
            lambda m, a, b: (a + m(a, z) - b).norm(dim=1).mean()
        ),
    }
    return check_function(
        student, reference_distill_loss, [(_field, x0, x1)], mistakes, verbose=verbose
    )


def reference_shortcut_target(
    model: Callable[..., Tensor], x: Tensor, t: Tensor, d: Tensor
) -> Tensor:
    """(s(x, t, h) + s(x + h s(x, t, h), t + h, h)) / 2 with h = d / 2, shape (B, dim).

    This is fmtutor.shortcut.shortcut_targets (its d_min does not bite for the steps here).
    """
    return shortcut_targets(model, x, t, d)


def _sfield(x: Tensor, t: Any, d: Any) -> Tensor:  # a made-up s(x, t, d) that depends on all three
    t, d = torch.as_tensor(t, dtype=x.dtype), torch.as_tensor(d, dtype=x.dtype)
    t, d = t.reshape(-1, 1), d.reshape(-1, 1)
    return torch.stack([-x[:, 1], x[:, 0]], 1) * (1 + 2 * t) - d * x + 0.3


def check_shortcut_target(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check shortcut_target(model, x, t, d) -> (B, dim): the average of two half steps."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(8, 2, generator=g, dtype=torch.float64)
    t = torch.rand(8, generator=g, dtype=torch.float64) * 0.5
    d = torch.tensor([0.5, 0.25] * 4, dtype=torch.float64)

    def wrong(first: Any, second: Any, avg: float = 0.5) -> Callable[..., Tensor]:
        def f(m: Any, x: Tensor, t: Tensor, d: Tensor) -> Tensor:
            h = d[:, None] / 2
            a = m(x, t, first(d))
            return avg * (a + m(x + h * a, second(t, d), first(d)))

        return f

    half, ahead = (lambda d: d / 2), (lambda t, d: t + d / 2)
    mistakes = {
        tr("the second half step starts at t + d/2, not at t."): wrong(half, lambda t, d: t),
        tr("the second half step starts at t + d/2: you moved the time by the whole d."): wrong(
            half, lambda t, d: t + d
        ),
        tr("ask the model for half steps: s(., ., d/2), not s(., ., d)."): wrong(
            lambda d: d, ahead
        ),
        tr("average the two half-step velocities ((a + b) / 2), do not add them."): wrong(
            half, ahead, 1.0
        ),
        tr("the intermediate point is x + (d/2) s(x, t, d/2): the step is d/2."): (
            lambda m, x, t, d: (
                (m(x, t, d / 2) + m(x + d[:, None] * m(x, t, d / 2), t + d / 2, d / 2)) / 2
            )
        ),
    }
    return check_function(
        student, reference_shortcut_target, [(_sfield, x, t, d)], mistakes, verbose=verbose
    )


def nfe_widget(
    models: "dict[str, Callable[..., Tensor]]", x0: Tensor, data: Tensor, floor: float
) -> Any:
    """A LivePlot: pick a number of Euler steps, see every model's samples and W2 / floor.

    Args:
        models: name -> velocity model(x, t) (at most 4, one panel each). x0: noise (B, 2).
        data: reference points (N, 2). floor: the W2 noise floor of B samples.

    Returns:
        fmtutor.course.widgets.LivePlot with control 'nfe' and a dict ``stats`` (nfe, ratios:
        name -> W2 / floor).
    """
    if not isinstance(models, dict) or not 1 <= len(models) <= 4:
        raise TypeError(f"models: expected a dict of 1 to 4 name -> model, got {models!r:.60}")
    _ = [check_callable(m, f"models[{k!r}]", "a velocity model(x, t)") for k, m in models.items()]
    x0, data = check_points(x0, "x0", dim=2), check_points(data, "data", dim=2)
    if not floor > 0:
        raise ValueError(f"floor: expected a positive W2 noise floor, got {floor!r}")
    stats: dict[str, Any] = {}
    options = [1, 2, 4, 8]
    # every model's samples and W2 at every step count, computed here: a change then costs the
    # drawing alone (the solves and the W2s took longer than a redraw should)
    solved: dict[int, dict[str, tuple[Tensor, float]]] = {}
    for nfe in options:
        solved[nfe] = {}
        for name, m in models.items():
            with torch.no_grad():
                x = solve(m, x0, method="euler", n_steps=nfe).x
            solved[nfe][name] = x, wasserstein2(x, data) / floor

    def draw(fig: Any, nfe: int) -> str:
        ratios = {}
        for ax, name in zip(fig.axes, models):
            x, ratios[name] = solved[nfe][name]
            scatter(data, ax=ax, color="0.8")
            scatter(x, ax=ax, s=4, title=tr("{name}: W2/floor {r:.2f}", name=name, r=ratios[name]))
        stats.update(nfe=nfe, ratios=ratios)
        if nfe == 1:
            return tr("{nfe} Euler step = {nfe} network evaluations", nfe=nfe)
        return tr("{nfe} Euler steps = {nfe} network evaluations", nfe=nfe)

    slider = W.SelectionSlider(options=options, value=1, description="NFE")
    live = LivePlot(
        draw,
        {"nfe": slider},
        figsize=(3.3 * len(models), 3.5),
        ncols=len(models),
        fixed_frame=True,
    )
    live.stats = stats
    return live
