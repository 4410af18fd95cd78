"""fmtutor.course.ch05: the live loss curve, the field comparison and the CFM-loss exercise."""

import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

import fmtutor as fm
from fmtutor.course import ch05

PNG = b"\x89PNG"


def numbers(text):
    return [float(v) for v in re.findall(r"-?\d+\.\d+", text)]


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_loss_curve_renders_every_n_steps_and_smooths():
    curve = ch05.LossCurve(total_steps=1001, floor=1.0, every=250, window=10)
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


def test_loss_curve_redraw_equals_fresh_curve() -> None:
    rng = np.random.default_rng(0)
    losses = 2 + np.exp(-np.arange(600) / 100) + 0.05 * rng.standard_normal(600)
    curve = ch05.LossCurve(600, every=100)
    for step, loss in enumerate(losses):
        curve(step, loss)
    assert curve.renders == 6
    fresh = ch05.LossCurve(600, every=100)
    fresh.losses = list(map(float, losses))
    fresh.draw()
    assert np.array_equal(_pixels(curve.image.value), _pixels(fresh.image.value))
    curve.floor = fresh.floor = (
        1.95  # a floor line and a legend entry appear: the layout must follow
    )
    curve.draw(), fresh.draw()
    fresh2 = ch05.LossCurve(600, floor=1.95)
    fresh2.losses = list(map(float, losses))
    fresh2.draw()
    assert np.array_equal(_pixels(curve.image.value), _pixels(fresh2.image.value))


def test_field_comparison_measures_the_relative_error():
    target = fm.data.two_moons(200, seed=0)
    zero = ch05.field_comparison(lambda x, t: torch.zeros_like(x), target, t=0.5, n_particles=100)
    assert numbers(zero.text.value)[-1] == 1.0  # |0 - u|^2 / |u|^2
    before = zero.image.value
    zero.controls["t"].value = 0.9
    assert zero.image.value != before and "t = 0.90" in zero.text.value
    exact = fm.exact.MarginalField(target)
    half = ch05.field_comparison(lambda x, t: 0.5 * exact(x, t), target, t=0.3, n_particles=100)
    assert numbers(half.text.value)[-1] == pytest.approx(0.25, abs=1e-3)


def test_reference_cfm_loss_is_the_package_loss():
    torch.manual_seed(0)
    model = fm.models.MLP(hidden=8, depth=1)
    g = torch.Generator().manual_seed(1)
    x0, x1, t = (
        torch.randn(16, 2, generator=g),
        torch.randn(16, 2, generator=g),
        torch.rand(16, generator=g),
    )
    with torch.no_grad():
        want = fm.training.cfm_loss(model, x0, x1, t)
        assert torch.allclose(ch05.reference_cfm_loss(model, x0, x1, t[:, None]), want)


# typical mistakes of the CFM loss, each with words its hint must contain
TYPICAL = [
    (
        "time reversed",
        lambda m, x0, x1, t: ((m(t * x0 + (1 - t) * x1, t) - (x1 - x0)) ** 2).sum(1).mean(),
        "reversed",
    ),
    (
        "target sign flipped",
        lambda m, x0, x1, t: ((m((1 - t) * x0 + t * x1, t) - (x0 - x1)) ** 2).sum(1).mean(),
        "sign",
    ),
    (
        "MSELoss mean",
        lambda m, x0, x1, t: ((m((1 - t) * x0 + t * x1, t) - (x1 - x0)) ** 2).mean(),
        "averaged",
    ),
    (
        "no reduction",
        lambda m, x0, x1, t: ((m((1 - t) * x0 + t * x1, t) - (x1 - x0)) ** 2).sum(1),
        "shape",
    ),
]


@pytest.mark.parametrize("label,wrong,words", TYPICAL, ids=[row[0] for row in TYPICAL])
def test_typical_cfm_loss_mistakes_get_specific_hints(label, wrong, words):
    res = ch05.check_cfm_loss(wrong, verbose=False)
    assert not res.passed, f"cfm_loss: {label} passed"
    assert words.lower() in res.message.lower(), f"{label}: hint {res.message!r} lacks {words!r}"
