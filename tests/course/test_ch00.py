"""fmtutor.course.ch00: the likelihood explorer, the three transports and the Gaussian-KL exercise."""

import math

import pytest
import torch
from matplotlib.figure import Figure

import fmtutor as fm
from fmtutor.course import ch00

PNG = b"\x89PNG"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_mle_explorer_recomputes():
    live = ch00.mle_explorer()
    before = live.image.value
    assert bytes(before).startswith(PNG) and live.last_error is None
    live.controls["mu"].value = 1.0
    assert live.image.value != before and live.calls == 2
    st = live.state
    assert math.isclose(
        st["L"], float(fm.metrics.gaussian_log_likelihood(live.data, 1.0, 1.5)), rel_tol=1e-12
    )
    assert math.isclose(st["kl"], float(fm.metrics.gaussian_kl(1.0, 0.6, 1.0, 1.5)), rel_tol=1e-12)
    assert abs(st["L"] + st["kl"] - st["C"]) < 0.05
    assert "KL" in live.text.value


def test_transport_frames():
    demo = ch00.transport_frames(n=30, n_frames=4, substeps=2)
    assert len(demo.frames) == 4 and all(f.startswith(PNG) for f in demo.frames)
    assert set(demo.trajectories) == {"diffusion (VP)", "flow matching", "FM + OT pairs"}
    x0 = demo.trajectories["flow matching"][0]
    for tr in demo.trajectories.values():
        assert tr.shape == (4, 30, 2) and torch.equal(tr[0], x0)
    ot = demo.trajectories["FM + OT pairs"]
    assert torch.allclose(
        fm.trajectories.path_length(ot), (ot[-1] - ot[0]).norm(dim=1), atol=1e-5
    )  # straight lines
    # the OT pairing is no costlier than any other pairing of the same points (here: 20 random ones)
    g = torch.Generator().manual_seed(0)
    cost = ((ot[-1] - ot[0]) ** 2).sum()
    assert all(
        cost <= ((ot[-1][torch.randperm(30, generator=g)] - ot[0]) ** 2).sum() + 1e-5
        for _ in range(20)
    )


def test_spacetime_plot_draws_the_first_coordinate_of_each_path_against_time():
    demo = ch00.transport_frames(n=12, n_frames=3, substeps=1)
    fig = ch00.spacetime_plot(demo, n=5, fig=Figure())
    assert [ax.get_title() for ax in fig.axes] == list(demo.trajectories)
    for ax, tr in zip(fig.axes, demo.trajectories.values()):
        assert len(ax.lines) == 5
        for i, line in enumerate(ax.lines):
            assert torch.allclose(torch.as_tensor(line.get_xdata()), demo.times)
            assert torch.allclose(torch.as_tensor(line.get_ydata()), tr[:, i, 0])


def _todo(*args):
    raise NotImplementedError


MISTAKES = {
    "KL(q || p)": lambda mp, sp, mq, sq: ch00.reference_gaussian_kl(mq, sq, mp, sp),
    "ratio of standard deviations": lambda mp, sp, mq, sq: (
        torch.log(sq**2 / sp**2) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5
    ),
    "- 1/2 is missing": lambda mp, sp, mq, sq: ch00.reference_gaussian_kl(mp, sp, mq, sq) + 0.5,
}


def test_exercise_gaussian_kl():
    check, reference = ch00.check_gaussian_kl, ch00.reference_gaussian_kl
    assert check(reference, verbose=False).passed
    assert check(_todo, verbose=False).status == "todo"
    for words, wrong in MISTAKES.items():
        res = check(wrong, verbose=False)
        assert not res.passed and res.status == "mistake" and words in res.message, (
            words,
            res.message,
        )
    x = (
        torch.tensor([0.3, -1.0]),
        torch.tensor([0.7, 2.0]),
        torch.tensor([1.0, 0.5]),
        torch.tensor([1.5, 1.0]),
    )
    assert torch.allclose(reference(*x), fm.metrics.gaussian_kl(*x))
