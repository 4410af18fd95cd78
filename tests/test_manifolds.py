"""fmtutor.manifolds: exp/log of the sphere and the flat torus, geodesic paths, the loss, the sampler, W2."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from fmtutor import manifolds as M
from fmtutor.models import MLP

S2, T2 = M.Sphere(3), M.FlatTorus(2)


def _pairs(man, n=64, seed=0):
    return man.uniform(n, seed=seed, dtype=torch.float64), man.uniform(
        n, seed=seed + 1, dtype=torch.float64
    )


def test_sphere_exp_and_log_are_inverse_and_the_distance_is_arccos():
    x, y = _pairs(S2)
    u = S2.log(x, y)
    assert (u * x).sum(-1).abs().max() < 1e-12, "log_x(y) is tangent at x"
    assert torch.allclose(S2.exp(x, u), y, atol=1e-12)
    arccos = torch.arccos((x * y).sum(-1).clamp(-1, 1))
    assert torch.allclose(u.norm(dim=-1), arccos, atol=1e-10)
    assert torch.allclose(S2.dist(x, y), arccos, atol=1e-10)
    w = S2.proju(
        x, torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    )
    w = w * (2.5 / w.norm(dim=-1, keepdim=True))  # length 2.5 < pi: inside the injectivity radius
    assert torch.allclose(S2.log(x, S2.exp(x, w)), w, atol=1e-10)
    # a quarter great circle: from the north pole towards +x by pi/2 lands on (1, 0, 0)
    pole = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)
    east = torch.tensor([[math.pi / 2, 0.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(S2.exp(pole, east), torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64))
    assert torch.allclose(S2.exp(x, 0 * x), x) and S2.log(x, x).abs().max() < 1e-12


def test_sphere_projections():
    x, _ = _pairs(S2)
    v = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    p = S2.proju(x, v)
    assert (p * x).sum(-1).abs().max() < 1e-12 and torch.allclose(S2.proju(x, p), p)
    assert torch.allclose(S2.projx(3 * x), x)


@pytest.mark.parametrize("man", [S2, T2], ids=["sphere", "torus"])
def test_geodesic_path_ends_speed_and_velocity(man):
    x0, x1 = _pairs(man)
    d = man.dist(x0, x1)
    assert torch.allclose(man.geodesic(x0, x1, 0.0).x_t, x0, atol=1e-12)
    end = man.geodesic(x0, x1, 1.0).x_t
    assert man.dist(end, x1).max() < 1e-10, "x_1 reached at t = 1"
    for t in [0.1, 0.5, 0.9]:
        ps = man.geodesic(x0, x1, t)
        assert torch.allclose(ps.dx_t.norm(dim=-1), d, atol=1e-10), "constant speed d(x_0, x_1)"
        assert torch.allclose(man.dist(x0, ps.x_t), t * d, atol=1e-10), "a fraction t of the way"
        # the guide's conditional velocity: log_{x_t}(x_1) / (1 - t)
        assert torch.allclose(ps.dx_t, man.log(ps.x_t, x1) / (1 - t), atol=1e-9)
        # central finite difference of t -> x_t (in the chart: the log map at x_t)
        h = 1e-5
        fd = man.log(ps.x_t, man.geodesic(x0, x1, t + h).x_t) - man.log(
            ps.x_t, man.geodesic(x0, x1, t - h).x_t
        )
        assert torch.allclose(fd / (2 * h), ps.dx_t, atol=1e-6)


def test_sphere_geodesic_velocity_is_the_autograd_derivative_and_stays_on_the_sphere():
    x0, x1 = _pairs(S2, 16)
    t = torch.rand(16, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    path = lambda tt: S2.geodesic(x0, x1, tt).x_t  # noqa: E731
    _, jvp = torch.autograd.functional.jvp(path, (t,), (torch.ones_like(t),))
    ps = S2.geodesic(x0, x1, t)
    assert torch.allclose(jvp, ps.dx_t, atol=1e-10)
    assert ((ps.x_t.norm(dim=-1) - 1).abs().max()) < 1e-12
    assert (ps.dx_t * ps.x_t).sum(-1).abs().max() < 1e-12, "the velocity is tangent at x_t"


def test_torus_is_periodic_and_log_is_the_shortest_wrapped_difference():
    x, y = _pairs(T2)
    shift = 2 * math.pi * torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    assert torch.allclose(T2.log(x, y + shift), T2.log(x, y), atol=1e-12)
    assert torch.allclose(T2.exp(x, T2.log(x, y) + shift), y, atol=1e-12)
    u = T2.log(x, y)
    assert u.abs().max() <= math.pi, "each coordinate of the shortest difference is in [-pi, pi]"
    # brute force over the 9 nearest copies of y
    ks = torch.tensor([[a, b] for a in (-1, 0, 1) for b in (-1, 0, 1)], dtype=torch.float64)
    brute = (y[:, None] + 2 * math.pi * ks - x[:, None]).norm(dim=-1).min(1).values
    assert torch.allclose(T2.dist(x, y), brute, atol=1e-12)
    assert T2.exp(x, 10 * u).min() >= 0 and T2.exp(x, 10 * u).max() < 2 * math.pi
    z = torch.zeros(1, 2, dtype=torch.float64)
    assert torch.allclose(T2.embed(z), torch.tensor([[1.0, 1.0, 0.0, 0.0]], dtype=torch.float64))
    v = torch.tensor([[0.0, 0.0, 2.0, -3.0]], dtype=torch.float64)  # (v_c, v_s) at angle 0: v_s
    assert torch.allclose(T2.to_tangent(z, v), torch.tensor([[2.0, -3.0]], dtype=torch.float64))


def test_uniform_samples_have_the_uniform_moments():
    x = S2.uniform(20000, seed=0, dtype=torch.float64)
    assert (x.norm(dim=-1) - 1).abs().max() < 1e-12
    # uniform on S^2: E x = 0, E x x^T = I / 3, and z = cos(polar angle) is uniform on [-1, 1]
    assert x.mean(0).abs().max() < 0.02 and torch.allclose(
        x.T @ x / 20000, torch.eye(3, dtype=torch.float64) / 3, atol=0.01
    )
    a = T2.uniform(20000, seed=0, dtype=torch.float64)
    assert a.min() >= 0 and a.max() < 2 * math.pi and abs(float(a.mean()) - math.pi) < 0.03


def test_tangent_velocity_and_loss():
    torch.manual_seed(0)
    for man in (S2, T2):
        model = M.TangentVelocity(man, MLP(dim=man.embed_dim, hidden=16, depth=2)).double()
        x0, x1 = _pairs(man, 32)
        t = torch.rand(32, dtype=torch.float64)
        v = model(x0, t)
        assert v.shape == x0.shape
        if man is S2:
            assert (v * x0).sum(-1).abs().max() < 1e-6, "the output is tangent"
        ps = man.geodesic(x0, x1, t)
        want = ((man.proju(ps.x_t, model(ps.x_t, t)) - ps.dx_t) ** 2).sum(-1).mean()
        loss = M.riemannian_cfm_loss(model, man, x0, x1, t)
        assert torch.allclose(loss, want) and loss.requires_grad
    # a network whose output is not tangent: the loss sees only its tangent part
    raw = MLP(dim=3, hidden=16, depth=2).double()
    x0, x1 = _pairs(S2, 32)
    ps = S2.geodesic(x0, x1, t)
    want = ((S2.proju(ps.x_t, raw(ps.x_t, t)) - ps.dx_t) ** 2).sum(-1).mean()
    assert torch.allclose(M.riemannian_cfm_loss(raw, S2, x0, x1, t), want)
    # the conditional field itself has zero loss
    x0, x1 = _pairs(S2, 32)
    exact = lambda x, tt: S2.log(x, x1) / (1 - tt.reshape(-1, 1))  # noqa: E731
    t = 0.9 * torch.rand(32, dtype=torch.float64)
    assert M.riemannian_cfm_loss(exact, S2, x0, x1, t) < 1e-18
    with pytest.raises(ValueError, match="x_0"):
        S2.geodesic(2 * x0, x1, 0.5)
    with pytest.raises(TypeError, match="manifold"):
        M.TangentVelocity("sphere", MLP(3))


def _rotation(x, t):
    """The Killing field omega x x about the z axis (exact flow: a rotation by angle t)."""
    return torch.stack([-x[:, 1], x[:, 0], torch.zeros_like(x[:, 0])], 1)


def test_sampler_stays_on_the_sphere_and_converges_at_its_order():
    x0 = S2.uniform(50, seed=1, dtype=torch.float64)
    c, s = math.cos(1.0), math.sin(1.0)
    exact = x0 @ torch.tensor([[c, s, 0], [-s, c, 0], [0, 0, 1]], dtype=torch.float64)
    for method, order in (("euler", 1), ("midpoint", 2)):
        errs = []
        for n in (10, 20, 40):
            sol = M.solve_on_manifold(_rotation, S2, x0, n_steps=n, method=method)
            assert (sol.x.norm(dim=-1) - 1).abs().max() < 1e-12
            errs.append(float((sol.x - exact).norm(dim=-1).max()))
        rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
        assert np.all(np.abs(rates - order) < 0.2), (method, rates)
    # the conditional field: the exp-map Euler step follows the geodesic exactly
    x1 = S2.uniform(50, seed=2, dtype=torch.float64)
    field = lambda x, t: S2.log(x, x1) / (1 - t)  # noqa: E731
    sol = M.solve_on_manifold(field, S2, x0, n_steps=4, method="euler", return_trajectory=True)
    assert S2.dist(sol.x, x1).max() < 1e-10 and sol.trajectory.shape == (5, 50, 3) and sol.nfe == 4
    assert torch.allclose(sol.trajectory[2], S2.geodesic(x0, x1, 0.5).x_t, atol=1e-10)
    with pytest.raises(ValueError, match="method"):
        M.solve_on_manifold(field, S2, x0, method="rk4")


def test_torus_sampler_wraps():
    x0 = T2.uniform(20, seed=0, dtype=torch.float64)
    const = lambda x, t: torch.full_like(x, 7.0)  # noqa: E731
    sol = M.solve_on_manifold(const, T2, x0, n_steps=3, method="midpoint")
    assert sol.x.min() >= 0 and sol.x.max() < 2 * math.pi
    assert torch.allclose(sol.x, torch.remainder(x0 + 7.0, 2 * math.pi), atol=1e-12)


def test_geodesic_w2_is_the_assignment_with_great_circle_costs():
    a, b = _pairs(S2, 40)
    theta = torch.arccos((a @ b.T).clamp(-1, 1)).numpy()
    r, c = linear_sum_assignment(theta**2)
    assert M.geodesic_wasserstein2(S2, a, b) == pytest.approx(
        float(np.sqrt((theta[r, c] ** 2).mean()))
    )
    assert M.geodesic_wasserstein2(S2, a, a) < 1e-12
    # a rigid rotation by angle 0.3 about z moves points on the equator by 0.3: W2 <= 0.3
    eq = torch.stack(
        [torch.cos(torch.arange(40.0)), torch.sin(torch.arange(40.0)), torch.zeros(40)], 1
    )
    rot = eq @ torch.tensor(
        [[math.cos(0.3), math.sin(0.3), 0], [-math.sin(0.3), math.cos(0.3), 0], [0, 0, 1]]
    )
    assert M.geodesic_wasserstein2(S2, eq, rot) <= 0.3 + 1e-6
    x, y = _pairs(T2, 30)
    d = T2.dist(x[:, None], y[None]).numpy()
    r, c = linear_sum_assignment(d**2)
    assert M.geodesic_wasserstein2(T2, x, y) == pytest.approx(float(np.sqrt((d[r, c] ** 2).mean())))
    with pytest.raises(ValueError, match="a and b"):
        M.geodesic_wasserstein2(S2, a, b[:10])
