"""fmtutor.course.ch04: the conditional-vs-marginal explorer and the conditional-velocity exercise."""

import re

import pytest
import torch

import fmtutor as fm
from fmtutor.course import ch04

PNG = b"\x89PNG"


def numbers(text):
    return [float(v) for v in re.findall(r"-?\d+\.\d+", text)]


def test_conditional_vs_marginal_recomputes_and_reports_speeds():
    data = fm.data.two_moons(100, seed=0)
    x1 = data[3]
    live = ch04.conditional_vs_marginal(data, x1, t=0.2, n_particles=50, seed=4)
    first = live.image.value
    assert bytes(first).startswith(PNG) and live.last_error is None
    g = fm.data.make_generator(4)
    x0 = torch.randn(50, 2, generator=g)
    cond_speed = (x1 - x0).norm(dim=1).mean().item()  # constant along each straight path
    x1m = data[torch.randint(0, 100, (50,), generator=g)]
    for t in (0.2, 0.7):
        live.controls["t"].value = t
        tt, sc, sm = numbers(live.text.value)
        xt = t * x1m + (1 - t) * x0
        assert abs(sc - cond_speed) < 0.006
        assert abs(sm - fm.exact.marginal_velocity(xt, t, data).norm(dim=1).mean().item()) < 0.006
    assert live.calls == 2 and live.image.value != first


def test_reference_is_the_package_conditional_velocity():
    g = torch.Generator().manual_seed(0)
    x, x1, t = (
        torch.randn(5, 2, generator=g),
        torch.randn(5, 2, generator=g),
        torch.rand(5, 1, generator=g),
    )
    assert torch.allclose(
        ch04.reference_conditional_velocity(x, x1, t), fm.paths.conditional_velocity(x, x1, t)
    )


# typical mistakes of the conditional velocity, each with words its hint must contain
TYPICAL = [
    ("sign flipped", lambda x, x1, t: (x - x1) / (1 - t), "sign"),
    ("time reversed", lambda x, x1, t: (x1 - x) / t, "backwards"),
    ("missing 1 - t", lambda x, x1, t: x1 - x, "(1 - t) is missing"),
    ("times instead of divided", lambda x, x1, t: (x1 - x) * (1 - t), "multiplied"),
    ("t of wrong shape", lambda x, x1, t: (x1 - x) / (1 - t.reshape(-1)), "shape"),
]


@pytest.mark.parametrize("label,wrong,words", TYPICAL, ids=[row[0] for row in TYPICAL])
def test_typical_conditional_velocity_mistakes_get_specific_hints(label, wrong, words):
    res = ch04.check_conditional_velocity(wrong, verbose=False)
    assert not res.passed, f"conditional_velocity: {label} passed"
    assert words.lower() in res.message.lower(), f"{label}: hint {res.message!r} lacks {words!r}"
