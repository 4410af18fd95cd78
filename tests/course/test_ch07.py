"""fmtutor.course.ch07: the pairing widget, the pair plot and the OT-pairing and straightness exercises."""

import itertools

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import fmtutor as fm
from fmtutor.course import ch07


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
