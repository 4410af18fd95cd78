"""fmtutor.convergence: measured orders of the solvers and sample quality per function evaluation."""

import math

import numpy as np
import pytest
import torch

import fmtutor as fm
from fmtutor import convergence as CV


def test_orders_on_a_known_ode():
    # x' = x cos t, x(0) = x0  ->  x(1) = x0 exp(sin 1)
    x0 = torch.tensor([[1.0], [-0.5]], dtype=torch.float64)
    exact = x0 * math.exp(math.sin(1.0))
    study = CV.convergence_study(
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
    study = CV.convergence_study(lambda x, t: -x, x0, methods=("euler", "rk4"), n_steps=(4, 8, 16))
    assert abs(float(study.reference) - math.exp(-1)) < 1e-9
    assert abs(study.orders["euler"] - 1) < 0.15 and abs(study.orders["rk4"] - 4) < 0.2


def test_fit_order_and_its_validation():
    h = np.array([0.1, 0.05, 0.025])
    assert CV.fit_order(h, 7 * h**3) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="positive finite"):
        CV.fit_order(h, [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="same length"):
        CV.fit_order(h, [1.0, 2.0])
    with pytest.raises(ValueError, match="methods"):
        CV.convergence_study(lambda x, t: x, torch.ones(1, 1), methods=("leapfrog",))


def test_quality_vs_nfe_with_a_field_every_solver_integrates_exactly():
    shift = torch.tensor([2.0, -1.0])
    ref = fm.data.two_moons(200, seed=1)
    st = CV.quality_vs_nfe(lambda x, t: shift.expand_as(x), ref, nfe=(2, 4), seed=3)
    x0 = torch.randn(ref.shape, generator=fm.data.make_generator(3))
    want = fm.metrics.wasserstein2(x0 + shift, ref)
    assert np.allclose(st.w2["euler"], want) and np.allclose(st.w2["midpoint"], want)
    assert np.isnan(st.w2["rk4"][0]) and st.w2["rk4"][1] == pytest.approx(want)
    assert torch.allclose(st.samples[("rk4", 4)], x0 + shift, atol=1e-6)


def test_as_float64_copies_a_network_in_float64_and_passes_functions_through():
    torch.manual_seed(0)
    net = fm.models.MLP(hidden=8, depth=1).train()
    copy = CV.as_float64(net)
    assert copy is not net and not copy.training and next(copy.parameters()).dtype == torch.float64
    assert (
        next(net.parameters()).dtype == torch.float32 and net.training
    )  # the original is untouched
    x = torch.randn(5, 2)
    assert torch.allclose(copy(x.double(), 0.3), net(x, 0.3).double(), atol=1e-6)

    def field(x, t):
        return -x

    assert CV.as_float64(field) is field
