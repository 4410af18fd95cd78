"""fmtutor.diagnostics: posterior averages, CFM-vs-FM gradients and where the CFM loss comes from."""

import numpy as np
import pytest
import torch

import fmtutor as fm
from fmtutor import diagnostics as D


def test_monte_carlo_posterior_average_matches_the_exact_mixture_field():
    gm = fm.data.eight_gaussians_mixture()
    x1 = gm.sample(40000, seed=0)
    pts = torch.tensor([[0.3, -0.2], [1.5, 1.0], [-2.0, 0.5]])
    for t in (0.3, 0.6):
        mc = D.marginal_velocity_mc(pts, t, x1)
        ex = fm.exact.marginal_velocity(pts, t, gm)
        assert ((mc - ex).norm(dim=1) / ex.norm(dim=1)).max() < 0.05
    # at t = 0 the posterior is the prior: u_0(x) = mean(X_1) - x
    assert torch.allclose(D.marginal_velocity_mc(pts, 0.0, x1), x1.mean(0) - pts, atol=1e-5)
    with pytest.raises(ValueError, match="t: expected one time in"):
        D.marginal_velocity_mc(pts, 1.0, x1)


def test_cfm_and_fm_gradients_agree_and_losses_differ_by_the_floor():
    data = fm.data.two_moons(200, seed=0)
    torch.manual_seed(0)
    model = fm.models.MLP(hidden=16, depth=2)
    r = D.compare_cfm_fm(model, data, n=20000, seed=0)
    assert r.cosine > 0.999 and r.rel_diff < 0.04
    assert abs(r.gap - r.floor) < 0.04
    assert abs(r.floor - fm.exact.cfm_loss_floor(data, data, n=10000, seed=1)) < 0.1
    assert r.grad_cfm.shape == (sum(p.numel() for p in model.parameters()),)
    # the difference is Monte-Carlo noise: it shrinks with n
    small = np.mean([D.compare_cfm_fm(model, data, n=1000, seed=s).rel_diff for s in range(3)])
    assert r.rel_diff < small / 1.5


def test_loss_by_time_splits_cfm_into_floor_plus_fm():
    data = fm.data.two_moons(300, seed=0)
    exact = fm.exact.MarginalField(data)
    out = D.loss_by_time(exact, data, ts=(0.2, 0.5, 0.8), n=300)
    assert np.allclose(out["fm"], 0, atol=1e-9) and np.allclose(out["cfm"], out["floor"])
    zero = D.loss_by_time(lambda x, t: torch.zeros_like(x), data, ts=(0.2, 0.5, 0.8), n=4000)
    assert np.allclose(
        zero["cfm"], zero["floor"] + zero["fm"], atol=0.12
    )  # the cross term's noise: |.| < 0.08 on 5 seeds
    assert (zero["fm"] > 0.1).all()


def test_loss_floor_matches_the_plain_estimate_with_less_noise():
    data = fm.data.two_moons(300, seed=0)
    floor, se = D.loss_floor(data, n=8000, seed=0)
    plain = fm.exact.cfm_loss_floor(data, data, n=20000, seed=1)
    assert 0 < se < 0.02 and abs(floor - plain) < 0.06
    # one data point: X_1 is known given X_t, so the target X_1 - X_0 has no variance
    one, se1 = D.loss_floor(data[:1], n=500)
    assert one < 1e-8 and se1 < 1e-8
    # two points far apart: the posterior is sure except at small t, where Var[X_1 | X_t] ~ Var[X_1] = 25
    two = torch.tensor([[-5.0, 0.0], [5.0, 0.0]])
    assert D.loss_floor(two, n=2000)[0] == pytest.approx(
        fm.exact.cfm_loss_floor(two, two, n=20000), rel=0.1
    )
