"""fmtutor.views: the chapter 4-6 widgets recompute when their control moves, and report true numbers."""

import re

import numpy as np
import torch

import fmtutor as F
from fmtutor import views as V

PNG = b"\x89PNG"


def numbers(text):
    return [float(v) for v in re.findall(r"-?\d+\.\d+", text)]


def test_conditional_vs_marginal_recomputes_and_reports_speeds():
    data = F.data.two_moons(100, seed=0)
    x1 = data[3]
    live = V.conditional_vs_marginal(data, x1, t=0.2, n_particles=50, seed=4)
    first = live.image.value
    assert bytes(first).startswith(PNG) and live.last_error is None
    g = F.data.make_generator(4)
    x0 = torch.randn(50, 2, generator=g)
    cond_speed = (x1 - x0).norm(dim=1).mean().item()  # constant along each straight path
    x1m = data[torch.randint(0, 100, (50,), generator=g)]
    for t in (0.2, 0.7):
        live.controls["t"].value = t
        tt, sc, sm = numbers(live.text.value)
        xt = t * x1m + (1 - t) * x0
        assert abs(sc - cond_speed) < 0.006
        assert abs(sm - F.exact.marginal_velocity(xt, t, data).norm(dim=1).mean().item()) < 0.006
    assert live.calls == 2 and live.image.value != first


def test_loss_curve_renders_every_n_steps_and_smooths():
    curve = V.LossCurve(total_steps=1001, floor=1.0, every=250, window=10)
    rng = np.random.default_rng(0)
    losses = 1.0 + np.exp(-np.arange(1001) / 100) + 0.1 * rng.random(1001)
    for i, loss in enumerate(losses):
        curve(i, loss)
    assert curve.renders == 5  # steps 250, 500, 750, 1000 and the last one
    assert bytes(curve.image.value).startswith(PNG)
    want = np.convolve(losses, np.ones(10) / 10, mode="valid")
    assert np.allclose(curve.smoothed()[9:], want)
    assert np.isclose(curve.smoothed()[0], losses[0])
    gap = numbers(curve.text.value)[-1]
    assert abs(gap - (want[-1] - 1.0)) < 1e-3


def test_field_comparison_measures_the_relative_error():
    target = F.data.two_moons(200, seed=0)
    exact = F.exact.MarginalField(target)
    assert V.field_error(exact, target, 0.5, torch.randn(50, 2)) == 0.0
    zero = V.field_comparison(lambda x, t: torch.zeros_like(x), target, t=0.5, n_particles=100)
    assert numbers(zero.text.value)[-1] == 1.0  # |0 - u|^2 / |u|^2
    before = zero.image.value
    zero.controls["t"].value = 0.9
    assert zero.image.value != before and "t = 0.90" in zero.text.value
    half = V.field_error(lambda x, t: 0.5 * exact(x, t), target, 0.3, torch.randn(50, 2))
    assert abs(half - 0.25) < 1e-6


def test_steps_explorer_reintegrates_on_slider_change():
    calls = []

    def field(x, t):
        calls.append(float(t))
        return -x

    x0 = torch.randn(60, 2, generator=F.data.make_generator(0))
    ref = F.data.two_moons(60, seed=1)
    ex = V.steps_explorer(field, x0, ref, n_steps=2, max_steps=8)
    assert len(calls) == 2 * (1 + 2 + 4) and ex.last_error is None
    before = ex.image.value
    ex.controls["n_steps"].value = 5
    assert len(calls) == 14 + 5 * (1 + 2 + 4)
    assert ex.image.value != before
    w2 = numbers(ex.text.value.split("rk4")[1])[-1]
    want = F.metrics.wasserstein2(F.solvers.solve(lambda x, t: -x, x0, "rk4", n_steps=5).x, ref)
    assert abs(w2 - want) < 1e-3
    assert "rk4: NFE 20" in ex.text.value
