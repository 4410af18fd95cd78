"""fmtutor.course.ch06: the steps explorer, the samplers side by side and the midpoint-step exercise."""

import re

import pytest
import torch

import fmtutor as fm
from fmtutor.course import ch06


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
