"""fmtutor.course.ch05: the live loss curve, the field comparison and the CFM-loss exercise."""

import copy
import inspect
import io
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import fmtutor as fm
from fmtutor.course import ch05, tr

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


# ---------------------------------------------------------------- the training step and the loop

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "05_training.ipynb"


def _step(xt, target, reduce="sum", zero="before", update=True):
    def step(net, opt, x0, x1, t):
        r = (net(xt(x0, x1, t), t) - target(x0, x1, t)) ** 2
        loss = r.sum(1).mean() if reduce == "sum" else r.mean()
        if zero == "before":
            opt.zero_grad()
        loss.backward()
        if zero == "between":
            opt.zero_grad()
        if update:
            opt.step()
        if zero == "after":
            opt.zero_grad()
        return loss if reduce == "tensor" else loss.item()

    return step


XT = lambda x0, x1, t: t * x1 + (1 - t) * x0  # noqa: E731
UT = lambda x0, x1, t: x1 - x0  # noqa: E731


@pytest.mark.parametrize(
    "step",
    [_step(XT, UT), _step(XT, UT, zero="after"), ch05.reference_train_step],
    ids=["zero_grad first", "zero_grad last", "reference"],
)
def test_correct_train_steps_pass(step):
    assert ch05.check_train_step(step, verbose=False)


def _loss_tensor(net, opt, x0, x1, t):
    loss = ((net(XT(x0, x1, t), t) - UT(x0, x1, t)) ** 2).sum(1).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss  # a 0-d tensor (with its graph) is a loss too


def test_a_step_may_return_the_loss_tensor():
    assert ch05.check_train_step(_loss_tensor, verbose=False)


# typical mistakes of the training step, each with words its hint must contain
TYPICAL_STEPS = [
    ("target reversed", _step(XT, lambda x0, x1, t: x0 - x1), "target is reversed"),
    ("time reversed", _step(lambda x0, x1, t: t * x0 + (1 - t) * x1, UT), "time is reversed"),
    ("no zero_grad", _step(XT, UT, zero="never"), "zero_grad() is missing"),
    ("zero_grad between", _step(XT, UT, zero="between"), "never change"),
    ("no opt.step", _step(XT, UT, update=False), "never change"),
    ("MSELoss", _step(XT, UT, reduce="mean"), "averaged over coordinates"),
    (
        "t squeezed",
        lambda net, opt, x0, x1, t: _step(XT, UT)(net, opt, x0, x1, t.squeeze(1)),
        "shape mismatch",
    ),  # fmt: skip
    (
        "t of shape (B,) to the net",
        lambda net, opt, x0, x1, t: _step(lambda a, b, s: XT(a, b, t), UT)(
            net, opt, x0, x1, t[:, 0]
        ),
        "takes t of shape (8, 1)",
    ),
    ("per-sample loss", lambda net, opt, x0, x1, t: torch.ones(8), "one number"),
    ("no return", lambda net, opt, x0, x1, t: None, "return"),
    (
        "not done",
        lambda net, opt, x0, x1, t: (_ for _ in ()).throw(NotImplementedError),
        "not done",
    ),
]


MISTAKES = [(ch05.check_cfm_loss, *row) for row in TYPICAL] + [
    (ch05.check_train_step, *row) for row in TYPICAL_STEPS
]


@pytest.mark.parametrize(
    "check,label,wrong,words", MISTAKES, ids=[f"{c.__name__}: {row[0]}" for c, *row in MISTAKES]
)
def test_typical_mistakes_get_specific_hints(check, label, wrong, words):
    res = check(wrong, verbose=False)
    assert not res.passed, f"{check.__name__}: {label} passed"
    assert words.lower() in res.message.lower(), f"{label}: hint {res.message!r} lacks {words!r}"


def test_reference_train_step_is_the_package_loss_and_one_adam_update():
    g = torch.Generator().manual_seed(0)
    x0, x1, t = torch.randn(32, 2, generator=g), torch.randn(32, 2, generator=g), torch.rand(32)
    torch.manual_seed(0)
    a = fm.models.MLP(hidden=16, depth=2)
    b, start = copy.deepcopy(a), copy.deepcopy(a)
    opt_a, opt_b = (
        torch.optim.Adam(a.parameters(), lr=0.1),
        torch.optim.Adam(b.parameters(), lr=0.1),
    )
    want = fm.training.cfm_loss(b, x0, x1, t)
    want.backward()
    opt_b.step()
    got = ch05.reference_train_step(a, opt_a, x0, x1, t[:, None])
    assert got == pytest.approx(want.item(), rel=1e-6)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-7)
    assert not torch.allclose(a.net[0].weight, start.net[0].weight)  # the weights moved


def _notebook_cell(marker: str) -> str:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    found = [
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code" and marker in "".join(c["source"])
    ]
    assert found, f"no code cell of {NOTEBOOK.name} contains {marker!r}"
    return found[0]


def test_train_moons_is_the_notebooks_loop_weight_for_weight():
    """ch05.train_moons (what cache.moons_model() trains) and the chapter's visible loop agree."""
    loop = _notebook_cell("curve(step, train_step(net, opt, x0, x1, t))")
    numbers = re.search(r"^steps, batch = (\d+), (\d+)$", loop, re.M)
    lr = re.search(r"Adam\(net\.parameters\(\), lr=([0-9.e-]+)\)", loop)
    width = re.search(r"VelocityNet\(width=(\d+)\)", loop)
    assert numbers and lr and width, "the loop cell's settings moved: update this test"
    seen = {
        "steps": int(numbers[1]),
        "batch_size": int(numbers[2]),
        "lr": float(lr[1]),
        "hidden": int(width[1]),
        "seed": 0,
    }
    assert seen == ch05.MOONS_LOOP
    defaults = inspect.signature(ch05.train_moons).parameters
    assert {k: defaults[k].default for k in ch05.MOONS_LOOP} == ch05.MOONS_LOOP
    short = loop.replace(numbers[0], f"steps, batch = 40, {numbers[2]}")
    space = {
        "torch": torch,
        "np": np,
        "fm": fm,
        "ch05": ch05,
        "nn": torch.nn,
        "time": time,
        "tr": tr,
    }
    space.update(display=lambda *a, **k: None, g=torch.Generator().manual_seed(0))
    exec(_notebook_cell("class VelocityNet"), space)
    exec(_notebook_cell("def train_step"), space)
    exec(short, space)
    model, losses = ch05.train_moons(steps=40)
    assert np.array_equal(np.asarray(space["losses"]), losses)
    for a, b in zip(space["net"].layers.state_dict().values(), model.net.state_dict().values()):
        assert torch.equal(a, b)
    assert losses[-10:].mean() < losses[:10].mean() - 0.2  # it learns


def test_train_moons_refuses_bad_settings():
    with pytest.raises(ValueError, match="steps"):
        ch05.train_moons(steps=0)
    with pytest.raises(ValueError, match="batch_size"):
        ch05.train_moons(batch_size=-1)


def test_train_moons_until_gives_the_first_losses_of_the_full_run():
    _, full = ch05.train_moons(steps=30)
    _, first = ch05.train_moons(steps=30, until=12)
    assert first.shape == (12,) and np.array_equal(first, full[:12])
    _, other = ch05.train_moons(steps=30, lr=3e-3, until=12)  # another loop differs at once
    assert other[0] == full[0] and not np.array_equal(other[1:], full[1:12])
    assert np.array_equal(ch05.train_moons(steps=30, until=99)[1], full)
