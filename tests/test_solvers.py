"""fmtutor.solvers: orders of convergence, scipy's reference, reversibility, NFE, errors."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from fmtutor import solvers
from fmtutor.solvers import solve


def field(x, t):
    """A non-autonomous, nonlinear test ODE: rotation + time-dependent contraction + sin drift."""
    return torch.stack(
        [-x[:, 1] + torch.sin(t) * x[:, 0], x[:, 0] - 0.5 * t * x[:, 1] + 0.3 * torch.cos(x[:, 0])],
        1,
    )


def exact_linear(x0, t):
    """dx/dt = (t) x in 1-D: x(t) = x0 exp(t^2 / 2)."""
    return x0 * math.exp(t * t / 2)


@pytest.mark.parametrize("method,order", [("euler", 1), ("midpoint", 2), ("heun", 2), ("rk4", 4)])
def test_empirical_order_of_convergence(method, order):
    x0 = torch.tensor([[1.0]], dtype=torch.float64)
    errs = []
    steps = [8, 16, 32, 64]
    for n in steps:
        x1 = solve(lambda x, t: t * x, x0, method=method, n_steps=n).x
        errs.append(abs(float(x1) - exact_linear(1.0, 1.0)))
    slope = -np.polyfit(np.log(steps), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.15, (method, slope)
    assert solvers.get_solver(method).order == order


@pytest.mark.parametrize("method", ["midpoint", "heun", "rk4"])
def test_agrees_with_scipy_reference(method):
    x0 = torch.tensor([[0.7, -0.4], [1.2, 0.9]], dtype=torch.float64)
    ref = [
        solve_ivp(
            lambda t, y: field(torch.tensor(y)[None], torch.tensor(t)).numpy()[0],
            (0, 1),
            y,
            rtol=1e-11,
            atol=1e-12,
        ).y[:, -1]
        for y in x0.numpy()
    ]
    got = solve(field, x0, method=method, n_steps=200).x.numpy()
    tol = {"midpoint": 1e-4, "heun": 1e-4, "rk4": 1e-9}[method]
    assert np.allclose(got, np.array(ref), atol=tol)


@pytest.mark.parametrize("method", ["euler", "midpoint", "heun", "rk4"])
def test_forward_then_backward_returns_the_start(method):
    x0 = torch.randn(20, 2, dtype=torch.float64)
    fwd = solve(field, x0, method=method, n_steps=400).x
    back = solve(field, fwd, method=method, n_steps=400, t0=1.0, t1=0.0).x
    tol = {"euler": 5e-2, "midpoint": 1e-4, "heun": 1e-4, "rk4": 1e-10}[method]
    assert torch.allclose(back, x0, atol=tol)


def test_trajectory_grid_and_nfe():
    x0 = torch.zeros(3, 2)
    sol = solve(
        lambda x, t: torch.ones_like(x),
        x0,
        method="midpoint",
        step_size=0.25,
        return_trajectory=True,
    )
    assert sol.nfe == 8 and sol.trajectory.shape == (5, 3, 2)
    assert torch.allclose(sol.times, torch.tensor([0, 0.25, 0.5, 0.75, 1.0]))
    assert torch.allclose(sol.trajectory[:, 0, 0], sol.times)  # x(t) = t for u = 1
    assert solve(lambda x, t: x, x0, method="rk4", n_steps=3).nfe == 12
    assert solve(lambda x, t: x, x0, method="euler", time_grid=[0.0, 0.1, 0.5, 1.0]).nfe == 3


def test_model_receives_the_grid_times():
    seen = []
    solve(
        lambda x, t: seen.append(float(t)) or torch.zeros_like(x),
        torch.zeros(1, 1),
        method="midpoint",
        n_steps=2,
    )
    assert seen == [0.0, 0.25, 0.5, 0.75]


def test_step_size_not_dividing_the_interval_still_ends_at_t1():
    sol = solve(lambda x, t: torch.ones_like(x), torch.zeros(1, 1), method="euler", step_size=0.3)
    assert float(sol.times[-1]) == 1.0 and abs(float(sol.x) - 1.0) < 1e-6


def test_errors_name_the_argument():
    x = torch.zeros(2, 2)
    f = lambda x, t: x
    with pytest.raises(ValueError, match="method: expected one of"):
        solve(f, x, method="rk45", n_steps=2)
    with pytest.raises(ValueError, match="give exactly one"):
        solve(f, x)
    with pytest.raises(ValueError, match="give exactly one"):
        solve(f, x, n_steps=3, step_size=0.1)
    with pytest.raises(ValueError, match="step_size: expected a positive number"):
        solve(f, x, step_size=-0.1)
    with pytest.raises(ValueError, match="n_steps: expected an integer >= 1"):
        solve(f, x, n_steps=0)
    with pytest.raises(
        ValueError, match="time_grid: expected strictly increasing or strictly decreasing"
    ):
        solve(f, x, time_grid=[0.0, 0.5, 0.4, 1.0])
    with pytest.raises(
        ValueError, match="model: expected model\\(x, t\\) to return a tensor of shape \\(2, 2\\)"
    ):
        solve(lambda x, t: x[:, :1], x, n_steps=2)
    with pytest.raises(TypeError, match="model: expected a callable"):
        solve("not a model", x, n_steps=2)


def test_times_outside_the_unit_interval_are_refused():
    x = torch.zeros(1, 1)
    with pytest.raises(
        ValueError, match="time_grid: expected times in .0, 1., got values from 0 to 1.5"
    ):
        solve(lambda y, t: y * 0 + 1, x, time_grid=[0.0, 0.5, 1.5])  # used to integrate past 1
    with pytest.raises(ValueError, match="t0, t1: expected times in .0, 1."):
        solve(lambda y, t: y, x, n_steps=2, t0=-0.5, t1=1.0)


def _warnings(model, x, method, **kw):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sol = solve(model, x, method, **kw)
    return sol, [w for w in caught if issubclass(w.category, solvers.SingularFieldWarning)]


@pytest.mark.usefixtures("one_torch_thread")
def test_methods_that_evaluate_a_singular_field_at_its_end_point_warn():
    """MarginalField of points is singular at t = 1; Heun and RK4 evaluate it there and go wrong.

    The exact flow's end points come from RK4 stopped at 1 - 1e-6 with 512 steps (0.05 from 2048
    steps'); 32 steps to t = 1: Heun's RMS error is about 25 and RK4's about 5.5, against 0.24 and
    0.06 when they stop at 1 - 1e-3, and Euler's and midpoint's errors are the same either way.
    """
    from fmtutor import data, exact

    field = exact.MarginalField(data.two_moons(200, seed=0).double())
    x0 = torch.randn(100, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = solve(field, x0, "rk4", n_steps=512, t1=1 - 1e-6).x

    def rms(x):
        return float(((x - ref) ** 2).sum(1).mean().sqrt())

    for method, to_one, short in (("heun", 10, 0.5), ("rk4", 2, 0.15)):
        sol, caught = _warnings(field, x0, method, n_steps=32)
        assert rms(sol.x) > to_one and len(caught) == 1, method
        assert f"{method!r} evaluates it there" in str(caught[0].message)
        sol, caught = _warnings(field, x0, method, n_steps=32, t1=1 - 1e-3)
        assert rms(sol.x) < short and caught == [], method
    for method in ("euler", "midpoint"):
        sol, caught = _warnings(field, x0, method, n_steps=32)
        assert rms(sol.x) < 0.2 and caught == [], method
    # backwards from t = 1, every method evaluates the field at its first point
    assert len(_warnings(field, x0[:3], "euler", n_steps=2, t0=1.0, t1=0.0)[1]) == 1
    # a smooth field (no singular_times) never warns
    assert _warnings(lambda x, t: -x, x0[:3], "rk4", n_steps=2)[1] == []
    assert field.singular_times == (1.0,)
    mixture = exact.MarginalField(data.eight_gaussians_mixture())
    assert mixture.singular_times == () and _warnings(mixture, x0[:3], "rk4", n_steps=2)[1] == []
