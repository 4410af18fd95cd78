"""fmtutor.course.ch06: the explorers (steps, equal cost), the samplers, the midpoint-step exercise."""

import math
import re
import sys

import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba

import fmtutor as fm
from fmtutor.course import ch06

_live = sys.modules["fmtutor_tests_live"]  # tests/_live.py, loaded by conftest.py
_pixels, _fresh_picture = _live.pixels, _live.fresh_picture


def numbers(text):
    return [float(v) for v in re.findall(r"-?\d+\.\d+", text)]


def test_steps_explorer_reintegrates_on_slider_change():
    calls = []

    def field(x, t):
        calls.append(float(t))
        return -x

    x0 = torch.randn(60, 2, generator=fm.data.make_generator(0))
    ref = fm.data.two_moons(60, seed=1)
    ex = ch06.steps_explorer(field, x0, ref, n_steps=2, max_steps=8)
    assert len(calls) == 2 * (1 + 2 + 4) and ex.last_error is None
    before = ex.image.value
    ex.controls["n_steps"].value = 5
    assert len(calls) == 14 + 5 * (1 + 2 + 4)
    assert ex.image.value != before
    w2 = numbers(ex.text.value.split("rk4")[1])[-1]
    want = fm.metrics.wasserstein2(fm.solvers.solve(lambda x, t: -x, x0, "rk4", n_steps=5).x, ref)
    assert abs(w2 - want) < 1e-3
    assert "rk4: NFE 20" in ex.text.value


def test_sample_methods_integrate_the_same_noise_with_each_solver():
    x0 = torch.randn(8, 2, generator=fm.data.make_generator(0), dtype=torch.float64)
    sols = ch06.sample_methods(lambda x, t: -x, x0, 4, methods=("euler", "rk4"))
    assert list(sols) == ["euler", "rk4"] and sols["rk4"].nfe == 16
    assert torch.allclose(sols["euler"].x, 0.75**4 * x0)  # Euler on x' = -x: (1 - h)^n
    assert torch.allclose(sols["rk4"].x, torch.exp(torch.tensor(-1.0)).double() * x0, atol=1e-4)
    assert all(torch.equal(s.trajectory[0], x0) for s in sols.values())


# typical mistakes of the midpoint step, each with words its hint must contain
TYPICAL = [
    ("euler", lambda u, x, t, h: x + h * u(x, t), "Euler"),
    ("midpoint time", lambda u, x, t, h: x + h * u(x + 0.5 * h * u(x, t), t), "t + h/2"),
]


@pytest.mark.parametrize("label,wrong,words", TYPICAL, ids=[row[0] for row in TYPICAL])
def test_typical_midpoint_step_mistakes_get_specific_hints(label, wrong, words):
    res = ch06.check_midpoint_step(wrong, verbose=False)
    assert not res.passed, f"midpoint_step: {label} passed"
    assert words.lower() in res.message.lower(), f"{label}: hint {res.message!r} lacks {words!r}"


# ---------------------------------------------------------------- solvers at equal cost


def _segments(ax, color):
    """The polylines of the LineCollection drawn in ``color`` on ``ax``, as an array (B, T + 1, 2)."""
    want = to_rgba(color)
    found = [
        c
        for c in ax.collections
        if isinstance(c, LineCollection) and tuple(c.get_colors()[0]) == want
    ]
    assert len(found) == 1, f"expected one LineCollection in {color} on {ax.get_title()!r}"
    return np.stack(found[0].get_segments())


def test_nfe_per_step_counts_the_solvers_evaluations():
    assert {m: ch06.nfe_per_step(m) for m in ("euler", "midpoint", "heun", "rk4")} == {
        "euler": 1,
        "midpoint": 2,
        "heun": 2,
        "rk4": 4,
    }


def test_equal_cost_paths_spend_the_same_budget_and_match_the_closed_form():
    x0 = torch.randn(6, 2, generator=fm.data.make_generator(0), dtype=torch.float64)
    sols = ch06.equal_cost_paths(lambda x, t: -x, x0, 8)
    assert {m: s.nfe for m, s in sols.items()} == {"euler": 8, "midpoint": 8, "rk4": 8}
    assert [len(s.trajectory) - 1 for s in sols.values()] == [8, 4, 2]
    # x' = -x, h = 1/n: Euler multiplies by (1 - h), midpoint by 1 - h + h^2/2 per step
    assert torch.allclose(sols["euler"].x, (1 - 1 / 8) ** 8 * x0)
    assert torch.allclose(sols["midpoint"].x, (1 - 1 / 4 + 1 / 32) ** 4 * x0)
    with pytest.raises(ValueError, match="nfe"):
        ch06.equal_cost_paths(lambda x, t: -x, x0, 6)  # 6 is not a whole number of RK4 steps


def test_nfe_explorer_draws_fresh_solves_at_the_slider_value():
    calls = []

    def field(x, t):
        calls.append(float(t))
        return torch.stack([-x[:, 1], x[:, 0]], 1) - 0.5 * x * t  # a spiral, time-dependent

    x0 = torch.randn(12, 2, generator=fm.data.make_generator(1))
    live = ch06.nfe_explorer(field, x0, nfe=8, max_nfe=24, reference_steps=100, xlim=(-3, 3),
                             ylim=(-3, 3))  # fmt: skip
    assert live.last_error is None and len(calls) == 400 + 3 * 8  # the reference, then one draw
    for value in (12, 4, 12):  # back to 12: solved again, not replayed
        before = len(calls)
        live.controls["nfe"].value = value
        assert len(calls) - before == 3 * value
        for ax, m in zip(live.fig.axes, ("euler", "midpoint", "rk4")):
            fresh = fm.solvers.solve(field, x0, m, n_steps=value // ch06.nfe_per_step(m),
                                     return_trajectory=True)  # fmt: skip
            drawn = _segments(ax, ch06.COLORS[m])
            assert np.allclose(drawn, fresh.trajectory.numpy().transpose(1, 0, 2), atol=1e-6)
            exact = fm.solvers.solve(field, x0, "rk4", n_steps=100).x
            assert np.allclose(_segments(ax, "black")[:, -1], exact.numpy(), atol=1e-6)
            err = (fresh.x - exact).norm(dim=1).mean().item()
            assert live.state["errors"][m] == pytest.approx(err, rel=1e-5)
            note = " ".join(t.get_text() for t in ax.texts)
            assert ax.get_title() == m and f"{value} NFE" in note and f"{err:.3g}" in note
        assert live.state["nfe"] == value and f"{value} evaluations each" in live.text.value


def test_nfe_explorer_errors_are_the_solvers_errors_on_a_linear_field():
    x0 = torch.randn(20, 2, generator=fm.data.make_generator(2), dtype=torch.float64)
    live = ch06.nfe_explorer(lambda x, t: -x, x0, nfe=8, xlim=(-3, 3), ylim=(-3, 3))
    mean_norm = x0.norm(dim=1).mean().item()
    e = np.exp(-1.0)  # the exact flow of x' = -x at t = 1
    want = {
        "euler": abs((1 - 1 / 8) ** 8 - e),
        "midpoint": abs((1 - 1 / 4 + 1 / 32) ** 4 - e),
        "rk4": abs(sum((-0.5) ** k / math.factorial(k) for k in range(5)) ** 2 - e),
    }
    for m, w in want.items():
        assert live.state["errors"][m] == pytest.approx(w * mean_norm, rel=1e-6, abs=1e-12)
    assert want["rk4"] < want["midpoint"] < want["euler"]


def test_nfe_explorer_refuses_budgets_that_do_not_fit():
    x0 = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="nfe"):
        ch06.nfe_explorer(lambda x, t: -x, x0, nfe=6)
    with pytest.raises(ValueError, match="max_nfe"):
        ch06.nfe_explorer(lambda x, t: -x, x0, nfe=8, max_nfe=30)
    with pytest.raises(ValueError, match="nfe"):
        ch06.nfe_explorer(lambda x, t: -x, x0, nfe=40, max_nfe=32)
    with pytest.raises(ValueError, match="x0"):
        ch06.nfe_explorer(lambda x, t: -x, torch.zeros(3, 3))


def test_nfe_explorer_slider_recomputes_across_a_sweep_and_back():
    """Dragging the NFE slider over its whole range, a jump from its top to its bottom and back to
    a budget seen before: every panel draws a new solve at that budget (its paths and ends), and
    the picture shown is the one those artists make (a new LivePlot's at the same value)."""

    def field(x, t):
        return torch.stack([-x[:, 1], x[:, 0]], 1) * (1 + t) - 0.3 * x  # time-dependent spiral

    x0 = torch.randn(10, 2, generator=fm.data.make_generator(4))
    live = ch06.nfe_explorer(field, x0, nfe=8, max_nfe=24, reference_steps=50, xlim=(-3, 3),
                             ylim=(-3, 3))  # fmt: skip
    shown = _pixels(live.image.value)
    for value in (12, 16, 20, 24, 4, 16):  # a drag up to the top, a jump to 4, back to 16
        live.controls["nfe"].value = value
        assert live.last_error is None, live.last_error
        for ax, m in zip(live.fig.axes, ("euler", "midpoint", "rk4")):
            k = value // ch06.nfe_per_step(m)
            fresh = fm.solvers.solve(field, x0, m, n_steps=k, return_trajectory=True)
            drawn = _segments(ax, ch06.COLORS[m])
            assert drawn.shape == (10, k + 1, 2), (value, m)
            assert np.allclose(drawn, fresh.trajectory.numpy().transpose(1, 0, 2), atol=1e-6)
            assert live.state["solutions"][m].nfe == value
        now = _pixels(live.image.value)
        assert not np.array_equal(now, shown), f"NFE {value}: the picture did not change"
        assert np.array_equal(now, _fresh_picture(live)), f"NFE {value}: not the drawing"
        shown = now
