"""fmtutor.fields: the example fields against their closed-form flows and divergences."""

import math

import pytest
import torch

import fmtutor as fm
from fmtutor import fields as FL
from fmtutor.likelihood import divergence_exact

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _points(n=64, seed=0):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("name", list(FL.FIELDS))
def test_flow_solves_the_ode(name):
    """psi_0 = id and d/dt psi_t(x) = u_t(psi_t(x)) (central differences), for every example field."""
    f, x = FL.get_field(name), _points()
    assert torch.allclose(f.flow(x, 0.0), x, atol=1e-12)
    h = 1e-5
    for t in (0.2, 0.5, 0.9):
        dpsi = (f.flow(x, t + h) - f.flow(x, t - h)) / (2 * h)
        assert torch.allclose(dpsi, f(f.flow(x, t), t), atol=1e-6), name


@pytest.mark.parametrize("name", list(FL.FIELDS))
def test_flow_matches_rk4_and_divergence_matches_autograd(name):
    f, x = FL.get_field(name), _points(32, 1)
    sol = fm.solvers.solve(f, x, method="rk4", n_steps=100)
    assert torch.allclose(sol.x, f.flow(x, 1.0), atol=1e-7)
    for t in (0.0, 0.4, 1.0):
        assert torch.allclose(divergence_exact(f, x, t), f.divergence(x, t), atol=1e-10)


def test_divergence_signs_and_values():
    x = _points(10)
    assert torch.allclose(
        divergence_exact(FL.sink(1.5), x, 0.0), torch.full((10,), -3.0, dtype=torch.float64)
    )
    assert torch.allclose(
        divergence_exact(FL.source(0.5), x, 0.0), torch.full((10,), 1.0, dtype=torch.float64)
    )
    assert divergence_exact(FL.rotation(2.0), x, 0.0).abs().max() < 1e-12
    assert torch.allclose(
        FL.RotationToSink(3.0, 2.0).divergence(x, 0.25),
        torch.full((10,), -1.0, dtype=torch.float64),
    )
    # a nonlinear field: u = (x1^2, x1 x2) has divergence 2 x1 + x1 = 3 x1
    nonlinear = lambda p, t: torch.stack([p[:, 0] ** 2, p[:, 0] * p[:, 1]], 1)  # noqa: E731
    assert torch.allclose(divergence_exact(nonlinear, x, 0.0), 3 * x[:, 0])


def test_rotation_preserves_norms_and_is_perpendicular():
    f, x = FL.rotation(1.5), _points()
    assert (x * f(x, 0.0)).sum(1).abs().max() < 1e-12
    assert torch.allclose(f(x, 0.0).norm(dim=1), 1.5 * x.norm(dim=1))
    for t in (0.3, 1.0):
        assert torch.allclose(f.flow(x, t).norm(dim=1), x.norm(dim=1))
        num = fm.solvers.solve(f, x, method="rk4", n_steps=50, t1=t).x
        assert torch.allclose(num.norm(dim=1), x.norm(dim=1), atol=1e-8)
    # rotation by omega t: the angle of (1, 0) after t = 1 is 1.5
    p = f.flow(torch.tensor([[1.0, 0.0]], dtype=torch.float64), 1.0)[0]
    assert math.isclose(math.atan2(p[1], p[0]), 1.5, abs_tol=1e-12)


def test_sink_source_and_mover_closed_forms():
    x = _points()
    assert torch.allclose(FL.sink(2.0).flow(x, 0.5), math.exp(-1.0) * x)
    assert torch.allclose(FL.source(2.0).flow(x, 0.5), math.exp(1.0) * x)
    m = FL.MassMover(start=(-1.0, 0.0), end=(2.0, 1.0), rate=1.0)
    a = torch.tensor([[-1.0, 0.0]], dtype=torch.float64)
    for t in (0.0, 0.5, 1.0):  # the start point rides the centre c_t, which moves at velocity b - a
        assert torch.allclose(m.flow(a, t), m.centre(t).double())
        assert torch.allclose(
            m(m.centre(t).double(), t), torch.tensor([[3.0, 1.0]], dtype=torch.float64)
        )


def test_linear_field_flow_is_matrix_exponential():
    a = torch.tensor([[0.3, -1.0], [0.7, -0.2]], dtype=torch.float64)
    f, x = FL.LinearField(a), _points()
    assert torch.allclose(f.flow(x, 0.8), x @ torch.linalg.matrix_exp(0.8 * a).T)
    t = torch.rand(64, 1, dtype=torch.float64)  # one time per point
    assert torch.allclose(f.flow(x, t)[3], torch.linalg.matrix_exp(t[3, 0] * a) @ x[3])


def test_field_input_validation():
    f = FL.rotation()
    with pytest.raises(ValueError, match="x: expected"):
        f(torch.zeros(3, 3), 0.0)
    with pytest.raises(ValueError, match="t: expected"):
        f(torch.zeros(3, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="matrix"):
        FL.LinearField(torch.eye(3))
    with pytest.raises(ValueError, match="name"):
        FL.get_field("vortex")
