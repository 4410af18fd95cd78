"""fmtutor.diagnostics: measured orders, posterior averages, CFM-vs-FM gradients, loss split, quality vs NFE."""

import math

import numpy as np
import pytest
import torch

import fmtutor as F
from fmtutor import diagnostics as D


def test_orders_on_a_known_ode():
    # x' = x cos t, x(0) = x0  ->  x(1) = x0 exp(sin 1)
    x0 = torch.tensor([[1.0], [-0.5]], dtype=torch.float64)
    exact = x0 * math.exp(math.sin(1.0))
    study = D.convergence_study(
        lambda x, t: x * torch.cos(t),
        x0,
        exact=exact,
        methods=("euler", "heun", "midpoint", "rk4"),
        n_steps=(8, 16, 32, 64),
    )
    for m, p in (("euler", 1), ("heun", 2), ("midpoint", 2), ("rk4", 4)):
        assert abs(study.orders[m] - p) < 0.15, (m, study.orders[m])
    assert study.nfe["rk4"].tolist() == [32, 64, 128, 256]
    assert np.allclose(study.h, 1 / np.array([8, 16, 32, 64]))
    # errors shrink by about 2^p per halving
    assert 14 < study.errors["rk4"][0] / study.errors["rk4"][1] < 18


def test_reference_solution_when_exact_is_unknown():
    x0 = torch.tensor([[1.0]])
    study = D.convergence_study(lambda x, t: -x, x0, methods=("euler", "rk4"), n_steps=(4, 8, 16))
    assert abs(float(study.reference) - math.exp(-1)) < 1e-9
    assert abs(study.orders["euler"] - 1) < 0.15 and abs(study.orders["rk4"] - 4) < 0.2


def test_fit_order_and_its_validation():
    h = np.array([0.1, 0.05, 0.025])
    assert D.fit_order(h, 7 * h**3) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="positive finite"):
        D.fit_order(h, [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="same length"):
        D.fit_order(h, [1.0, 2.0])
    with pytest.raises(ValueError, match="methods"):
        D.convergence_study(lambda x, t: x, torch.ones(1, 1), methods=("leapfrog",))


def test_monte_carlo_posterior_average_matches_the_exact_mixture_field():
    gm = F.data.eight_gaussians_mixture()
    x1 = gm.sample(40000, seed=0)
    pts = torch.tensor([[0.3, -0.2], [1.5, 1.0], [-2.0, 0.5]])
    for t in (0.3, 0.6):
        mc = D.marginal_velocity_mc(pts, t, x1)
        ex = F.exact.marginal_velocity(pts, t, gm)
        assert ((mc - ex).norm(dim=1) / ex.norm(dim=1)).max() < 0.05
    # at t = 0 the posterior is the prior: u_0(x) = mean(X_1) - x
    assert torch.allclose(D.marginal_velocity_mc(pts, 0.0, x1), x1.mean(0) - pts, atol=1e-5)
    with pytest.raises(ValueError, match="t: expected one time in"):
        D.marginal_velocity_mc(pts, 1.0, x1)


def test_cfm_and_fm_gradients_agree_and_losses_differ_by_the_floor():
    data = F.data.two_moons(200, seed=0)
    torch.manual_seed(0)
    model = F.models.MLP(hidden=16, depth=2)
    r = D.compare_cfm_fm(model, data, n=20000, seed=0)
    assert r.cosine > 0.999 and r.rel_diff < 0.04
    assert abs(r.gap - r.floor) < 0.04
    assert abs(r.floor - F.exact.cfm_loss_floor(data, data, n=10000, seed=1)) < 0.1
    assert r.grad_cfm.shape == (sum(p.numel() for p in model.parameters()),)
    # the difference is Monte-Carlo noise: it shrinks with n
    small = np.mean([D.compare_cfm_fm(model, data, n=1000, seed=s).rel_diff for s in range(3)])
    assert r.rel_diff < small / 1.5


def test_loss_by_time_splits_cfm_into_floor_plus_fm():
    data = F.data.two_moons(300, seed=0)
    exact = F.exact.MarginalField(data)
    out = D.loss_by_time(exact, data, ts=(0.2, 0.5, 0.8), n=300)
    assert np.allclose(out["fm"], 0, atol=1e-9) and np.allclose(out["cfm"], out["floor"])
    zero = D.loss_by_time(lambda x, t: torch.zeros_like(x), data, ts=(0.2, 0.5, 0.8), n=4000)
    assert np.allclose(
        zero["cfm"], zero["floor"] + zero["fm"], atol=0.12
    )  # the cross term's noise: |.| < 0.08 on 5 seeds
    assert (zero["fm"] > 0.1).all()


def test_quality_vs_nfe_with_a_field_every_solver_integrates_exactly():
    shift = torch.tensor([2.0, -1.0])
    ref = F.data.two_moons(200, seed=1)
    st = D.quality_vs_nfe(lambda x, t: shift.expand_as(x), ref, nfe=(2, 4), seed=3)
    x0 = torch.randn(ref.shape, generator=F.data.make_generator(3))
    want = F.metrics.wasserstein2(x0 + shift, ref)
    assert np.allclose(st.w2["euler"], want) and np.allclose(st.w2["midpoint"], want)
    assert np.isnan(st.w2["rk4"][0]) and st.w2["rk4"][1] == pytest.approx(want)
    assert torch.allclose(st.samples[("rk4", 4)], x0 + shift, atol=1e-6)


def test_loss_floor_matches_the_plain_estimate_with_less_noise():
    data = F.data.two_moons(300, seed=0)
    floor, se = D.loss_floor(data, n=8000, seed=0)
    plain = F.exact.cfm_loss_floor(data, data, n=20000, seed=1)
    assert 0 < se < 0.02 and abs(floor - plain) < 0.06
    # one data point: X_1 is known given X_t, so the target X_1 - X_0 has no variance
    one, se1 = D.loss_floor(data[:1], n=500)
    assert one < 1e-8 and se1 < 1e-8
    # two points far apart: the posterior is sure except at small t, where Var[X_1 | X_t] ~ Var[X_1] = 25
    two = torch.tensor([[-5.0, 0.0], [5.0, 0.0]])
    assert D.loss_floor(two, n=2000)[0] == pytest.approx(
        F.exact.cfm_loss_floor(two, two, n=20000), rel=0.1
    )
