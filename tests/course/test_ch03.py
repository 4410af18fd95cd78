"""fmtutor.course.ch03: the path explorer, the path animation and the exercises on x_t and p_t(x | x_1)."""

import math
import sys

import pytest
import torch

import fmtutor as fm
from fmtutor.course import ch03

_live = sys.modules["fmtutor_tests_live"]  # tests/_live.py, loaded by conftest.py
_pixels, _fresh_picture = _live.pixels, _live.fresh_picture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _points(n=64, seed=0):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_path_explorer_matches_samples():
    live = ch03.path_explorer(n=3000)
    before = live.image.value
    live.controls["t"].value = 0.8
    assert live.image.value != before and live.state["t"] == 0.8
    assert abs(live.state["mass"] - 1) < 1e-3
    assert live.state["l1"] < 0.2  # the histogram of t X1 + (1 - t) X0 follows the exact p_t
    live.controls["t"].value = 0.0
    assert abs(live.state["mass"] - 1) < 1e-3 and live.state["l1"] < 0.2


def test_path_frames():
    pd = ch03.path_frames(n=50, n_frames=3, n_grid=20)
    assert len(pd.frames) == 3 and pd.trajectory.shape == (3, 50, 2)
    assert torch.allclose(pd.times, torch.tensor([0.0, 0.5, 1.0]))


def _todo(*args):
    raise NotImplementedError


SAMPLE_MISTAKES = {
    "time is reversed": lambda x0, x1, t: t * x0 + (1 - t) * x1,
    "variance": lambda x0, x1, t: t * x1 + (1 - t) ** 2 * x0,
    "shrink": lambda x0, x1, t: t * x1 + x0,
    "velocity": lambda x0, x1, t: x1 - x0,
}
LOG_PROB_MISTAKES = {
    "mean of p_{t|1}": lambda x, x1, t: ch03.reference_conditional_log_prob(x, x1 / t, t),
    "normalising constant": lambda x, x1, t: (
        ch03.reference_conditional_log_prob(x, x1, t) + x.shape[1] / 2 * math.log(2 * math.pi)
    ),
    "one log(1 - t) per coordinate": lambda x, x1, t: (
        ch03.reference_conditional_log_prob(x, x1, t) + (x.shape[1] / 2) * torch.log(1 - t[:, 0])
    ),
}


@pytest.mark.parametrize(
    "check,reference,mistakes",
    [
        (ch03.check_sample_xt, ch03.reference_sample_xt, SAMPLE_MISTAKES),
        (
            ch03.check_conditional_log_prob,
            ch03.reference_conditional_log_prob,
            LOG_PROB_MISTAKES,
        ),
    ],
    ids=["sample_xt", "conditional_log_prob"],
)
def test_exercise_checks(check, reference, mistakes):
    assert check(reference, verbose=False).passed
    assert check(_todo, verbose=False).status == "todo"
    for words, wrong in mistakes.items():
        res = check(wrong, verbose=False)
        assert not res.passed and res.status == "mistake" and words in res.message, (
            words,
            res.message,
        )


def test_conditional_log_prob_reference_is_exact():
    x, x1 = _points(6), _points(1, 1)
    t = torch.full((6, 1), 0.35, dtype=torch.float64)
    want = torch.distributions.Normal(0.35 * x1, 0.65).log_prob(x).sum(1)
    assert torch.allclose(ch03.reference_conditional_log_prob(x, x1.expand(6, 2), t), want)
    assert torch.allclose(fm.exact.marginal_log_prob(x, 0.35, x1), want)


def test_sample_xt_reference_is_the_conditional_path():
    x0, x1 = _points(5), _points(5, 1)
    t = torch.full((5, 1), 0.3, dtype=torch.float64)
    ps = fm.paths.AffinePath("condot").sample(x0, x1, t)
    assert torch.allclose(ch03.reference_sample_xt(x0, x1, t), ps.x_t)


# typical mistakes of sampling x_t, each with words its hint must contain
TYPICAL = [
    ("time reversed", lambda x0, x1, t: t * x0 + (1 - t) * x1, "reversed"),
    ("missing 1 - t", lambda x0, x1, t: t * x1 + x0, "(1 - t)"),
    ("variance for std", lambda x0, x1, t: t * x1 + (1 - t) ** 2 * x0, "standard deviation"),
]


@pytest.mark.parametrize("label,wrong,words", TYPICAL, ids=[row[0] for row in TYPICAL])
def test_typical_sample_xt_mistakes_get_specific_hints(label, wrong, words):
    res = ch03.check_sample_xt(wrong, verbose=False)
    assert not res.passed, f"sample_xt: {label} passed"
    assert words.lower() in res.message.lower(), f"{label}: hint {res.message!r} lacks {words!r}"


@pytest.mark.parametrize("method,n_steps,t", [("midpoint", 10, 0.5), ("rk4", 3, 0.71)])
def test_particle_explorer_draws_a_fresh_solve_at_t(method, n_steps, t):
    from matplotlib.collections import PathCollection

    live = ch03.particle_explorer(n=200)
    for k, v in (("method", method), ("n_steps", n_steps), ("t", t)):
        live.controls[k].value = v
        assert live.last_error is None, live.last_error
    gmm = fm.data.eight_gaussians_mixture()
    x0 = torch.randn(200, 2, generator=fm.data.make_generator(0))
    grid = torch.linspace(0, 1, n_steps + 1)
    t32 = torch.tensor(t, dtype=torch.float32)
    grid = grid[grid <= t32]
    if grid[-1] != t32:
        grid = torch.cat([grid, t32[None]])
    fresh = fm.solvers.solve(fm.exact.MarginalField(gmm), x0, method, time_grid=grid).x
    (dots,) = [c for c in live.fig.axes[0].collections if isinstance(c, PathCollection)]
    assert torch.allclose(torch.as_tensor(dots.get_offsets()), fresh.double(), atol=1e-6)


def test_particle_explorer_particles_follow_p_t_only_when_solved_well():
    live = ch03.particle_explorer(n=6000)
    gaps = {}
    for method, n_steps in (("midpoint", 20), ("euler", 2)):
        live.controls["method"].value, live.controls["n_steps"].value = method, n_steps
        for t in (0.3, 0.6, 0.9):
            live.controls["t"].value = t
            st = live.state
            gaps[method, t] = abs(st["lp_flow"] - st["lp_direct"])
    # sampling noise of the two means is about 0.02 with 6000 points each
    assert max(gaps["midpoint", t] for t in (0.3, 0.6, 0.9)) < 0.08, gaps
    assert gaps["euler", 0.6] > 0.5 and gaps["euler", 0.9] > 3.0, gaps  # off the clusters
    # every (method, steps) was solved when the widget was built; a change only draws
    assert live.paths.solves == 3 * len(ch03.PARTICLE_STEPS)
    assert set(live.controls["n_steps"].options) == set(ch03.PARTICLE_STEPS)


def test_particle_explorer_t_slider_recomputes_across_a_sweep_and_back():
    """Dragging t (small steps, a jump across the range, back to a value seen before): at every
    value the particles and their trails are a new solve's up to that t, the heat map is p_t at
    that t, and the picture shown is the one those artists make."""
    import numpy as np
    from matplotlib.collections import LineCollection, PathCollection

    live = ch03.particle_explorer(n=200)
    live.controls["method"].value, live.controls["n_steps"].value = "rk4", 3
    solves = live.paths.solves
    gmm = fm.data.eight_gaussians_mixture()
    field = fm.exact.MarginalField(gmm)
    x0 = torch.randn(200, 2, generator=fm.data.make_generator(0))
    c = torch.linspace(-4.5, 4.5, 80)
    gy, gx = torch.meshgrid(c, c, indexing="ij")
    cells = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    shown = _pixels(live.image.value)
    for t in (0.51, 0.52, 0.99, 0.0, 0.37, 0.51, 1.0):  # 0.99 -> 0.0: a jump across the range
        live.controls["t"].value = t
        assert live.last_error is None, live.last_error
        t32 = torch.tensor(t, dtype=torch.float32)
        grid = torch.linspace(0, 1, 4)
        grid = grid[grid <= t32]
        if grid[-1] != t32:
            grid = torch.cat([grid, t32[None]])
        fresh = (
            x0[None]
            if len(grid) == 1
            else fm.solvers.solve(
                field, x0, "rk4", time_grid=grid, return_trajectory=True
            ).trajectory
        )
        ax = live.fig.axes[0]
        (dots,) = [a for a in ax.collections if isinstance(a, PathCollection)]
        assert np.allclose(dots.get_offsets(), fresh[-1].numpy(), atol=1e-6), t
        (trails,) = [a for a in ax.collections if isinstance(a, LineCollection)]
        drawn = np.stack(trails.get_segments())  # (50, k + 2, 2): grid states, then x_t
        want = fresh[:, :50].transpose(0, 1).numpy()
        assert np.allclose(drawn[:, : len(fresh)], want, atol=1e-6), t
        assert np.allclose(drawn[:, -1], want[:, -1], atol=1e-6), t
        dens = torch.exp(fm.exact.marginal_log_prob(cells, t, gmm)).reshape(80, 80)
        assert np.allclose(ax.images[0].get_array(), dens.numpy(), rtol=1e-5, atol=1e-9), t
        assert f"t = {t:.2f}" in live.text.value and live.state["t"] == t
        now = _pixels(live.image.value)
        assert not np.array_equal(now, shown), f"t = {t}: the picture did not change"
        assert np.array_equal(now, _fresh_picture(live)), f"t = {t}: picture is not the drawing"
        shown = now
    assert live.paths.solves == solves, "t moves along the one solve: no new solve"
