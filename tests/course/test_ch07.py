"""fmtutor.course.ch07: the pairing widget, the pair plot and the OT-pairing and straightness exercises."""

import itertools
import sys

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import fmtutor as fm
from fmtutor.course import ch07

_live = sys.modules["fmtutor_tests_live"]  # tests/_live.py, loaded by conftest.py
_pixels, _fresh_picture = _live.pixels, _live.fresh_picture


def test_pairing_widget_recomputes():
    live = ch07.pairing_widget(fm.data.eight_gaussians, value=16, seed=0)
    assert live.stats["batch_size"] == 16 and live.image.value
    live.controls["batch_size"].value = 64
    x1 = fm.data.eight_gaussians(64, seed=64)
    x0 = torch.randn(x1.shape, generator=fm.data.make_generator(7 * 64 + 1))
    want = fm.couplings.coupling_stats(x0, x1)
    assert live.stats["batch_size"] == 64 and live.calls == 2
    assert (
        live.stats["cost_ot"] == pytest.approx(want["cost_ot"])
        and live.stats["cost_ot"] <= live.stats["cost_independent"]
    )
    assert str(want["crossings_ot"]) in live.text.value
    with pytest.raises(ValueError, match="value"):
        ch07.pairing_widget(fm.data.eight_gaussians, value=3)


def _best_permutation(x0, x1, power=2, largest=False):
    """The permutation with the smallest (or largest) sum of ||x0[i] - x1[s[i]]||^power, by brute force."""
    cost = torch.cdist(x0.double(), x1.double()) ** power
    perms = torch.tensor(list(itertools.permutations(range(x0.shape[0]))))
    totals = cost[torch.arange(x0.shape[0]), perms].sum(1)
    return perms[int(totals.argmax() if largest else totals.argmin())]


def test_plot_pairs_draws_one_segment_per_pair():
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    ax = ch07.plot_pairs(x0, x1, ax=Figure().add_subplot(), title="pairs", lim=3.0)
    (segments,) = ax.collections[:1]
    assert np.allclose(np.stack(segments.get_segments()), torch.stack([x0, x1], 1).numpy())
    assert ax.get_title() == "pairs" and ax.get_xlim() == (-3.0, 3.0)


def test_straightness_reference_is_the_package_formula_on_a_uniform_grid():
    g = torch.Generator().manual_seed(1)
    traj = torch.cumsum(torch.randn(9, 4, 2, generator=g, dtype=torch.float64), 0)
    times = torch.linspace(0, 1, 9, dtype=torch.float64)
    assert torch.allclose(
        ch07.reference_straightness(traj), fm.trajectories.straightness(traj, times)
    )


def test_exercise_ot_pairing():
    assert ch07.check_ot_pairing(ch07.reference_ot_pairing, verbose=False)
    assert ch07.check_ot_pairing(fm.couplings.ot_assignment, verbose=False)
    assert ch07.check_ot_pairing(fm.couplings.brute_force_assignment, verbose=False)
    res = ch07.check_ot_pairing(lambda x0, x1: torch.arange(x0.shape[0]), verbose=False)
    assert not res and "independent coupling" in res.message
    res = ch07.check_ot_pairing(
        lambda x0, x1: torch.argsort(fm.couplings.ot_assignment(x0, x1)), verbose=False
    )
    assert not res and "inverse permutation" in res.message
    res = ch07.check_ot_pairing(lambda x0, x1: _best_permutation(x0, x1, power=1), verbose=False)
    assert not res and "squared distance" in res.message
    res = ch07.check_ot_pairing(
        lambda x0, x1: _best_permutation(x0, x1, largest=True), verbose=False
    )
    assert not res and "maximised" in res.message
    res = ch07.check_ot_pairing(
        lambda x0, x1: x1[fm.couplings.ot_assignment(x0, x1)], verbose=False
    )
    assert not res and "index tensor" in res.message


def test_exercise_straightness():
    assert ch07.check_straightness(ch07.reference_straightness, verbose=False)
    en = lambda tr, k: ((tr[1:] - tr[:-1]) ** 2).sum(-1).sum(0) * k  # noqa: E731
    dp = lambda tr: ((tr[-1] - tr[0]) ** 2).sum(-1)  # noqa: E731
    cases = {
        "1/h is missing": lambda tr: en(tr, 1.0) - dp(tr),
        "h^2": lambda tr: en(tr, (tr.shape[0] - 1) ** 2) - dp(tr),
        "forgot to subtract": lambda tr: en(tr, tr.shape[0] - 1),
        "must be squared": lambda tr: en(tr, tr.shape[0] - 1) - dp(tr).sqrt(),
        "T + 1": lambda tr: en(tr, tr.shape[0]) - dp(tr),
    }
    for key, wrong in cases.items():
        res = ch07.check_straightness(wrong, verbose=False)
        assert not res and key in res.message, (key, res.message)
    res = ch07.check_straightness(lambda tr: ch07.reference_straightness(tr).mean(), verbose=False)
    assert not res and res.status == "shape"


def test_pairing_widget_draws_a_fresh_assignment():
    live = ch07.pairing_widget(fm.data.eight_gaussians, value=16, seed=3)
    for b in (8, 512, 4):
        live.controls["batch_size"].value = b
        x1 = fm.data.eight_gaussians(b, seed=3 + b)
        x0 = torch.randn(x1.shape, generator=fm.data.make_generator(3 + 7 * b + 1))
        want = fm.couplings.coupling_stats(x0, x1)
        assert {k: live.stats[k] for k in want} == pytest.approx(want) and live.stats[
            "batch_size"
        ] == b
        drawn = np.stack(live.fig.axes[1].collections[0].get_segments())
        pairs = torch.stack([x0, x1[fm.couplings.ot_assignment(x0, x1)]], 1).numpy()
        assert np.allclose(drawn, pairs)
        assert f"B = {b}:" in live.text.value and live.last_error is None


def test_plot_paths_draws_paths_chords_and_half_time_positions():
    g = torch.Generator().manual_seed(2)
    traj = torch.cumsum(torch.randn(5, 3, 2, generator=g), 0)  # T = 4 steps
    ax = ch07.plot_paths(traj, ax=Figure().add_subplot(), title="paths", lim=6.0, legend=True)
    chords, paths = ax.collections[0], ax.collections[1]
    assert np.allclose(np.stack(chords.get_segments()), torch.stack([traj[0], traj[-1]], 1))
    assert np.allclose(np.stack(paths.get_segments()), traj.transpose(0, 1))
    rings, half = ax.collections[2], ax.collections[3]
    assert np.allclose(rings.get_offsets(), (0.5 * (traj[0] + traj[-1])).numpy())
    assert np.allclose(half.get_offsets(), traj[2].numpy())  # t = 1/2 is step 2 of 4
    assert ax.get_title() == "paths" and ax.get_legend() is not None
    with pytest.raises(ValueError, match="traj"):
        ch07.plot_paths(traj[:4])  # T = 3: t = 1/2 is not on the grid


def test_plot_progress_is_the_share_of_the_chord():
    t = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None, None]
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -1.0]])
    uniform = a + t * (b - a)  # straight at constant speed: p(t) = t
    back = a + (2 * t**2 - t) * (b - a)  # first backwards, then forwards: p(t) = 2t^2 - t
    side = uniform + torch.sin(torch.pi * t) * torch.tensor(
        [[3.0, 2.0]]
    )  # a bulge across the chord
    ax = ch07.plot_progress(torch.cat([uniform, back, side], 1), ax=Figure().add_subplot())
    curves = np.stack(ax.collections[0].get_segments())  # (3, 11, 2): (t, p(t)) per path
    tt = t.flatten().numpy()
    assert np.allclose(curves[:, :, 0], tt)
    assert np.allclose(curves[0, :, 1], tt) and np.allclose(curves[1, :, 1], 2 * tt**2 - tt)
    assert np.allclose(curves[2, :, 1], tt)  # (3, 2) is orthogonal to the chord (2, -3)
    assert curves[1, :, 1].min() < 0 and ax.get_ylim() == (-0.6, 1.1)


def test_batch_paths_widget_draws_a_fresh_solve():
    def net(seed):
        torch.manual_seed(seed)
        return fm.models.MLP(dim=2, hidden=16, depth=2).eval()

    models = {4: net(0), 16: net(1), 64: lambda x, t: torch.ones_like(x)}
    starts = torch.randn(6, 2, generator=fm.data.make_generator(0))
    x0 = torch.randn(40, 2, generator=fm.data.make_generator(1))
    live = ch07.batch_paths_widget(models, starts, x0, value=16, n_steps=10)
    for b in (4, 64, 16):
        live.controls["batch_size"].value = b
        fresh = fm.solvers.solve(models[b], starts, n_steps=10, return_trajectory=True)
        assert torch.allclose(live.stats["trajectory"], fresh.trajectory, atol=1e-6)
        drawn = np.stack(live.fig.axes[0].collections[1].get_segments())
        assert np.allclose(drawn, fresh.trajectory.transpose(0, 1).numpy(), atol=1e-6)
        want = fm.couplings.flow_straightness(models[b], x0, n_steps=10).value
        assert live.stats["straightness"] == pytest.approx(want, rel=1e-4, abs=1e-6)
        assert live.stats["batch_size"] == b and f"B = {b}:" in live.text.value
    live.controls["batch_size"].value = 64  # a constant field: straight, uniform, S = 0
    assert abs(live.stats["straightness"]) < 1e-5
    t = torch.linspace(0, 1, 11)[:, None, None]
    assert torch.allclose(live.stats["trajectory"], starts + t, atol=1e-6)
    with pytest.raises(ValueError, match="value"):
        ch07.batch_paths_widget(models, starts, x0, value=8)
    with pytest.raises(ValueError, match="n_steps"):
        ch07.batch_paths_widget(models, starts, x0, n_steps=9)
    with pytest.raises(TypeError, match="models"):
        ch07.batch_paths_widget([models[4]], starts, x0)


def test_batch_paths_widget_slider_recomputes_across_a_sweep_and_back():
    """Dragging the batch-size slider over every model, a jump from the largest to the smallest and
    back to one seen before: both panels draw a new solve of that model (the paths from the starts,
    the progress of the particles from x_0), and the picture shown is the one they make."""
    from matplotlib.collections import LineCollection

    def net(seed):
        torch.manual_seed(seed)
        return fm.models.MLP(dim=2, hidden=16, depth=2).eval()

    models = {b: net(i) for i, b in enumerate((4, 16, 64, 128))}
    starts = torch.randn(5, 2, generator=fm.data.make_generator(2))
    x0 = torch.randn(30, 2, generator=fm.data.make_generator(3))
    live = ch07.batch_paths_widget(models, starts, x0, n_steps=8)
    shown = _pixels(live.image.value)
    for b in (16, 64, 128, 4, 64):  # a drag to the largest, a jump to the smallest, back to 64
        live.controls["batch_size"].value = b
        assert live.last_error is None, live.last_error
        with torch.no_grad():
            paths = fm.solvers.solve(models[b], starts, n_steps=8, return_trajectory=True)
            many = fm.solvers.solve(models[b], x0, n_steps=8, return_trajectory=True).trajectory
        drawn = np.stack(live.fig.axes[0].collections[1].get_segments())
        assert np.allclose(drawn, paths.trajectory.transpose(0, 1).numpy(), atol=1e-5), b
        chord = many[-1] - many[0]
        progress = ((many - many[0]) * chord).sum(-1) / (chord**2).sum(-1)  # (9, 30)
        (curves,) = [c for c in live.fig.axes[1].collections if isinstance(c, LineCollection)]
        got = np.stack(curves.get_segments())  # (30, 9, 2): (t, p)
        assert np.allclose(got[:, :, 1], progress.T.numpy(), atol=1e-4), b
        assert np.allclose(got[0, :, 0], np.linspace(0, 1, 9))
        now = _pixels(live.image.value)
        assert not np.array_equal(now, shown), f"B = {b}: the picture did not change"
        assert np.array_equal(now, _fresh_picture(live)), f"B = {b}: not the drawing"
        shown = now
