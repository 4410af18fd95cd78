"""fmtutor.couplings against truths: brute force, cost inequalities, straight lines, geometry."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fmtutor as fm
from fmtutor import couplings as C


def test_independent_coupling_keeps_the_pairs_as_drawn():
    x0, x1 = _batch(0, 5)
    p0, p1 = C.independent_coupling(x0, x1)
    assert torch.equal(p0, x0) and torch.equal(p1, x1)


def _batch(seed: int, b: int, d: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=g), 2 * torch.randn(b, d, generator=g) + 1


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), b=st.integers(1, 64), d=st.integers(1, 4))
def test_ot_cost_never_exceeds_independent(seed, b, d):
    x0, x1 = _batch(seed, b, d)
    x0p, x1p = C.minibatch_ot_coupling(x0, x1)
    assert torch.equal(x0p, x0)
    assert C.transport_cost(x0p, x1p) <= C.transport_cost(x0, x1) + 1e-9
    # a permutation: the data marginal is unchanged
    assert sorted(map(tuple, x1p.tolist())) == sorted(map(tuple, x1.tolist()))


@pytest.mark.parametrize("seed", range(20))
def test_ot_matches_brute_force(seed):
    b = 2 + seed % 6
    x0, x1 = _batch(seed, b)
    s = C.ot_assignment(x0, x1)
    cost = torch.cdist(x0.double(), x1.double()) ** 2
    best = min(
        float(cost[torch.arange(b), list(p)].sum()) for p in itertools.permutations(range(b))
    )
    assert float(cost[torch.arange(b), s].sum()) == pytest.approx(best, rel=1e-12, abs=1e-12)
    assert torch.equal(
        C.brute_force_assignment(x0, x1), s
    )  # unique minimiser for continuous random points


def test_ot_known_answer_and_cyclical_monotonicity():
    x0 = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    x1 = torch.tensor([[11.0, 1.0], [1.0, 1.0]])
    assert C.ot_assignment(x0, x1).tolist() == [1, 0]
    x0, x1 = _batch(3, 200)
    y = x1[C.ot_assignment(x0, x1)]
    # 2-cycle monotonicity of the quadratic cost: (x0_i - x0_j) . (y_i - y_j) >= 0 for every pair
    dots = ((x0[:, None, :] - x0[None, :, :]) * (y[:, None, :] - y[None, :, :])).sum(-1)
    assert dots.min() >= -1e-5


def test_count_crossings_truths():
    # an X: two segments that cross; a parallel pair and a touching pair do not count
    assert (
        C.count_crossings(
            torch.tensor([[0.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 1.0], [1.0, 0.0]])
        )
        == 1
    )
    assert (
        C.count_crossings(
            torch.tensor([[0.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [1.0, 1.0]])
        )
        == 0
    )
    assert (
        C.count_crossings(
            torch.tensor([[0.0, 0.0], [1.0, 0.0]]), torch.tensor([[1.0, 0.0], [2.0, 0.0]])
        )
        == 0
    )
    # brute-force comparison on random segments
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(30, 2, generator=g), torch.randn(30, 2, generator=g)

    def side(p, q, r):
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    n = sum(
        1
        for i in range(30)
        for j in range(i + 1, 30)
        if side(a[i], b[i], a[j]) * side(a[i], b[i], b[j]) < 0
        and side(a[j], b[j], a[i]) * side(a[j], b[j], b[i]) < 0
    )
    assert C.count_crossings(a, b) == n > 0


def test_ot_crosses_less_than_independent():
    x1 = fm.data.eight_gaussians(256, seed=1)
    x0 = torch.randn(256, 2, generator=torch.Generator().manual_seed(2))
    s = C.coupling_stats(x0, x1)
    assert s["cost_ot"] < 0.5 * s["cost_independent"]
    assert s["crossings_ot"] < 0.1 * s["crossings_independent"]  # measured: 392 vs 7835


def test_straightness_truths():
    x0 = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    # a constant field moves on straight lines at uniform speed: S = 0, displacement = ||c||^2
    c = torch.tensor([1.5, -0.5], dtype=torch.float64)
    s = C.flow_straightness(lambda x, t: c.expand_as(x), x0, n_steps=4)
    assert abs(s.value) < 1e-12 and s.displacement == pytest.approx(2.5)
    # the rotation u = (-y, x) moves each point along an arc of angle 1 rad: kinetic r^2, chord^2 2 r^2 (1 - cos 1)
    rot = lambda x, t: torch.stack([-x[:, 1], x[:, 0]], 1)  # noqa: E731
    s = C.flow_straightness(rot, x0, n_steps=200, method="rk4")
    r2 = (x0**2).sum(1)
    assert torch.allclose(
        s.per_sample,
        r2 * (1 - 2 * (1 - torch.cos(torch.tensor(1.0, dtype=torch.float64)))),
        atol=1e-8,
    )
    # Euler: S from the augmented solve equals the discrete formula on the Euler trajectory
    sol = fm.solvers.solve(rot, x0, method="euler", n_steps=8, return_trajectory=True)
    s8 = C.flow_straightness(rot, x0, n_steps=8, method="euler")
    assert torch.allclose(
        s8.per_sample, fm.trajectories.straightness(sol.trajectory, sol.times), atol=1e-10
    )
    assert (s8.per_sample >= -1e-12).all()


def test_validation_names_the_argument():
    with pytest.raises(ValueError, match="x_0 and x_1"):
        C.ot_assignment(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="x_0"):
        C.brute_force_assignment(torch.zeros(9, 2), torch.zeros(9, 2))
    with pytest.raises(ValueError, match="x_0"):
        C.count_crossings(torch.zeros(3, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="x"):
        C.transport_cost(torch.zeros(3), torch.zeros(3))
