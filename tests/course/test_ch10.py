"""fmtutor.course.ch10: the guidance widget and the classifier-free-guidance exercise."""

import math

import pytest
import torch

import fmtutor as fm
from fmtutor.course import ch10
from fmtutor.data import GaussianMixture

ANG = torch.tensor([90.0, 210.0, 330.0]) * math.pi / 180
GM = GaussianMixture(
    torch.stack([ANG.cos(), ANG.sin()], 1), 0.6
)  # the chapter's three overlapping classes

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_guidance_widget_recomputes():
    field = fm.guidance.ExactConditionalField(GM)
    live = ch10.guidance_widget(field, GM, w=1.0, y=0, n=200, n_steps=10)
    acc1, spread1 = live.state["accuracy"], live.state["spread"]
    live.controls["w"].value = 4.0
    assert live.last_error is None and live.state["w"] == 4.0
    assert live.state["accuracy"] > acc1 and live.state["spread"] < spread1 - 0.15
    live.controls["y"].value = 2
    assert live.state["y"] == 2 and live.state["accuracy"] > 0.95
    assert "class 2" in live.text.value


def _drop(y, p, generator):  # the chapter's label dropout, K = 3 is "no label"
    return torch.where(torch.rand(y.shape, generator=generator) < p, torch.full_like(y, 3), y)


def test_training_labels_are_what_train_cfm_feeds_the_model_and_the_replay_matches():
    pool, labels = GM.sample(3000, seed=1, return_labels=True)
    seen = ch10.training_labels(pool, labels, p=0.2, steps=40, batch_size=128, seed=3)
    assert seen.shape == (40, 128) and seen.dtype == labels.dtype
    frac, sd = float((seen == 3).double().mean()), math.sqrt(0.2 * 0.8 / seen.numel())
    assert abs(frac - 0.2) < 4 * sd, frac  # the package drops a fraction p
    assert torch.equal(ch10.replay_training_labels(_drop, pool, labels, 0.2, 40, 128, 3), seen)
    # without dropout the recorded labels are the pool's labels at the replayed batch indices
    plain = ch10.training_labels(pool, labels, p=0.0, steps=5, batch_size=64, seed=3)
    assert (plain < 3).all()
    assert torch.equal(ch10.replay_training_labels(_drop, pool, labels, 0.0, 5, 64, 3), plain)
    # a dropout with the right statistics but other draws is told apart
    other = lambda y, p, g: torch.where(torch.rand(y.shape, generator=g) > 1 - p, 3, y)  # noqa: E731
    assert not torch.equal(ch10.replay_training_labels(other, pool, labels, 0.2, 40, 128, 3), seen)
    # and another seed gives other labels
    assert not torch.equal(ch10.training_labels(pool, labels, 0.2, 40, 128, seed=4), seen)


def test_label_replay_refuses_bad_input_clearly():
    pool, labels = GM.sample(100, seed=1, return_labels=True)
    with pytest.raises(ValueError, match="p: expected a dropout probability"):
        ch10.training_labels(pool, labels, p=1.2)
    with pytest.raises(ValueError, match="pool, labels"):
        ch10.replay_training_labels(_drop, pool, labels.double(), 0.2)
    with pytest.raises(ValueError, match="pool, labels"):
        ch10.training_labels(pool, labels[:50], 0.2)
    with pytest.raises(TypeError, match="drop"):
        ch10.replay_training_labels("drop", pool, labels, 0.2)


def test_exercise_check_cfg():
    assert ch10.check_cfg(ch10.reference_cfg, verbose=False).passed
    assert ch10.check_cfg(fm.guidance.cfg_velocity, verbose=False).passed
    hints = {
        "wrong term": lambda uc, uu, w: uc + w * (uu - uc),
        "sign": lambda uc, uu, w: uu - w * (uc - uu),
        "forgot the unconditional": lambda uc, uu, w: w * uc,
        "only the guidance direction": lambda uc, uu, w: w * (uc - uu),
        "started from the conditional": lambda uc, uu, w: uc + w * (uc - uu),
    }
    for word, wrong in hints.items():
        res = ch10.check_cfg(wrong, verbose=False)
        assert res.status == "mistake" and word in res.message, (word, res.message)

    def todo(uc, uu, w):
        raise NotImplementedError

    assert ch10.check_cfg(todo, verbose=False).status == "todo"


# typical mistakes of the guidance formula, each with words its hint must contain
TYPICAL = [
    ("sign flipped", lambda uc, uu, w: uu - w * (uc - uu), "sign"),
    ("roles swapped", lambda uc, uu, w: uc + w * (uu - uc), "wrong term"),
]


@pytest.mark.parametrize("label,wrong,words", TYPICAL, ids=[row[0] for row in TYPICAL])
def test_typical_cfg_mistakes_get_specific_hints(label, wrong, words):
    res = ch10.check_cfg(wrong, verbose=False)
    assert not res.passed, f"cfg: {label} passed"
    assert words.lower() in res.message.lower(), f"{label}: hint {res.message!r} lacks {words!r}"


def test_guidance_widget_shows_a_first_look_then_the_measured_picture():
    """A new (w, y) drafts with a quarter of the steps; the final picture is a fresh plot's; a
    setting seen before is drawn at once, without a draft."""
    import sys

    field = fm.guidance.ExactConditionalField(GM)
    live = ch10.guidance_widget(field, GM, w=1.0, y=0, n=200, n_steps=8)
    live.controls["w"].value = 3.0
    assert live.drafts == 1 and "accuracy" in live.text.value and live.state["w"] == 3.0
    fresh = sys.modules["fmtutor_tests_live"]
    assert (fresh.pixels(live.image.value) == fresh.fresh_picture(live)).all()
    live.controls["w"].value = 1.0
    assert live.drafts == 1 and live.state["w"] == 1.0
