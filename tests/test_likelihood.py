"""fmtutor.likelihood against truths: traces, Hutchinson's moments, closed-form densities."""

import math

import pytest
import torch

import fmtutor as fm
from fmtutor import likelihood as L


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _curvy(x, t):
    return torch.stack(
        [
            torch.sin(x[:, 0]) * x[:, 1] + t * x[:, 0] ** 2,
            x[:, 0] ** 3 - 2 * torch.cos(x[:, 1]) + t,
        ],
        1,
    )


@pytest.mark.parametrize("d", [1, 2, 5])
def test_divergence_of_linear_field_is_trace(d):
    a = torch.randn(d, d, generator=_g(d), dtype=torch.float64)
    x = torch.randn(7, d, generator=_g(10 + d), dtype=torch.float64)
    div = L.divergence_exact(lambda x, t: x @ a.T + t, x, 0.4)
    assert torch.allclose(div, torch.trace(a).expand(7), atol=1e-12)
    assert torch.allclose(L.jacobian(lambda x, t: x @ a.T, x, 0.0), a.expand(7, d, d), atol=1e-12)
    # Hutchinson with every Rademacher sign pattern averages to the trace exactly (d <= 5: 2^d patterns)
    if d <= 5:
        pats = torch.cartesian_prod(*[torch.tensor([-1.0, 1.0], dtype=torch.float64)] * d).reshape(
            -1, d
        )
        z = pats[:, None, :].expand(-1, 7, d)
        est = L.divergence_hutchinson(lambda x, t: x @ a.T, x, 0.0, z=z)
        assert torch.allclose(est, torch.trace(a).expand(7), atol=1e-10)


def test_divergence_matches_finite_differences():
    x = torch.randn(5, 2, generator=_g(0), dtype=torch.float64)
    eps = 1e-6
    fd = sum(
        (
            _curvy(x + eps * torch.eye(2, dtype=torch.float64)[i], 0.3)[:, i]
            - _curvy(x - eps * torch.eye(2, dtype=torch.float64)[i], 0.3)[:, i]
        )
        / (2 * eps)
        for i in range(2)
    )
    assert torch.allclose(L.divergence_exact(_curvy, x, 0.3), fd, atol=1e-7)
    assert torch.allclose(
        L.divergence_exact(lambda x, t: torch.ones_like(x), x, 0.1),
        torch.zeros(5, dtype=torch.float64),
    )


@pytest.mark.parametrize("noise", ["rademacher", "gaussian"])
def test_hutchinson_mean_and_variance(noise):
    x = torch.randn(3, 2, generator=_g(1), dtype=torch.float64)
    field = fm.exact.MarginalField(fm.data.eight_gaussians_mixture())
    jac = L.jacobian(field, x, 0.7)
    # our vector-Jacobian estimator equals z^T J z averaged over the probes
    z = L._probes((16, *x.shape), noise, 5, x.dtype, x.device)
    assert torch.allclose(
        L.divergence_hutchinson(field, x, 0.7, z=z),
        torch.einsum("kbi,bij,kbj->b", z, jac, z) / 16,
        atol=1e-9,
    )
    # many probes: sample mean within 5 standard errors of the exact divergence, sample variance = formula
    k = 40000
    z = L._probes((k, *x.shape), noise, 6, x.dtype, x.device)
    per_probe = torch.einsum("kbi,bij,kbj->kb", z, jac, z)
    exact = L.divergence_exact(field, x, 0.7)
    var = L.hutchinson_variance(jac, noise)
    assert ((per_probe.mean(0) - exact).abs() < 5 * (var / k).sqrt() + 1e-12).all(), (
        "Hutchinson is unbiased"
    )
    assert torch.allclose(per_probe.var(0), var, rtol=0.1), "variance formula"


def test_hutchinson_variance_closed_forms():
    j = torch.tensor([[2.0, 1.0], [3.0, -1.0]], dtype=torch.float64)  # S = [[2, 2], [2, -1]]
    assert float(L.hutchinson_variance(j, "gaussian")) == pytest.approx(2 * (4 + 4 + 4 + 1))
    assert float(L.hutchinson_variance(j, "rademacher")) == pytest.approx(2 * (4 + 4))
    assert float(L.hutchinson_variance(torch.diag(torch.tensor([1.0, 5.0])), "rademacher")) == 0.0


def _gauss_field(m, s):
    """Closed-form CondOT marginal field for the target N(m, s^2 I): u = m + (sig'/sig) (x - t m)."""

    def u(x, t):
        t = torch.as_tensor(t, dtype=x.dtype)
        var = t**2 * s**2 + (1 - t) ** 2
        return m + (t * s**2 - (1 - t)) / var * (x - t * m)

    return u


def test_log_likelihood_gaussian_closed_form():
    m, s = torch.tensor([1.0, -2.0], dtype=torch.float64), 0.5
    x = m + s * torch.randn(64, 2, generator=_g(2), dtype=torch.float64)
    true = -((x - m) ** 2).sum(1) / (2 * s**2) - 2 * math.log(s) - math.log(2 * math.pi)
    got = L.log_likelihood(_gauss_field(m, s), x, n_steps=20, method="rk4")
    assert torch.allclose(got, true, atol=1e-6)
    # and the course's exact field for a one-component mixture agrees
    gm = fm.data.GaussianMixture(m[None], s)
    got2 = L.log_likelihood(fm.exact.MarginalField(gm), x, n_steps=20, method="rk4", details=True)
    assert torch.allclose(got2.log_p1, true, atol=1e-6)
    assert torch.allclose(got2.log_p1, got2.log_p0 + got2.delta)
    assert got2.nfe == 80
    # the backward solve lands on the noise that maps to x: x_0 = (x - m) / s for this affine flow
    assert torch.allclose(got2.x_0, (x - m) / s, atol=1e-6)


def test_log_likelihood_gaussian_mixture_matches_true_density():
    gm = fm.data.eight_gaussians_mixture()
    x = gm.sample(100, seed=3).double()
    got = L.log_likelihood(fm.exact.MarginalField(gm), x, n_steps=20, method="rk4")
    err = (got - gm.log_prob(x)).abs()
    assert err.mean() < 1e-3 and err.max() < 2e-2, (float(err.mean()), float(err.max()))
    # errors shrink with more steps (midpoint: second order)
    e4 = (L.log_likelihood(fm.exact.MarginalField(gm), x, n_steps=4) - gm.log_prob(x)).abs().mean()
    e16 = (
        (L.log_likelihood(fm.exact.MarginalField(gm), x, n_steps=16) - gm.log_prob(x)).abs().mean()
    )
    assert e16 < e4 / 4


def test_hutchinson_log_likelihood_is_unbiased():
    # 400 copies of 2 points in one batch: every copy gets its own Gaussian probe, so 200 estimates per point
    x = torch.randn(2, 2, generator=_g(4), dtype=torch.float64).repeat(200, 1)
    exact = L.log_likelihood(_curvy, x[:2], n_steps=4, method="rk4")
    est = L.log_likelihood(
        _curvy, x, n_steps=4, method="rk4", estimator="hutchinson", noise="gaussian", seed=1
    ).reshape(200, 2)
    se = est.std(0) / math.sqrt(200)
    assert ((est.mean(0) - exact).abs() < 5 * se).all()
    assert est.std(0).min() > 1e-3  # it is random


def test_log_prob_fn_chunks_and_density_integrates_to_one():
    gm = fm.data.GaussianMixture(torch.tensor([[0.0, 0.0], [1.5, 1.0]]), 0.6)
    fn = L.log_prob_fn(fm.exact.MarginalField(gm), chunk=500, n_steps=8, method="rk4")
    xs = torch.linspace(-4.0, 5.0, 45, dtype=torch.float64)
    gy, gx = torch.meshgrid(xs, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    lp = fn(pts)
    cell = (9.0 / 44) ** 2
    assert float(lp.exp().sum() * cell) == pytest.approx(1.0, abs=0.02)
    assert torch.allclose(lp, gm.log_prob(pts), atol=5e-3)


def test_validation():
    with pytest.raises(ValueError, match="estimator"):
        L.log_likelihood(_curvy, torch.zeros(2, 2), estimator="bogus")
    with pytest.raises(ValueError, match="noise"):
        L.divergence_hutchinson(_curvy, torch.zeros(2, 2), 0.1, noise="uniform")
    with pytest.raises(ValueError, match="z"):
        L.divergence_hutchinson(_curvy, torch.zeros(2, 2), 0.1, z=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="model"):
        L.divergence_exact(lambda x, t: x[:, :1], torch.zeros(2, 2), 0.1)
    with pytest.raises(ValueError, match="x"):
        L.log_likelihood(_curvy, torch.zeros(2))


def test_a_source_log_density_returning_a_column_gives_one_value_per_point():
    """log_p0 returning (B, 1) used to broadcast against (B,) into a (B, B) result."""
    x = torch.randn(5, 2, generator=_g(1), dtype=torch.float64)
    want = L.log_likelihood(lambda y, t: -y, x, n_steps=4)
    column = L.log_likelihood(
        lambda y, t: -y, x, n_steps=4, log_p0=lambda z: L.standard_normal_log_prob(z)[:, None]
    )
    assert column.shape == (5,) and torch.equal(column, want)
    with pytest.raises(ValueError, match=r"log_p0: expected log_p0\(x\) of shape \(5,\).*\(5, 2\)"):
        L.log_likelihood(lambda y, t: -y, x, n_steps=2, log_p0=lambda z: z)
    with pytest.raises(TypeError, match="log_p0: expected a source log-density"):
        L.log_likelihood(lambda y, t: -y, x, n_steps=2, log_p0="normal")
