"""fmtutor.sde: the VP-SDE and probability-flow ODE link, and the Euler-Maruyama sampler."""

import math

import pytest
import torch

import fmtutor as fm
from fmtutor import paths, sde
from fmtutor.data import eight_gaussians_mixture, make_generator
from fmtutor.exact import MarginalField, marginal_score, marginal_velocity

GM = eight_gaussians_mixture()

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pts(n=64, seed=0, scale=2.0):
    return scale * torch.randn(n, 2, generator=make_generator(seed), dtype=torch.float64)


@pytest.mark.parametrize("t", [0.05, 0.3, 0.6, 0.9, 0.99])
def test_vp_marginal_velocity_is_pf_ode_drift(t):
    x = _pts()
    u = marginal_velocity(x, t, GM, "vp")
    score = marginal_score(x, t, GM, "vp")
    drift_s = sde.pf_ode_drift(x, 1 - t, score)  # dx/ds in diffusion time
    assert torch.allclose(u, -drift_s, atol=1e-9, rtol=1e-9)
    beta = float(sde.vp_beta(1 - t))
    assert torch.allclose(u, 0.5 * beta * (x + score), atol=1e-9, rtol=1e-9)


def test_vp_sde_coefficients():
    x = _pts(5)
    f, g = sde.vp_sde_coefficients(x, 0.25)
    beta = 0.1 + 19.9 * 0.25
    assert torch.allclose(f, -0.5 * beta * x) and math.isclose(
        float(g), math.sqrt(beta), rel_tol=1e-6
    )
    with pytest.raises(TypeError, match="scheduler"):
        sde.vp_beta(0.5, "condot")
    with pytest.raises(ValueError, match="s:"):
        sde.vp_beta(1.5)


def test_vp_pf_ode_in_diffusion_time_matches_flow_matching_solve():
    """Integrating dx/ds = f - g^2 score / 2 from s = 1 down to 0 is the FM flow from t = 0 to 1."""
    x0 = torch.randn(60, 2, generator=make_generator(4), dtype=torch.float64)

    def drift_s(x, s):
        return sde.pf_ode_drift(x, s, marginal_score(x, 1 - s, GM, "vp"))

    back = fm.solvers.solve(drift_s, x0, "rk4", n_steps=50, t0=1.0, t1=0.0).x
    fwd = fm.solvers.solve(MarginalField(GM, "vp"), x0, "rk4", n_steps=50).x
    assert (back - fwd).abs().max() < 1e-9  # the same grid, mirrored: equal up to rounding


def test_euler_maruyama_without_noise_is_euler():
    field = MarginalField(GM)
    x0 = torch.randn(100, 2, generator=make_generator(0))
    a = sde.euler_maruyama(field, x0, 0.0, 20).x
    b = fm.solvers.solve(field, x0, "euler", n_steps=20).x
    assert torch.equal(a, b)


def test_euler_maruyama_reaches_target_and_needs_the_score():
    """With the exact field the SDE samples have the target's mean log-likelihood; without the score term they don't."""
    field = MarginalField(GM)
    x0 = torch.randn(600, 2, generator=make_generator(0), dtype=torch.float64)
    true_ll = float(GM.log_prob(GM.sample(4000, seed=3).double()).mean())
    x = sde.euler_maruyama(field, x0, 1.5, 60, seed=1).x
    assert abs(float(GM.log_prob(x).mean()) - true_ll) < 0.2
    floor = fm.metrics.noise_floor(GM.sample, 600, repeats=2)
    assert fm.metrics.wasserstein2(x, GM.sample(600, seed=5)) < floor + 0.1
    g0 = sde.euler_maruyama(
        field, x0[:50], lambda t: 0.0 * t, 20
    ).x  # a callable g = 0: the plain ODE
    assert torch.equal(g0, sde.euler_maruyama(field, x0[:50], 0.0, 20).x)

    def drift_only(x, t):  # forgetting the score correction: noise but no compensating drift
        g = 1.5 * (1 - t)
        return field(x, t) - 0.5 * g**2 * paths.convert(field(x, t), x, t, "velocity", "score")

    wrong = sde.euler_maruyama(drift_only, x0, 1.5, 60, seed=1).x
    assert float(GM.log_prob(wrong).mean()) < true_ll - 1.0


def test_sde_input_checks():
    field = MarginalField(GM)
    with pytest.raises(ValueError, match="diffusion"):
        sde.euler_maruyama(field, torch.zeros(3, 2), -1.0)
    with pytest.raises(ValueError, match="x_init"):
        sde.euler_maruyama(field, torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="score"):
        sde.pf_ode_drift(torch.zeros(3, 2), 0.5, torch.zeros(2, 2))


def test_a_diffusion_coefficient_per_point_scales_its_row_even_when_b_equals_d():
    """g_t of shape (B,) with B == d used to broadcast against the columns of x."""
    x = _pts(2, seed=3)
    field = MarginalField(GM)
    g = torch.tensor([0.5, 2.0], dtype=torch.float64)
    rows = torch.cat([sde.sde_drift(field, x[i : i + 1], 0.4, float(g[i])) for i in range(2)])
    for shaped in (g, g[:, None]):
        assert torch.allclose(sde.sde_drift(field, x, 0.4, shaped), rows, atol=1e-12)
    with pytest.raises(ValueError, match=r"g_t: expected a number, or one value per point.*\(3,\)"):
        sde.sde_drift(field, x, 0.4, torch.ones(3))


def test_vp_coefficients_take_one_time_per_point_and_refuse_other_shapes():
    x = _pts(3, seed=4)
    s = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    f, g = sde.vp_sde_coefficients(x, s)
    beta = 0.1 + 19.9 * s
    assert torch.allclose(f, -0.5 * beta[:, None] * x) and torch.allclose(g, beta.sqrt())
    f_col, g_col = sde.vp_sde_coefficients(x, s[:, None])
    assert torch.equal(f_col, f) and g_col.shape == (3, 1)
    with pytest.raises(ValueError, match=r"s: expected a number, or one value per point.*\(3,\)"):
        sde.vp_sde_coefficients(x[:1], s)  # x (1, 2), s (3,): used to return a (3, 2) drift
    with pytest.raises(ValueError, match="s: expected a number, or one value per point"):
        sde.pf_ode_drift(x[:2], s, torch.zeros(2, 2, dtype=torch.float64))
