"""fmtutor.metrics: sample distances against closed forms and brute force; the Gaussian KL and likelihood."""

import itertools
import math

import numpy as np
import pytest
import torch

from fmtutor import data, metrics


def test_w2_between_gaussians_matches_closed_form():
    g = torch.Generator().manual_seed(0)
    m1, m2 = np.array([0.0, 0.0]), np.array([1.0, -0.5])
    s1, s2 = np.array([[1.0, 0.3], [0.3, 0.5]]), np.array([[0.6, -0.2], [-0.2, 1.2]])
    a = torch.randn(2000, 2, generator=g, dtype=torch.float64) @ torch.tensor(
        np.linalg.cholesky(s1)
    ).T + torch.tensor(m1)
    b = torch.randn(2000, 2, generator=g, dtype=torch.float64) @ torch.tensor(
        np.linalg.cholesky(s2)
    ).T + torch.tensor(m2)
    want = metrics.gaussian_w2(m1, s1, m2, s2)
    got = metrics.wasserstein2(a, b)
    floor = metrics.wasserstein2(
        a,
        torch.randn(2000, 2, generator=g, dtype=torch.float64)
        @ torch.tensor(np.linalg.cholesky(s1)).T,
    )
    assert abs(got - want) < 2 * floor + 0.02, (
        got,
        want,
        floor,
    )  # sampling error is of the order of the floor


def test_exact_w2_is_the_best_matching():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    brute = min(((a - b[list(p)]) ** 2).sum(1).mean() for p in itertools.permutations(range(6)))
    assert abs(metrics.wasserstein2(a, b) - float(brute) ** 0.5) < 1e-6


def test_sliced_w2_of_a_shift_is_exact():
    """Shifting a set by v: each 1-D projection moves by <theta, v>, so SW2^2 = E<theta, v>^2 = |v|^2 / d."""
    a = torch.randn(500, 2)
    v = torch.tensor([3.0, 0.0])
    sw = metrics.sliced_wasserstein2(a, a + v, n_projections=20000)
    assert abs(sw - 3.0 / 2**0.5) < 0.05


def test_mmd_separates_and_is_near_zero_for_same_distribution():
    g = torch.Generator().manual_seed(2)
    a, b, c = (torch.randn(400, 2, generator=g) for _ in range(3))
    assert abs(metrics.mmd(a, b)) < 0.01
    assert metrics.mmd(a, c + 1.0) > 0.1


def test_noise_floor_is_reproducible_and_positive():
    f1 = metrics.noise_floor(data.two_moons, 300)
    assert f1 == metrics.noise_floor(data.two_moons, 300) and f1 > 0


def test_gaussian_kl_and_likelihood_identity():
    assert float(metrics.gaussian_kl(0.3, 0.7, 0.3, 0.7)) == 0.0
    assert math.isclose(float(metrics.gaussian_kl(0.0, 1.0, 1.0, 1.0)), 0.5)
    x = 1.0 + 0.6 * torch.randn(
        200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    c = -0.5 * math.log(2 * math.pi * math.e * 0.36)
    for mu, std in ((-1.0, 1.5), (1.0, 0.6), (2.0, 0.3)):
        ll = float(metrics.gaussian_log_likelihood(x, mu, std))
        assert math.isclose(ll + float(metrics.gaussian_kl(1.0, 0.6, mu, std)), c, abs_tol=0.02)
    with pytest.raises(ValueError, match="std_q"):
        metrics.gaussian_kl(0.0, 1.0, 0.0, -1.0)


def test_exact_w2_never_turns_into_sliced_w2_silently():
    """4000 vs 4000 points shifted by (1, 1): W2 = sqrt(2); one more point used to give sliced W2."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 2, generator=g, dtype=torch.float64)
    assert metrics.wasserstein2(a[:300], a[:300] + 1) == pytest.approx(2**0.5, abs=1e-12)
    c = torch.cat([a, a[:1]])
    with pytest.raises(ValueError, match="a and b: exact W2 needs .*got 4000 and 4001.*sliced_w"):
        metrics.wasserstein2(a, c + 1)  # sizes differ
    with pytest.raises(ValueError, match="a and b: exact W2 needs .*got 4001 and 4001.*sliced_w"):
        metrics.wasserstein2(c, c + 1)  # more than MAX_EXACT points
    with pytest.raises(ValueError, match="method: expected 'exact' or 'sliced'.*got 'auto'"):
        metrics.wasserstein2(a[:10], a[:10], method="auto")
    b = a[:500] + torch.tensor([3.0, 0.0], dtype=torch.float64)
    sliced = metrics.wasserstein2(a[:300], b, method="sliced", seed=4)  # asked for by name
    assert sliced == metrics.sliced_wasserstein2(a[:300], b, seed=4)


def test_distances_accept_points_that_require_grad():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(50, 2, generator=g).requires_grad_(True)
    b = torch.randn(50, 2, generator=g)
    for f in (metrics.wasserstein2, metrics.sliced_wasserstein2, metrics.mmd):
        assert f(a * 1.0, b) == f(a.detach(), b), f.__name__
