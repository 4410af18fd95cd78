"""fmtutor.discrete: CTMC rates against scipy's expm, the mixture path's marginal, velocities, jumps."""

import numpy as np
import pytest
import scipy.linalg
import torch

import fmtutor as fm
from fmtutor import discrete as D
from fmtutor.discrete_training import total_variation


def _rates(s=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.rand(s, s, generator=g, dtype=torch.float64) * 2
    q.fill_diagonal_(0)
    return q - torch.diag(q.sum(1))


def _target(v=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    q = torch.rand(v, v, generator=g, dtype=torch.float64) ** 3
    return q / q.sum()


def _pad(q, path):
    k = path.n_states - path.vocab
    return torch.nn.functional.pad(q, (0, k) * q.ndim)


def test_transition_matrix_is_scipy_expm_and_solves_kolmogorov():
    q = _rates()
    for t in (0.0, 0.3, 1.7):
        p = D.transition_matrix(q, t)
        assert np.allclose(p.numpy(), scipy.linalg.expm(t * q.numpy()), atol=1e-12)
        assert torch.allclose(p.sum(1), torch.ones(4, dtype=torch.float64)) and p.min() >= 0
    # the forward equation d/dt p = p Q, integrated by RK4, lands on p_0 exp(t Q)
    p0 = torch.tensor([[0.7, 0.1, 0.2, 0.0]], dtype=torch.float64)
    sol = fm.solvers.solve(lambda p, t: p @ q, p0, method="rk4", n_steps=200)
    assert torch.allclose(sol.x, p0 @ D.transition_matrix(q, 1.0), atol=1e-9)
    assert not torch.allclose(sol.x, p0 @ torch.linalg.matrix_exp(q.T), atol=1e-3)  # not Q^T


def test_check_rate_matrix_names_the_argument():
    q = _rates()
    with pytest.raises(ValueError, match="q: expected rates"):
        D.check_rate_matrix(q + 0.1)  # rows no longer sum to zero
    with pytest.raises(ValueError, match="square"):
        D.check_rate_matrix(q[:3])
    with pytest.raises(ValueError, match="t"):
        D.transition_matrix(q, -1.0)


@pytest.mark.parametrize("source", ["mask", "uniform"])
def test_marginal_of_the_mixture_path_is_the_closed_form(source):
    q, path = _target(), D.MixturePath(4, source, D.PolynomialKappa(2.0))
    ex, p0 = D.ExactPosterior(q, path), path.source_probs()
    q1, q2 = _pad(q.sum(1), path), _pad(q.sum(0), path)
    for t in (0.0, 0.25, 0.6, 1.0):
        k = t**2
        want = (
            (1 - k) ** 2 * torch.outer(p0, p0)
            + k * (1 - k) * (torch.outer(p0, q2) + torch.outer(q1, p0))
            + k**2 * _pad(q, path)
        )
        assert torch.allclose(ex.marginal(t), want, atol=1e-12)
    # and X_t drawn by MixturePath.sample has that law (20000 draws: TV within sampling noise)
    x1 = fm.discrete_training.sample_law(q, 20000, seed=2)
    xt = path.sample(path.sample_source(20000, 2, 3), x1, 0.5, seed=4)
    tv = total_variation(fm.discrete_training.empirical_law(xt, path.n_states), ex.marginal(0.5))
    assert tv < 0.03


def test_posterior_is_bayes_by_brute_force():
    q, path = _target(3, seed=5), D.MixturePath(3, "uniform", D.PolynomialKappa(1.5))
    ex, t = D.ExactPosterior(q, path), 0.4
    k = t**1.5
    kern = lambda y, x: (1 - k) / 3 + k * (x == y)  # noqa: E731
    x = D.all_states(3, 2)
    got = ex.posterior(x, t)
    for n, (a, b) in enumerate(x.tolist()):
        joint = torch.tensor(
            [[q[y1, y2] * kern(y1, a) * kern(y2, b) for y2 in range(3)] for y1 in range(3)]
        )
        assert torch.allclose(got[n, 0], joint.sum(1) / joint.sum(), atol=1e-12)
        assert torch.allclose(got[n, 1], joint.sum(0) / joint.sum(), atol=1e-12)


@pytest.mark.parametrize(("source", "power"), [("mask", 1.0), ("uniform", 1.0), ("mask", 2.0)])
def test_velocity_generates_the_path(source, power):
    """d/dt p_t = p_t Q_t on the enumerated sequences, with Q_t from the exact posterior."""
    path = D.MixturePath(4, source, D.PolynomialKappa(power))
    ex = D.ExactPosterior(_target(), path)
    for t in (0.1, 0.5, 0.9):
        tt = torch.tensor(t, dtype=torch.float64, requires_grad=True)
        p = ex.marginal(tt).reshape(-1)
        dp = torch.stack(
            [torch.autograd.grad(p[i], tt, retain_graph=True)[0] for i in range(len(p))]
        )
        qt = D.generator_matrix(ex.velocity, path.n_states, 2, t)
        assert torch.allclose(qt.sum(1), torch.zeros(len(qt), dtype=torch.float64), atol=1e-12)
        assert torch.allclose(p.detach() @ qt, dp, atol=1e-10)


def test_conditional_velocity_generates_the_conditional_path():
    path = D.MixturePath(5, "mask", D.PolynomialKappa(3.0))
    x0, x1, t = torch.tensor([[5]]), torch.tensor([[2]]), 0.7
    k, dk = path.kappa(t)
    # p_t = (1 - k) delta_M + k delta_2, its derivative dk (delta_2 - delta_M)
    states = torch.arange(6)[:, None]
    u = path.conditional_velocity(states, x1.expand(6, 1), t)[:, 0]  # (S, S): row x, column y
    p_t = torch.zeros(6, dtype=torch.float64)
    p_t[5], p_t[2] = 1 - k, k
    want = torch.zeros(6, dtype=torch.float64)
    want[2], want[5] = dk, -dk
    assert torch.allclose(p_t @ u, want, atol=1e-12)
    assert x0.item() == path.mask


@pytest.mark.parametrize("source", ["mask", "uniform"])
def test_euler_jump_sampler_converges_at_first_order(source):
    path = D.MixturePath(4, source)
    ex = D.ExactPosterior(_target(), path)
    p0 = ex.marginal(0.0)
    errs = [total_variation(D.euler_law(ex.velocity, p0, n), _pad(ex.q, path)) for n in (8, 16, 32)]
    ratios = [errs[0] / errs[1], errs[1] / errs[2]]
    assert all(1.7 < r < 2.3 for r in ratios), (errs, ratios)


def test_one_masked_token_is_exact_for_any_step_count():
    q = torch.tensor([0.5, 0.2, 0.3], dtype=torch.float64)
    path = D.MixturePath(3, "mask")
    ex = D.ExactPosterior(q, path)
    for n in (1, 2, 5):
        law = D.euler_law(ex.velocity, ex.marginal(0.0), n)
        assert torch.allclose(law, _pad(q, path), atol=1e-12)


def test_euler_law_is_the_sampler_law():
    path = D.MixturePath(4, "uniform")
    ex = D.ExactPosterior(_target(), path)
    law = D.euler_law(ex.velocity, ex.marginal(0.0), 3)
    x = D.euler_jump_sample(ex.velocity, path.sample_source(40000, 2, 0), 3, seed=1)
    emp = fm.discrete_training.empirical_law(x, path.n_states)
    assert total_variation(emp, law) < 1.5 * fm.discrete_training.tv_noise_floor(law, 40000, 5)


def test_ctmc_simulation_matches_expm():
    q = _rates(s=5, seed=3)
    p0 = torch.tensor([1.0, 0, 0, 0, 0], dtype=torch.float64)
    want = p0 @ D.transition_matrix(q, 1.0)
    errs = [total_variation(D.euler_law(lambda x, t: q[x], p0, n), want) for n in (50, 100)]
    assert errs[1] < 0.01 and 1.7 < errs[0] / errs[1] < 2.3


def test_jump_probabilities_are_delta_plus_h_u():
    path = D.MixturePath(4, "mask")
    ex = D.ExactPosterior(_target(), path)
    x = D.all_states(5, 2)
    u = ex.velocity(x, 0.3)
    probs = D.jump_probabilities(x, u, 0.1)
    here = torch.nn.functional.one_hot(x, 5).double()
    assert torch.allclose(probs, here + 0.1 * u, atol=1e-12)
    assert torch.allclose(D.jump_probabilities(x, u, 100.0).sum(-1), torch.ones(25, 2).double())
    assert D.jump_probabilities(x, u, 100.0).min() >= 0


def test_mask_token_handling():
    path = D.MixturePath(4, "mask")
    ex = D.ExactPosterior(_target(), path)
    x = D.all_states(5, 2)
    u = ex.velocity(x, 0.5)
    assert (u[..., 4] <= 0).all(), "nothing jumps to the mask token"
    unmasked = x != 4
    assert torch.allclose(u[unmasked], torch.zeros_like(u[unmasked])), "data tokens stay"
    assert (u[~unmasked].sum(-1).abs() < 1e-12).all()
    with pytest.raises(ValueError, match="x_1"):
        path.conditional_velocity(x[:2], torch.tensor([[4, 0], [1, 2]]), 0.5)
    with pytest.raises(ValueError, match="t"):
        path.conditional_velocity(x[:2], torch.tensor([[3, 0], [1, 2]]), 1.0)
    with pytest.raises(ValueError, match="source"):
        D.MixturePath(4, "gaussian")
    with pytest.raises(ValueError, match="posterior"):
        path.posterior_velocity(torch.ones(2, 2, 5) / 5, x[:2], 0.5)


def test_grid_target_is_the_binned_density():
    gmm = fm.data.eight_gaussians_mixture()
    q = D.grid_target(gmm.log_prob, 8, 4.0)
    assert q.shape == (8, 8) and abs(float(q.sum()) - 1) < 1e-12
    c = torch.tensor([[-3.5, 0.5], [2.5, -1.5]], dtype=torch.float64)  # bins (0, 4) and (6, 2)
    ratio = torch.exp(gmm.log_prob(c[:1]) - gmm.log_prob(c[1:])).item()
    assert q[0, 4] / q[6, 2] == pytest.approx(ratio, rel=1e-9)
