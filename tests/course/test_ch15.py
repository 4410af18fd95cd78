"""fmtutor.course.ch15: the hand-written diffusers field, the two exercises, the clocks widget."""

import pytest
import torch

import fmtutor as fm
from fmtutor.course import ch15


def test_diffusers_field_is_minus_the_exact_course_field():
    gmm = fm.data.GaussianMixture(ch15._M[None], ch15._S)
    exact = fm.exact.MarginalField(gmm)
    x = torch.randn(10, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for t in (0.1, 0.5, 0.95):
        assert torch.allclose(ch15.diffusers_field(x, 1000 * (1 - t)), -exact(x, t), atol=1e-10)


def test_exercise_course_velocity():
    assert ch15.check_course_velocity(ch15.reference_course_velocity, verbose=False)
    ok = lambda f, x, t: -f(x, 1000.0 * (1.0 - t))  # noqa: E731
    assert ch15.check_course_velocity(ok, verbose=False)
    cases = {
        "the sign": lambda f, x, t: f(x, 1000 * (1 - t)),
        "other way": lambda f, x, t: -f(x, 1000 * t),
        "the scale": lambda f, x, t: -f(x, 1 - t),
        "two slips": lambda f, x, t: f(x, 1000 * t),
    }
    for key, wrong in cases.items():
        res = ch15.check_course_velocity(wrong, verbose=False)
        assert not res and key in res.message, (key, res.message)


def test_exercise_course_loop():
    assert ch15.check_course_loop(ch15.reference_course_loop, verbose=False)

    def by_hand(u, x, sigmas):
        for s0, s1 in zip(sigmas[:-1], sigmas[1:]):
            x = x + (s0 - s1) * u(x, 1 - s0)
        return x

    assert ch15.check_course_loop(by_hand, verbose=False)
    cases = {
        "as course times": lambda u, x, s: ch15._euler(u, x, s),
        "negative": lambda u, x, s: ch15._euler(lambda y, t: -u(y, t), x, 1 - s),
        "start of each step": lambda u, x, s: ch15._euler(u, x, 1 - s, at_end=True),
    }
    for key, wrong in cases.items():
        res = ch15.check_course_loop(wrong, verbose=False)
        assert not res and key in res.message, (key, res.message)


def test_clocks_widget_agrees_both_ways_and_recomputes():
    torch.manual_seed(0)
    net = fm.models.MLP(dim=2, hidden=16, depth=2).eval()
    x0 = torch.randn(100, 2, generator=torch.Generator().manual_seed(1))
    data = fm.data.two_moons(100, seed=2)
    live = ch15.clocks_widget(net, x0, data)
    assert live.stats["max_difference"] < 1e-6 and live.last_error is None
    w2 = live.stats["w2"]
    live.controls["shift"].value = 3.0
    assert live.stats["shift"] == 3.0 and live.stats["w2"] != w2 and live.calls == 2
    with torch.no_grad():
        want = fm.solvers.solve(
            net, x0, method="euler", time_grid=1 - fm.conventions.shift_sigmas(4, 3.0)
        ).x
    assert live.stats["w2"] == pytest.approx(fm.metrics.wasserstein2(want, data), rel=1e-5)
    with pytest.raises(TypeError, match="model"):
        ch15.clocks_widget(3, x0, data)
