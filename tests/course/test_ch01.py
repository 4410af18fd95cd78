"""fmtutor.course.ch01: the field explorer and the rotation-field exercise."""

import pytest
import torch

from fmtutor.course import ch01

PNG = b"\x89PNG"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_field_explorer_recomputes():
    live = ch01.field_explorer()
    before = live.image.value
    live.controls["name"].value = "sink"
    assert live.image.value != before
    assert live.state["div_autograd"] == pytest.approx(-2.0) and live.state[
        "div_exact"
    ] == pytest.approx(-2.0)
    live.controls["name"].value = "rotation_to_sink"
    at0 = live.image.value
    live.controls["t"].value = 0.5
    assert live.image.value != at0 and live.state["div_exact"] == pytest.approx(-2.0)
    live.controls["particles"].value = True
    assert live.last_error is None and bytes(live.image.value).startswith(PNG)


def _todo(*args):
    raise NotImplementedError


MISTAKES = {
    "clockwise": lambda x, t: torch.stack([x[:, 1], -x[:, 0]], 1),
    "saddle": lambda x, t: torch.stack([x[:, 1], x[:, 0]], 1),
    "sink": lambda x, t: -x,
    "source": lambda x, t: x,
}


def test_exercise_rotation_field():
    check, reference = ch01.check_rotation_field, ch01.reference_rotation_field
    assert check(reference, verbose=False).passed
    assert check(_todo, verbose=False).status == "todo"
    for words, wrong in MISTAKES.items():
        res = check(wrong, verbose=False)
        assert not res.passed and res.status == "mistake" and words in res.message, (
            words,
            res.message,
        )
