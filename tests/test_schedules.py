"""fmtutor.schedules: log-SNR, autograd derivatives and the change of scheduler, against closed forms."""

import math

import pytest
import torch

import fmtutor as fm
from fmtutor import paths, schedules
from fmtutor.data import eight_gaussians_mixture, make_generator
from fmtutor.exact import MarginalField

SCHEDS = [
    paths.CondOTScheduler(),
    paths.CosineScheduler(),
    paths.PolynomialScheduler(2.0),
    paths.VPScheduler(),
    paths.VPScheduler(0.5, 10.0),
]
GM = eight_gaussians_mixture()

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("sched", SCHEDS, ids=repr)
def test_derivatives_match_autograd(sched):
    t = torch.linspace(0.01, 0.99, 41, dtype=torch.float64)
    da, ds = schedules.derivatives_autograd(t, sched)
    out = sched(t)
    assert torch.allclose(da, out.d_alpha_t, atol=1e-10, rtol=1e-10)
    assert torch.allclose(ds, out.d_sigma_t, atol=1e-10, rtol=1e-10)


def test_log_snr_values_and_monotone():
    t = torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)
    assert torch.allclose(schedules.log_snr(t, "condot"), 2 * torch.log(t / (1 - t)))
    assert torch.allclose(schedules.log_snr(t, "cosine"), 2 * torch.log(torch.tan(math.pi * t / 2)))
    grid = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    for s in SCHEDS:
        assert (schedules.log_snr(grid, s).diff() > 0).all(), s


def test_snr_time_map_cosine_to_condot_closed_form():
    r = torch.linspace(0, 1, 21, dtype=torch.float64)
    t_r, s_r = schedules.snr_time_map(r, "cosine", "condot")
    a = math.pi * r / 2
    assert torch.allclose(t_r, torch.sin(a) / (torch.sin(a) + torch.cos(a)), atol=1e-12)
    assert torch.allclose(s_r, torch.sin(a) + torch.cos(a), atol=1e-9)


def test_scheduler_change_maps_exact_flows():
    """The cosine flow at r equals s_r times the CondOT flow at t_r; both end at the same x_1."""
    x0 = torch.randn(100, 2, generator=make_generator(3), dtype=torch.float64)
    r = torch.linspace(0, 1, 41, dtype=torch.float64)
    t_r, s_r = schedules.snr_time_map(r, "cosine", "condot")
    cos = fm.solvers.solve(
        MarginalField(GM, "cosine"), x0, "rk4", time_grid=r, return_trajectory=True
    )
    ot = fm.solvers.solve(
        MarginalField(GM, "condot"), x0, "rk4", time_grid=t_r, return_trajectory=True
    )
    mapped = s_r[:, None, None] * ot.trajectory
    assert (cos.trajectory - mapped).abs().max() < 2e-3
    assert (cos.x - ot.x).abs().max() < 2e-3
