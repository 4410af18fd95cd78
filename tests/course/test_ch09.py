"""fmtutor.course.ch09: the schedule and SDE widgets and the exercises converting a velocity."""

import math

import pytest
import torch

import fmtutor as fm
from fmtutor.course import ch09
from fmtutor.data import eight_gaussians_mixture
from fmtutor.exact import MarginalField

GM = eight_gaussians_mixture()

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_schedule_widget_recomputes():
    x0, x1 = torch.randn(50, 2), GM.sample(50, seed=0)
    live = ch09.schedule_widget(x0, x1, t=0.0)
    rows0 = {n: (a, s) for n, a, s, _ in live.state["rows"]}
    assert rows0["condot"] == (0.0, 1.0) and rows0["cosine"][0] == 0.0
    live.controls["t"].value = 1.0
    rows1 = {n: (a, s) for n, a, s, _ in live.state["rows"]}
    assert rows1["condot"] == (1.0, 0.0) and rows1["vp"] == (1.0, 0.0)
    live.controls["t"].value = 0.5
    rows = {n: (a, s) for n, a, s, _ in live.state["rows"]}
    assert math.isclose(rows["cosine"][0], math.sqrt(0.5), rel_tol=1e-9)
    assert live.last_error is None and live.calls == 3 and "cosine" in live.text.value


def test_schedule_widget_shows_infinite_log_snr_at_the_ends():
    x0, x1 = torch.randn(20, 2), GM.sample(20, seed=0)
    live = ch09.schedule_widget(x0, x1, ("condot", "cosine", "vp"), t=0.0)
    snr = {n: ls for n, _, _, ls in live.state["rows"]}
    assert snr["condot"] == -math.inf and snr["cosine"] == -math.inf  # alpha_0 = 0
    vp0 = fm.paths.VPScheduler()(torch.tensor(0.0, dtype=torch.float64))
    assert math.isclose(snr["vp"], 2 * math.log(float(vp0.alpha_t) / float(vp0.sigma_t)))
    assert "−∞" in live.text.value and "23.03" not in live.text.value
    live.controls["t"].value = 1.0  # sigma_1 = 0 (cos(pi/2) is 6e-17 in floating point)
    assert all(ls == math.inf for _, _, _, ls in live.state["rows"])
    assert live.text.value.count("+∞") == 3 and "23.03" not in live.text.value
    live.controls["t"].value = 0.3  # inside, the value of fm.schedules.log_snr
    for name, _, _, ls in live.state["rows"]:
        want = float(fm.schedules.log_snr(torch.tensor(0.3, dtype=torch.float64), name))
        assert math.isclose(ls, want, rel_tol=1e-9), name
        assert f"{want:.2f}" in live.text.value


def test_sde_widget_recomputes():
    live = ch09.sde_widget(MarginalField(GM), GM.sample, n=150, n_steps=20)
    w2_ode, x_ode = live.state["w2"], live.state["x"]
    live.controls["gamma"].value = 2.0
    assert live.last_error is None
    assert not torch.allclose(live.state["x"], x_ode)
    assert live.state["w2"] < 1.0 and w2_ode < 1.0
    assert f"{live.state['w2']:.3f}" in live.text.value


def test_exercise_checks_x1_and_score():
    for check, ref in [
        (ch09.check_x1_from_velocity, ch09.reference_x1_from_velocity),
        (ch09.check_score_from_velocity, ch09.reference_score_from_velocity),
    ]:
        assert check(ref, verbose=False).passed

    def todo(v, x, t):
        raise NotImplementedError

    assert ch09.check_x1_from_velocity(todo, verbose=False).status == "todo"
    hints = {
        "backwards": lambda v, x, t: x + t * v,
        "sign": lambda v, x, t: x - (1 - t) * v,
        "displacement": lambda v, x, t: (1 - t) * v,
        "missing": lambda v, x, t: x + v,
        "noise prediction": lambda v, x, t: x - t * v,
    }
    for word, wrong in hints.items():
        res = ch09.check_x1_from_velocity(wrong, verbose=False)
        assert res.status == "mistake" and word in res.message, (word, res.message)
    hints = {
        "sign": lambda v, x, t: (x - t * v) / (1 - t),
        "forgot to divide": lambda v, x, t: t * v - x,
        "variance": lambda v, x, t: (t * v - x) / (1 - t) ** 2,
        "data prediction": lambda v, x, t: -(x + (1 - t) * v) / (1 - t),
        "not t": lambda v, x, t: (t * v - x) / t,
    }
    for word, wrong in hints.items():
        res = ch09.check_score_from_velocity(wrong, verbose=False)
        assert res.status == "mistake" and word in res.message, (word, res.message)
    # the reference agrees with fm.paths.convert
    v, x, t = torch.randn(4, 2), torch.randn(4, 2), torch.tensor([[0.2], [0.4], [0.6], [0.8]])
    assert torch.allclose(
        ch09.reference_x1_from_velocity(v, x, t),
        fm.paths.convert(v, x, t, "velocity", "x1"),
        atol=1e-6,
    )
    assert torch.allclose(
        ch09.reference_score_from_velocity(v, x, t),
        fm.paths.convert(v, x, t, "velocity", "score"),
        atol=1e-5,
    )


# typical mistakes of the two conversions, each with words its hint must contain
TYPICAL = [
    ("x1_from_velocity", "time reversed", lambda v, x, t: x + t * v, "backwards"),
    ("x1_from_velocity", "sign flipped", lambda v, x, t: x - (1 - t) * v, "sign"),
    ("x1_from_velocity", "missing 1 - t", lambda v, x, t: x + v, "(1 - t) is missing"),
    ("score_from_velocity", "sign flipped", lambda v, x, t: (x - t * v) / (1 - t), "sign"),
    ("score_from_velocity", "no division", lambda v, x, t: t * v - x, "divide"),
    ("score_from_velocity", "sigma = t", lambda v, x, t: (t * v - x) / t, "not t"),
]


@pytest.mark.parametrize("name,label,wrong,words", TYPICAL, ids=[f"{r[0]}-{r[1]}" for r in TYPICAL])
def test_typical_conversion_mistakes_get_specific_hints(name, label, wrong, words):
    res = getattr(ch09, f"check_{name}")(wrong, verbose=False)
    assert not res.passed, f"{name}: {label} passed"
    assert words.lower() in res.message.lower(), (
        f"{name}/{label}: hint {res.message!r} lacks {words!r}"
    )
